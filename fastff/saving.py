"""Save and load models: one self-checking file, no pickle, atomic writes.

File layout (all integers little-endian)::

    offset 0   magic      12 bytes  b"\\x89FASTFF\\r\\n\\x1a\\n\\0"  (binary-safe, like PNG's)
    offset 12  version    uint32    FORMAT_VERSION
    offset 16  header_len uint64    bytes of the JSON header
    offset 24  data_len   uint64    bytes of the array data block
    offset 32  header     UTF-8 JSON (model config, compile config, array manifests)
               padding    zeros up to a multiple of 64
               data       raw little-endian arrays, each at a 64-byte aligned offset
    end - 32   sha256     of every byte before it

Loading checks the magic, the version, that the sizes add up to the file size and the
checksum *before* parsing anything; then validates the JSON schema and every manifest
entry (dtype from an allow-list, shape, offset and size inside the data block, no
overlaps). Only registered class names (plus ``custom_objects``) are resolved, so
nothing in a file is ever imported or executed. Every problem raises ``FormatError``
(a ``ValueError``) that says what is wrong.

Writes go to a temporary file in the target's directory, are flushed and fsynced and
then renamed over the target (and the directory fsynced), so an interrupted save
leaves the previous file intact. On Linux the temporary file is an unnamed ``O_TMPFILE``,
linked in only once complete, so a writer killed mid-save leaves nothing; elsewhere it is
named ``.{name}.{pid}.{random}.tmp`` and the next save next to it removes those of writers
no longer running.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from fastff import _auto_config, _registry, distribution
from fastff._registry import get_registered_object

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "FormatError",
    "register_serializable",
    "register_keras_serializable",
    "get_registered_object",
    "get_registered_objects",
    "load_model",
    "load_weights",
    "model_class",
    "read_file",
    "register_model_class",
    "save_model",
    "save_weights",
    "write_file",
]

MAGIC = b"\x89FASTFF\r\n\x1a\n\x00"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<12sIQQ")  # magic, version, header_len, data_len
_DIGEST_SIZE = 32
_ALIGN = 64
_MAX_HEADER = 64 << 20  # a model config is kilobytes; 64 MiB is absurd already
_MAX_NDIM = 32
#: model class name -> class, filled by ``register_model_class``
_MODEL_CLASSES: dict[str, type] = {}
#: the module that registers each built-in model class
_BUILTIN_MODEL_MODULES = {"Sequential": "fastff.models", "Model": "fastff.functional"}
_MAX_ENTRIES = 1 << 20
# dtypes a file may declare; anything else (objects, strings, structured) is refused
_DTYPES = {
    "<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "|b1",
}
_SECTIONS = ("weights", "optimizer")


class FormatError(ValueError):
    """A file is not a valid fastff file (wrong magic, version, truncated, corrupt, hostile)."""


# --------------------------------------------------------------------------- container


def _align(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _le(array: np.ndarray) -> np.ndarray:
    """C-contiguous little-endian array, copy-free when it already is one (0-d stays 0-d)."""
    a = np.asarray(array)
    if a.dtype.hasobject or a.dtype.kind not in "fiub":
        raise TypeError(f"cannot save an array of dtype {a.dtype}")
    return np.asarray(a, dtype=a.dtype.newbyteorder("<"), order="C")


def _build_layout(
    arrays: Mapping[str, Iterable[tuple[str, np.ndarray]]],
) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[int, np.ndarray]], int]:
    manifests: dict[str, list[dict[str, Any]]] = {}
    blobs: list[tuple[int, np.ndarray]] = []
    offset = 0
    for section, items in arrays.items():
        entries = []
        for name, array in items:
            a = _le(array)
            entries.append({
                "name": str(name), "dtype": a.dtype.str, "shape": list(a.shape),
                "offset": offset, "nbytes": int(a.nbytes),
            })
            blobs.append((offset, a))
            offset = _align(offset + a.nbytes)
        manifests[section] = entries
    return manifests, blobs, offset


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_name(directory: str, base: str) -> str:
    """A temporary name next to the target, carrying the writer's pid (see
    ``_remove_stale_temps``)."""
    return os.path.join(directory, f".{base}.{os.getpid()}.{os.urandom(6).hex()}.tmp")


_LINKABLE_TMPFILE: dict[int, bool] = {}  # st_dev -> can an O_TMPFILE be linked in there


def _tmpfile_linkable(directory: str) -> bool:
    """Whether ``directory``'s filesystem supports O_TMPFILE and linking it in through
    /proc/self/fd (overlay filesystems refuse with EXDEV); probed once per device."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not os.path.isdir("/proc/self/fd"):
        return False
    try:
        dev = os.stat(directory).st_dev
    except OSError:
        return False
    if dev not in _LINKABLE_TMPFILE:
        ok = False
        try:
            fd = os.open(directory, flag | os.O_WRONLY, 0o600)
        except OSError:
            fd = -1
        if fd >= 0:
            probe = _temp_name(directory, "probe")
            try:
                os.link(f"/proc/self/fd/{fd}", probe, follow_symlinks=True)
                os.unlink(probe)
                ok = True
            except OSError:
                pass
            finally:
                os.close(fd)
        _LINKABLE_TMPFILE[dev] = ok
    return _LINKABLE_TMPFILE[dev]


def _open_temp(directory: str, base: str, mode: int) -> tuple[int, str | None]:
    """An fd to write the new file to, and its temporary name (None: an unnamed O_TMPFILE,
    Linux, which a killed writer cannot leave behind; it is linked in once complete)."""
    if _tmpfile_linkable(directory):
        try:
            return os.open(directory, os.O_TMPFILE | os.O_WRONLY, mode), None
        except OSError:
            pass
    name = _temp_name(directory, base)
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or unknown: keep its file
    return True


def _remove_stale_temps(directory: str, base: str) -> None:
    """Delete the temporary files of earlier writers of ``base`` that died mid-save (named
    ``.{base}.{pid}.{random}.tmp``, their pid no longer running)."""
    prefix = f".{base}."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        parts = name[len(prefix):-len(".tmp")].split(".")
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        pid = int(parts[0])
        if pid != os.getpid() and not _pid_alive(pid):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


def write_file(
    path: str | os.PathLike[str],
    header: Mapping[str, Any],
    arrays: Mapping[str, Iterable[tuple[str, np.ndarray]]],
) -> None:
    """Atomically write ``header`` (JSON-able) and named ``arrays`` per section to ``path``.

    The header gets an ``"arrays"`` key with the manifest of each section.
    """
    path = os.fspath(path)
    manifests, blobs, data_len = _build_layout(arrays)
    doc = dict(header)
    doc["arrays"] = manifests
    head = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(head) > _MAX_HEADER:
        raise ValueError(f"model header of {len(head)} bytes exceeds {_MAX_HEADER}")
    pad = _align(_PREAMBLE.size + len(head)) - _PREAMBLE.size - len(head)

    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o644
    _remove_stale_temps(directory, os.path.basename(path))
    fd, tmp = _open_temp(directory, os.path.basename(path), mode)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            digest = hashlib.sha256()

            def put(chunk: bytes | memoryview) -> None:
                digest.update(chunk)
                f.write(chunk)

            put(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(head), data_len))
            put(head)
            put(b"\0" * pad)
            written = 0
            for offset, a in blobs:
                if offset > written:
                    put(b"\0" * (offset - written))
                put(memoryview(a.reshape(-1).view(np.uint8)))
                written = offset + a.nbytes
            if data_len > written:
                put(b"\0" * (data_len - written))
            f.write(digest.digest())
            f.flush()
            os.fsync(f.fileno())
            if tmp is None:  # an unnamed O_TMPFILE: give it a name only now, complete
                tmp = _temp_name(directory, os.path.basename(path))
                os.link(f"/proc/self/fd/{f.fileno()}", tmp, follow_symlinks=True)
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    _fsync_dir(directory)


def _describe_foreign(head: bytes) -> str:
    if head[:1] == b"\x80" or head[:2] in (b"(d", b"(l", b"}q", b"]q"):
        return " (it looks like a Python pickle, which fastff never loads)"
    if head[:6] == b"\x93NUMPY":
        return " (it looks like a NumPy .npy file)"
    if head[:4] == b"PK\x03\x04":
        return " (it looks like a zip archive, e.g. .npz or .keras)"
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return " (it looks like an HDF5 file, e.g. Keras .h5)"
    return ""


def _parse_preamble(path: str, buf: bytes) -> tuple[int, int]:
    if len(buf) < _PREAMBLE.size or buf[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(buf[: len(MAGIC)]) and len(buf) < _PREAMBLE.size + _DIGEST_SIZE:
            raise FormatError(f"{path}: truncated fastff file ({len(buf)} bytes)")
        raise FormatError(f"{path}: not a fastff file (bad magic bytes)"
                          + _describe_foreign(buf[:16]))
    _, version, header_len, data_len = _PREAMBLE.unpack_from(buf)
    if version != FORMAT_VERSION:
        newer = ""
        if version > FORMAT_VERSION:
            newer = " (written by a newer fastff; upgrade to read it)"
        raise FormatError(f"{path}: unsupported fastff format version {version}; this fastff "
                          f"reads version {FORMAT_VERSION}{newer}")
    if header_len > _MAX_HEADER:
        raise FormatError(f"{path}: header length {header_len} exceeds the {_MAX_HEADER} limit")
    data_start = _align(_PREAMBLE.size + header_len)
    expected = data_start + data_len + _DIGEST_SIZE
    if len(buf) != expected:
        what = "truncated" if len(buf) < expected else "has trailing bytes"
        raise FormatError(f"{path}: file {what}: {len(buf)} bytes, the header says {expected}")
    digest = hashlib.sha256(memoryview(buf)[: len(buf) - _DIGEST_SIZE]).digest()
    if digest != buf[-_DIGEST_SIZE:]:
        raise FormatError(f"{path}: checksum mismatch: the file is corrupt or was modified")
    return header_len, data_start


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _check_entry(path: str, section: str, i: int, e: Any, data_len: int) -> dict[str, Any]:
    where = f"{path}: arrays.{section}[{i}]"
    if not isinstance(e, dict):
        raise FormatError(f"{where}: expected an object")
    name, dtype, shape = e.get("name"), e.get("dtype"), e.get("shape")
    offset, nbytes = e.get("offset"), e.get("nbytes")
    if not isinstance(name, str):
        raise FormatError(f"{where}: 'name' must be a string")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise FormatError(f"{where}: dtype {dtype!r} is not allowed")
    if (not isinstance(shape, list) or len(shape) > _MAX_NDIM
            or not all(type(d) is int and 0 <= d for d in shape)):
        raise FormatError(f"{where}: bad shape {shape!r}")
    for key, v in (("offset", offset), ("nbytes", nbytes)):
        if type(v) is not int or v < 0:
            raise FormatError(f"{where}: {key!r} must be a non-negative integer")
    count = 1
    for d in shape:
        count *= d
    if count * np.dtype(dtype).itemsize != nbytes:
        raise FormatError(f"{where}: shape {shape} of {dtype} does not match {nbytes} bytes")
    if offset + nbytes > data_len:
        raise FormatError(f"{where}: bytes {offset}..{offset + nbytes} lie outside the "
                          f"{data_len}-byte data block")
    return {"name": name, "dtype": dtype, "shape": tuple(shape), "offset": offset,
            "nbytes": nbytes}


def read_file(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, list[tuple[str, np.ndarray]]]]:
    """Read and verify a fastff file; return ``(header, {section: [(name, array)]})``.

    Raises ``FormatError`` for anything that is not an intact fastff file of a
    supported version. Arrays are fresh, writable, native-endian copies.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        buf = f.read()
    header_len, data_start = _parse_preamble(path, buf)
    raw = buf[_PREAMBLE.size: _PREAMBLE.size + header_len]
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(f"{path}: the header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise FormatError(f"{path}: the header must be a JSON object")
    manifests = header.get("arrays")
    if not isinstance(manifests, dict) or not set(manifests) <= set(_SECTIONS):
        raise FormatError(f"{path}: the header's 'arrays' must map {_SECTIONS} to lists")
    data_len = len(buf) - data_start - _DIGEST_SIZE
    data = memoryview(buf)[data_start: data_start + data_len]
    out: dict[str, list[tuple[str, np.ndarray]]] = {}
    spans: list[tuple[int, int]] = []
    for section, entries in manifests.items():
        if not isinstance(entries, list) or len(entries) > _MAX_ENTRIES:
            raise FormatError(f"{path}: arrays.{section} must be a list")
        items = []
        for i, e in enumerate(entries):
            e = _check_entry(path, section, i, e, data_len)
            if e["nbytes"]:
                spans.append((e["offset"], e["offset"] + e["nbytes"]))
            dt = np.dtype(e["dtype"])
            a = np.frombuffer(data, dtype=dt, count=e["nbytes"] // dt.itemsize,
                              offset=e["offset"])
            items.append((e["name"], a.astype(dt.newbyteorder("="), copy=True).reshape(e["shape"])))
        out[section] = items
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:]):
        if start < end:
            raise FormatError(f"{path}: arrays overlap in the data block")
    return header, out


# --------------------------------------------------------------------------- model glue


def _compile_config(model: Any) -> dict[str, Any] | None:
    """The model's compile config (None before ``compile``)."""
    if getattr(model, "optimizer", None) is None:
        return None
    return model.get_compile_config()


def _weight_items(model: Any) -> list[tuple[str, np.ndarray]]:
    from fastff.layers.base import to_host  # device weights are written from a host copy

    own = getattr(model, "_weight_items", None)
    if own is not None and getattr(model, "_auto_track", False):  # a subclassed model
        return own()
    items: list[tuple[str, np.ndarray]] = []
    for layer in model.layers:
        for p in getattr(layer, "params", []):
            items.append((f"{layer.name}/{p.name}", to_host(p.value)))
    if not items:
        items = [(f"weight_{i}", w) for i, w in enumerate(model.get_weights())]
    return items


def _optimizer_items(model: Any) -> tuple[list[tuple[str, np.ndarray]], dict[str, Any]]:
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "get_state"):
        return [], {}
    state = opt.get_state() or {}
    arrays: list[tuple[str, np.ndarray]] = []
    scalars: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays.append((str(key), value))
        elif isinstance(value, np.generic):
            scalars[str(key)] = value.item()
        else:
            scalars[str(key)] = value
    return arrays, scalars


def _model_header(model: Any, kind: str) -> dict[str, Any]:
    from fastff import __version__

    header: dict[str, Any] = {
        "format": "fastff",
        "fastff_version": __version__,
        "kind": kind,
        "model": {"class_name": type(model).__name__, "config": model.get_config()},
    }
    build = getattr(model, "get_build_config", None)
    build_config = build() if build is not None else None
    if build_config is not None:  # a subclassed model: the input shape its weights need
        header["model"]["build_config"] = build_config
    if kind == "model":
        header["compile"] = _compile_config(model)
        header["training_state"] = model.get_training_state()
    return header


def _check_json(value: Any, where: str) -> None:
    """Refuse a config holding something JSON cannot store (a Lambda's function, a user
    object), naming where it is, instead of json's bare TypeError."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_json(v, f"{where}.{k}")
        return
    what = f"the Python function {getattr(value, '__qualname__', value)!r}" if callable(value) \
        else f"a {type(value).__name__} object"
    raise ValueError(f"cannot save: {where} is {what}, which the file format cannot store. "
                     "Lambda layers and other Python callables cannot be saved: write a Layer "
                     "subclass with get_config() (registered with "
                     "fastff.saving.register_keras_serializable), or use save_weights")


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Decorator (Keras's name): make a custom class or function (model, layer, loss, metric,
    activation...) resolvable by ``load_model`` and the deserializers without
    ``custom_objects``, by name and by ``"package>name"`` (one registry: ``fastff._registry``)."""
    return _registry.register_serializable(package, name)


register_serializable = register_keras_serializable


def get_registered_objects() -> dict[str, Any]:
    """The classes and functions registered with ``register_keras_serializable`` (a copy)."""
    return _registry.registered_objects()


def _with_registered(custom_objects: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    registered = _registry.registered_objects()
    if not registered:
        return custom_objects
    return {**registered, **(custom_objects or {})}


def save_model(model: Any, path: str | os.PathLike[str]) -> None:
    """Save architecture, weights, compile config and optimizer state to one file.

    Under a data-parallel distribution only rank 0 writes (the ranks hold the same model)."""
    if not distribution.is_chief():
        return
    arrays: dict[str, list[tuple[str, np.ndarray]]] = {"weights": _weight_items(model)}
    header = _model_header(model, "model")
    _check_json(header["model"]["config"], "the model config")
    opt_arrays, opt_scalars = _optimizer_items(model)
    if header.get("compile") is not None:
        arrays["optimizer"] = opt_arrays
        header["optimizer_scalars"] = opt_scalars
    write_file(path, header, arrays)


def save_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Save only the weights (with the config, for information) to one file (rank 0 only
    under a distribution)."""
    if not distribution.is_chief():
        return
    with _auto_config.lenient():  # a user layer's unsaveable argument: kept by its name
        header = _model_header(model, "weights")
    header["model"]["config"] = _jsonable(header["model"]["config"])  # for information only
    write_file(path, header, {"weights": _weight_items(model)})


def _jsonable(value: Any) -> Any:
    """``value`` with what JSON cannot store (a Lambda's function) replaced by its name."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return f"<{type(value).__name__} {getattr(value, '__qualname__', '')}>".replace(" >", ">")


def _assign_weights(path: str, model: Any, items: list[tuple[str, np.ndarray]]) -> None:
    current = model.get_weights()
    if not current and not items:  # e.g. a model saved before it was built
        return
    if len(current) != len(items):
        raise FormatError(f"{path}: the file holds {len(items)} weight arrays, the model "
                          f"has {len(current)}")
    values = []
    for (name, a), w in zip(items, current):
        if a.shape != w.shape:
            raise FormatError(f"{path}: weight {name!r} has shape {a.shape}, the model "
                              f"expects {w.shape}")
        values.append(a.astype(w.dtype, copy=False))
    model.set_weights(values)


def _predicted_weight_shapes(layers: list[Any], input_shape: tuple[int, ...]
                             ) -> list[tuple[int, ...]] | None:
    """The weight shapes a Sequential of ``layers`` (unbuilt) gets for ``input_shape``,
    found without building or allocating anything; None when a layer's weights are not
    known here (a user class), so the caller cannot predict them."""
    from fastff.layers.activation import Activation
    from fastff.layers.bucketize import Bucketize
    from fastff.layers.dense import Dense
    from fastff.layers.dropout import Dropout
    from fastff.layers.embedding import Embedding, WindowEmbedding
    from fastff.layers.embedding_bag import EmbeddingBag
    from fastff.layers.flatten import Flatten

    shapes: list[tuple[int, ...]] = []
    shape = tuple(input_shape)
    for layer in layers:
        kind = type(layer)
        if kind is Dense:
            if len(shape) != 1:
                return None  # the build refuses it with its own message
            shapes.append((shape[0], layer.units))
            if layer.use_bias:
                shapes.append((layer.units,))
        elif kind in (Embedding, WindowEmbedding, EmbeddingBag):
            shapes.append((layer.input_dim, layer.output_dim))
        elif kind not in (Activation, Bucketize, Dropout, Flatten):
            return None
        shape = tuple(int(d) for d in layer.compute_output_shape(shape))
    return shapes


def _check_planned_weights(path: str, layers: list[Any], input_shape: Any,
                           items: list[tuple[str, np.ndarray]]) -> None:
    """Refuse, before anything is built or allocated, a model description whose weights do
    not have the shapes of the arrays the file holds (e.g. a small file claiming a huge
    Dense): loading costs what the file weighs."""
    if input_shape is None:
        return
    if (not isinstance(input_shape, (list, tuple)) or len(input_shape) > _MAX_NDIM
            or not all(type(d) is int and d > 0 for d in input_shape)):
        raise FormatError(f"{path}: invalid model description: input_shape must be a list "
                          f"of positive integers, got {input_shape!r}")
    planned = _predicted_weight_shapes(layers, tuple(input_shape))
    if planned is None:
        return
    held = [tuple(a.shape) for _, a in items]
    if planned != held:
        more = "..." if max(len(planned), len(held)) > 8 else ""
        raise FormatError(f"{path}: invalid model description: its layers need "
                          f"{len(planned)} weight arrays of shapes {planned[:8]}{more}, the "
                          f"file holds {len(held)} weight arrays of shapes {held[:8]}{more}")


def _sequential_from_config(path: str, config: dict[str, Any],
                            items: list[tuple[str, np.ndarray]],
                            custom_objects: Mapping[str, Any] | None) -> Any:
    """A Sequential from its config: the layers are made (cheap: nothing allocated), their
    weights checked against the file, then the model is built once (not once per layer)."""

    specs = config.get("layers", [])
    if not isinstance(specs, list):
        raise FormatError(f"{path}: invalid model description: model.config.layers must be a "
                          "list")
    layers = [deserialize_layer_or_model(lc, custom_objects) for lc in specs]
    shape = config.get("input_shape")
    _check_planned_weights(path, layers, shape, items)
    model = model_class("Sequential")(name=config.get("name"), dtype=config.get("dtype"),
                                      trainable=config.get("trainable", True))
    for layer in layers:
        model.add(layer)
    if shape is not None and not model.built:
        model.build((None, *shape))
    return model


def deserialize_layer_or_model(spec: Any, custom_objects: Mapping[str, Any] | None = None
                               ) -> Any:
    """A layer, or a model used as a layer (a nested ``Sequential``/``Model``), from its
    ``{"class_name", "config"}``."""
    from fastff import layers as layers_mod

    name = spec.get("class_name") if isinstance(spec, dict) else None
    cls = model_class("Model" if name == "Functional" else name) \
        if isinstance(name, str) and name in (*_BUILTIN_MODEL_MODULES, "Functional") else None
    if cls is not None:
        cfg = spec.get("config")
        if not isinstance(cfg, dict):
            raise FormatError(f"the config of nested model {name!r} must be an object, "
                              f"got {cfg!r}")
        return cls.from_config(cfg, custom_objects=custom_objects)
    return layers_mod.deserialize(spec, custom_objects)


def load_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Load weights saved by ``save_weights`` or ``save_model`` into a built ``model``.

    Arrays are matched by position and their shapes checked.
    """
    path = os.fspath(path)
    header, arrays = read_file(path)
    items = arrays.get("weights", [])
    if items and not getattr(model, "built", True):
        # Keras builds an unbuilt model here; the file knows the input shape it was saved with
        spec = header.get("model")
        config = spec.get("config") if isinstance(spec, dict) else None
        shape = config.get("input_shape") if isinstance(config, dict) else None
        subclassed = getattr(model, "_auto_track", False)
        bc = spec.get("build_config") if isinstance(spec, dict) else None
        if subclassed and isinstance(bc, dict) and bc.get("input_shape") is not None:
            # a subclassed model's config is the user's: its input shape(s) are kept apart
            try:
                model.build_from_config(bc)
            except (MemoryError, OverflowError) as e:
                raise FormatError(f"{path}: building the model for {bc} failed: "
                                  f"{type(e).__name__}: {e}") from e
        elif not (isinstance(shape, list) and all(type(d) is int and d > 0 for d in shape)):
            raise ValueError(f"load_weights: the model is not built and {path} does not say "
                             "its input shape; call model.build(input_shape) first")
        else:
            if not subclassed:  # the weight shapes of a layer stack are known before building
                _check_planned_weights(path, list(getattr(model, "layers", [])), shape, items)
            try:
                model.build((None, *shape))
            except (MemoryError, OverflowError) as e:
                raise FormatError(f"{path}: building the model for input shape {shape} "
                                  f"failed: {type(e).__name__}: {e}") from e
    _assign_weights(path, model, items)


def register_model_class(cls: type, name: str | None = None) -> type:
    """Make a model class loadable by its class name (``fastff.models`` and
    ``fastff.functional`` register theirs when imported; usable as a decorator)."""
    if not isinstance(cls, type):
        raise TypeError(f"register_model_class: expected a class, got {cls!r}")
    _MODEL_CLASSES[name or cls.__name__] = cls
    return cls


def model_class(name: str) -> type | None:
    """The model class registered under ``name``, or None. A built-in class not registered
    yet (its module not imported in this process) is loaded by its module's name, as Keras
    resolves a class from the module a file names: saving never imports the model modules."""
    cls = _MODEL_CLASSES.get(name)
    if cls is None and name in _BUILTIN_MODEL_MODULES:
        import importlib

        importlib.import_module(_BUILTIN_MODEL_MODULES[name])  # registers the class
        cls = _MODEL_CLASSES.get(name)
    return cls


def _model_class(path: str, spec: Any, custom_objects: Mapping[str, Any] | None) -> Any:
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise FormatError(f"{path}: 'model' must be an object with a string 'class_name'")
    name = spec["class_name"]
    user = get_registered_object(name, custom_objects)
    if user is not None:
        return user
    cls = model_class(name)
    if cls is None:
        raise FormatError(f"{path}: unknown model class {name!r}; pass custom_objects="
                          f"{{{name!r}: {name}}} to load_model, or decorate the class with "
                          "@fastff.saving.register_serializable()")
    return cls


def _compile(path: str, model: Any, config: Any, custom_objects: Mapping[str, Any] | None) -> None:
    if not isinstance(config, dict):
        raise FormatError(f"{path}: 'compile' must be an object or null")
    model.compile_from_config(config, custom_objects=custom_objects)


def _restore_optimizer(path: str, model: Any, header: dict[str, Any],
                       items: list[tuple[str, np.ndarray]]) -> None:
    opt = getattr(model, "optimizer", None)
    if opt is None or not hasattr(opt, "set_state"):
        return
    scalars = header.get("optimizer_scalars") or {}
    if not isinstance(scalars, dict):
        raise FormatError(f"{path}: 'optimizer_scalars' must be an object")
    if not items and not scalars:
        return
    hook = getattr(model, "_build_optimizer", None)
    if hook is not None:
        hook()
    state: dict[str, Any] = dict(scalars)
    state.update({name: a for name, a in items})
    opt.set_state(state)


def load_model(
    path: str | os.PathLike[str],
    custom_objects: Mapping[str, Any] | None = None,
    compile: bool = True,
) -> Any:
    """Rebuild a model saved by ``save_model``: architecture, weights and, when
    ``compile`` is true, the optimizer, loss, metrics and optimizer state.

    Only fastff's registered classes and the names in ``custom_objects`` are resolved.
    Raises ``FormatError`` (a ``ValueError``) for a file that is not a valid model file.
    """
    path = os.fspath(path)
    custom_objects = _with_registered(custom_objects)
    header, arrays = read_file(path)
    if header.get("kind") != "model":
        raise FormatError(f"{path}: this file holds {header.get('kind')!r}, not a model "
                          "(use load_weights for a weights file)")
    spec = header.get("model")
    cls = _model_class(path, spec, custom_objects)
    config = spec.get("config")
    if not isinstance(config, dict):
        raise FormatError(f"{path}: model.config must be an object")
    try:
        if cls is model_class("Sequential"):
            model = _sequential_from_config(path, config, arrays.get("weights", []),
                                            custom_objects)
        else:
            try:
                model = cls.from_config(config, custom_objects=custom_objects)
            except TypeError:
                model = cls.from_config(config)
        build_config = spec.get("build_config")
        if build_config is not None and hasattr(model, "build_from_config"):
            model.build_from_config(build_config)
        _assign_weights(path, model, arrays.get("weights", []))
        if compile and header.get("compile") is not None:
            _compile(path, model, header["compile"], custom_objects)
            _restore_optimizer(path, model, header, arrays.get("optimizer", []))
            state = header.get("training_state")
            if state is not None:
                model.set_training_state(state)
    except FormatError:
        raise
    except (Exception, MemoryError, RecursionError) as e:
        # Whatever a hostile description makes a constructor raise is a format problem of
        # the file; the cause stays chained for debugging.
        raise FormatError(f"{path}: invalid model description: {type(e).__name__}: {e}") from e
    return model
