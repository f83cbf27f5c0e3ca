"""Keras 3 ``.keras`` model files and ``.weights.h5`` weight files, both ways.

A ``.keras`` file is a zip of ``metadata.json`` (``keras_version``, ``date_saved``),
``config.json`` (the serialized model: ``module``/``class_name``/``config``/
``registered_name``, ``build_config``, ``compile_config``) and ``model.weights.h5``, whose
layout is Keras's ``H5IOStore``: ``layers/<path>/vars/<i>`` per layer and
``optimizer/vars/<i>``, where ``<path>`` is the snake-cased *class* name made unique by a
counter in ``model.layers`` order (``dense``, ``dense_1``, ``input_layer``...), not the
layer's name. A ``.weights.h5`` file is that H5 file alone.

Layer configs are mapped explicitly (Dense, Dropout, Activation, Flatten, Embedding,
Concatenate, InputLayer); anything else, and every Lambda, function or unknown class, is
refused with a message naming it: nothing in a file is imported or executed. Reading is
hostile-file safe: the zip's declared sizes and compression ratios are checked before
anything is extracted, JSON and HDF5 are parsed from bounded in-memory copies, every
array's dtype and shape is checked against the config, and the total declared array bytes
must fit in the file, before any model is built. Every problem raises
``fastff.saving.FormatError``.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastff.saving import FormatError

__all__ = ["save_keras", "load_keras", "save_keras_weights", "load_keras_weights",
           "is_keras_zip", "KERAS_VERSION"]

#: the Keras version written in ``metadata.json`` (the format this module follows)
KERAS_VERSION = "3.15.1"
ZIP_MAGIC = b"PK\x03\x04"
_H5_MAGIC = b"\x89HDF\r\n\x1a\n"
_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = "model.weights.h5"
_MAX_ENTRIES = 64
_MAX_JSON = 16 << 20          # a model config is kilobytes
_MAX_WEIGHTS = 8 << 30        # bytes of model.weights.h5 inside a zip
_MAX_RATIO = 200              # declared uncompressed / compressed size of a zip member
_MAX_DEPTH = 64               # nesting of the config JSON
_MAX_PARAMS = 1 << 31         # elements of one weight array
_FLOATS = {"float16", "float32", "float64"}
_LAYER_CLASSES = ("InputLayer", "Dense", "Dropout", "Activation", "Flatten", "Embedding",
                  "Concatenate")
_ACTIVATIONS = {"linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu",
                "softplus"}
# Keras optimizer variables after iterations (and learning_rate): groups of names, each
# group created by one add_optimizer_variables call, interleaved per model variable.


def _optimizer_groups(opt: Any) -> list[list[str]] | None:
    name = type(opt).__name__
    if name in ("Adam", "AdamW"):
        return [["momentum", "velocity"]] + ([["velocity_hat"]] if opt.amsgrad else [])
    if name == "SGD":
        return [["momentum"]] if opt.momentum != 0.0 else []
    if name == "RMSprop":
        return ([["velocity"]] + ([["momentum"]] if opt.momentum > 0.0 else [])
                + ([["average_gradient"]] if opt.centered else []))
    if name == "Adagrad":
        return [["accumulator"]]
    return None


def _snake(name: str) -> str:
    """Keras's ``naming.to_snake_case`` (the H5 group of a layer comes from its class)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _paths(class_names: list[str]) -> list[str]:
    """``layers/<snake class>[_k]`` for each layer, in order (Keras's unique-name counter)."""
    used: dict[str, int] = {}
    out = []
    for cls in class_names:
        base = _snake(cls)
        if base in used:
            used[base] += 1
            out.append(f"layers/{base}_{used[base]}")
        else:
            used[base] = 0
            out.append(f"layers/{base}")
    return out


# ============================================================================ writing
def _keras_obj(module: str, class_name: str, config: Any) -> dict:
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": None}


def _policy(dtype: np.dtype) -> dict:
    return _keras_obj("keras", "DTypePolicy", {"name": np.dtype(dtype).name})


def _keras_activation(layer: Any) -> str:
    act = layer.activation
    if not act.builtin or act.name not in _ACTIVATIONS:
        raise ValueError(f"save_keras: layer {layer.name!r} uses the activation {act.name!r}, "
                         "which has no Keras 3 name")
    from fastff import activations

    if activations.serialize(act) != act.name:  # a non-default parameter
        raise ValueError(f"save_keras: layer {layer.name!r}: {act!r} has a non-default "
                         "parameter, which a Keras activation name cannot hold")
    return act.name


def _keras_init(init: Any) -> dict:
    from fastff import initializers

    spec = initializers.serialize(init)
    return _keras_obj("keras.initializers", spec["class_name"], spec["config"])


def _keras_reg(reg: Any) -> dict | None:
    from fastff import regularizers

    spec = regularizers.serialize(reg)
    return None if spec is None else _keras_obj("keras.regularizers", spec["class_name"],
                                                spec["config"])


def _layer_config(layer: Any, dtype: np.dtype) -> tuple[str, dict]:
    """(Keras class name, Keras config) of a fastff layer; refuses what Keras lacks."""
    cls = type(layer).__name__
    base = {"name": layer.name, "trainable": bool(layer.trainable), "dtype": _policy(dtype)}
    if cls == "Dense":
        return "Dense", {**base, "units": layer.units, "activation": _keras_activation(layer),
                         "use_bias": layer.use_bias,
                         "kernel_initializer": _keras_init(layer.kernel_initializer),
                         "bias_initializer": _keras_init(layer.bias_initializer),
                         "kernel_regularizer": _keras_reg(layer.kernel_regularizer),
                         "bias_regularizer": _keras_reg(layer.bias_regularizer),
                         "kernel_constraint": None, "bias_constraint": None,
                         "quantization_config": None}
    if cls == "Dropout":
        return "Dropout", {**base, "rate": layer.rate, "seed": layer.seed, "noise_shape": None}
    if cls == "Activation":
        return "Activation", {**base, "activation": _keras_activation(layer)}
    if cls == "Flatten":
        return "Flatten", {**base, "data_format": "channels_last"}
    if cls == "Embedding":
        return "Embedding", {
            **base, "input_dim": layer.input_dim, "output_dim": layer.output_dim,
            "embeddings_initializer": _keras_init(layer.embeddings_initializer),
            "embeddings_regularizer": _keras_reg(layer.embeddings_regularizer),
            "activity_regularizer": None, "embeddings_constraint": None,
            "mask_zero": layer.mask_zero, "quantization_config": None}
    if cls == "Concatenate":
        return "Concatenate", {**base, "axis": -1}
    raise ValueError(f"save_keras: layer {layer.name!r} ({cls}) has no Keras 3 equivalent; "
                     f"supported: {', '.join(_LAYER_CLASSES[1:])}")


def _layer_weights(layer: Any) -> list[np.ndarray]:
    """The layer's variables in Keras's order (an Embedding with ``mask_zero`` writes its
    padding row as zeros: fastff embeds padding to zeros, Keras looks the row up)."""
    from fastff.layers.base import to_host

    arrays = [np.array(to_host(p.value)) for p in layer.params]
    if type(layer).__name__ == "Embedding" and layer.mask_zero and arrays:
        arrays[0][0] = 0
    return arrays


def _input_config(name: str, shape: tuple, dtype: np.dtype) -> dict:
    return {"batch_shape": [None, *map(int, shape)], "dtype": np.dtype(dtype).name,
            "sparse": False, "ragged": False, "name": name, "optional": False}


def _tensor(name: str, shape: tuple, dtype: np.dtype) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, *map(int, shape)], "dtype": np.dtype(dtype).name,
                       "keras_history": [name, 0, 0]}}


def _functional_order(graph: Any) -> list[int]:
    """Keras's ``map_graph`` order of the graph's operations (inputs are ``-1-i``): depth
    from the output descending, ties by first visit of a DFS from the output."""
    k = len(graph.sources)
    parents = {i: [r - k if r >= k else -1 - r for r in refs]
               for i, (_, refs) in enumerate(graph.nodes)}
    index: dict[int, int] = {}
    post: list[int] = []
    done: set[int] = set()

    def visit(op: int) -> None:
        if op in done:
            return
        index.setdefault(op, len(index))
        for p in parents.get(op, []):
            visit(p)
        done.add(op)
        post.append(op)

    visit(len(graph.nodes) - 1)
    depth: dict[int, int] = {}
    for op in reversed(post):
        d = depth.setdefault(op, 0)
        for p in parents.get(op, []):
            depth[p] = max(d + 1, depth.get(p, 0))
    for i in range(k):  # an input nothing reads
        if -1 - i not in depth:
            depth[-1 - i], index[-1 - i] = 0, -1
    return sorted(depth, key=lambda op: (-depth[op], index[op]))


def _model_spec(model: Any) -> tuple[dict, list[tuple[str, list[np.ndarray]]], list]:
    """(config.json's document, [(H5 path, arrays)], trainable params in Keras's order)."""
    dtype = np.dtype(model.dtype)
    graph = getattr(model, "_graph", None)
    if graph is None:
        first = model._layers[0]
        in_dtype = np.dtype(getattr(first, "input_dtype", None) or dtype)
        inp = getattr(model, "_input_layer", None)
        layer_cfgs = [_keras_obj("keras.layers", "InputLayer", _input_config(
            inp.name if inp is not None else "input_layer", model._input_shape, in_dtype))]
        shape: Any = tuple(model._input_shape)
        ordered = list(model._layers)
        for layer in ordered:
            cls, cfg = _layer_config(layer, dtype)
            spec = _keras_obj("keras.layers", cls, cfg)
            if cls != "Dropout" and cls != "Activation" and cls != "Flatten":
                spec["build_config"] = {"input_shape": [None, *shape]}
            layer_cfgs.append(spec)
            shape = layer.compute_output_shape(shape)
        config = {"name": model.name, "trainable": bool(model.trainable),
                  "dtype": _policy(dtype), "layers": layer_cfgs,
                  "build_input_shape": [None, *model._input_shape]}
        doc = _keras_obj("keras", "Sequential", config)
        doc["build_config"] = {"input_shape": [None, *model._input_shape]}
    else:
        k = len(graph.sources)
        shapes = [tuple(s.input_shape_decl) for s in graph.sources] + graph.node_shapes()
        dts = [np.dtype(s.input_dtype or dtype) for s in graph.sources]
        for layer, refs in graph.nodes:
            dts.append(np.dtype(np.result_type(*[dts[r] for r in refs]))
                       if type(layer).__name__ == "Concatenate" else dtype)
        names = [s.name for s in graph.sources] + [la.name for la, _ in graph.nodes]
        layer_cfgs = []
        ordered = []
        for op in _functional_order(graph):
            if op < 0:
                i = -1 - op
                spec = _keras_obj("keras.layers", "InputLayer",
                                  _input_config(names[i], shapes[i], dts[i]))
                spec.update(name=names[i], inbound_nodes=[])
                ordered.append(graph.sources[i])
            else:
                layer, refs = graph.nodes[op]
                cls, cfg = _layer_config(layer, dtype)
                spec = _keras_obj("keras.layers", cls, cfg)
                args = [_tensor(names[r], shapes[r], dts[r]) for r in refs]
                in_shapes = [[None, *shapes[r]] for r in refs]
                multi = cls == "Concatenate"
                spec["build_config"] = {"input_shape": in_shapes if multi else in_shapes[0]}
                spec.update(name=layer.name,
                            inbound_nodes=[{"args": [args] if multi else args, "kwargs": {}}])
                ordered.append(layer)
            layer_cfgs.append(spec)
        config = {"name": model.name, "trainable": bool(model.trainable),
                  "layers": layer_cfgs,
                  "input_layers": [[s.name, 0, 0] for s in graph.sources]
                  if k > 1 else [graph.sources[0].name, 0, 0],
                  "output_layers": [names[-1], 0, 0]}
        doc = _keras_obj("keras.src.models.functional", "Functional", config)
        doc["registered_name"] = "Functional"
        doc["build_config"] = {"input_shape": None}
    with_vars = [la for la in ordered if type(la).__name__ not in ("Input",)]
    keras_classes = ["InputLayer" if type(la).__name__ == "Input" else
                     _layer_config(la, dtype)[0] for la in ordered]
    stores = [(path, [] if type(la).__name__ == "Input" else _layer_weights(la))
              for path, la in zip(_paths(keras_classes), ordered)]
    trainable = [p for la in with_vars if model.trainable and la.trainable
                 for p in la.params if p.trainable]
    return doc, stores, trainable


def _compile_config(model: Any) -> dict | None:
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return None
    from fastff import optimizers

    spec = optimizers.serialize(opt)
    cfg = dict(spec["config"])
    if isinstance(cfg.get("learning_rate"), dict):
        lr = cfg["learning_rate"]
        cfg["learning_rate"] = _keras_obj("keras.optimizers.schedules", lr["class_name"],
                                          lr["config"])
    cfg.update(use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
               loss_scale_factor=None, gradient_accumulation_steps=None)
    loss = model.loss
    loss_cfg = None
    if loss is not None:
        from fastff import losses

        ls = losses.serialize(loss)
        loss_cfg = _keras_obj("keras.losses", ls["class_name"], ls["config"])
    metrics = [m for m in getattr(model, "_metric_ids", []) if isinstance(m, str)]
    return {"optimizer": _keras_obj("keras.optimizers", spec["class_name"], cfg),
            "loss": loss_cfg, "loss_weights": None, "metrics": metrics or None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


def _optimizer_vars(model: Any, trainable: list) -> list[np.ndarray]:
    """Keras's optimizer variables from fastff's flat state: iterations, learning_rate,
    then each group's per-variable slices (empty when not built or not mappable)."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not getattr(opt, "built", False):
        return []
    groups = _optimizer_groups(opt)
    if groups is None:
        warnings.warn(f"save_keras: the state of {type(opt).__name__} has no Keras layout; "
                      "the file holds its config only", stacklevel=3)
        return []
    state = opt.get_state()
    offsets = {id(p): o for p, o in model._placement}
    dt = np.dtype(model.dtype)
    out = [np.asarray(opt.iterations, dtype=np.int64)]
    if not callable(opt._learning_rate):
        out.append(np.asarray(opt.learning_rate, dtype=dt))
    for group in groups:
        for p in trainable:
            o = offsets[id(p)]
            for name in group:
                out.append(np.array(state[name][o:o + p.size].reshape(p.shape)))
    return out


def _write_h5(f: Any, stores: list[tuple[str, list[np.ndarray]]], root_name: str,
              optimizer: list[np.ndarray] | None, opt_name: str = "") -> None:
    import h5py

    h5 = h5py.File(f, "w")
    try:
        for path, arrays in stores:
            group = h5.create_group(path).create_group("vars")
            group.attrs["name"] = path.rsplit("/", 1)[-1]
            for i, a in enumerate(arrays):
                group.create_dataset(str(i), data=a)
        if optimizer:
            group = h5.create_group("optimizer").create_group("vars")
            group.attrs["name"] = opt_name
            for i, a in enumerate(optimizer):
                group.create_dataset(str(i), data=a)
        h5.create_group("vars").attrs["name"] = root_name
    finally:
        h5.close()


def _h5_bytes(model: Any, with_optimizer: bool) -> tuple[dict, bytes]:
    if not model.built:
        raise ValueError("save_keras: the model is not built; build it (or fit) first")
    doc, stores, trainable = _model_spec(model)
    opt_vars = _optimizer_vars(model, trainable) if with_optimizer else []
    buf = io.BytesIO()
    opt = getattr(model, "optimizer", None)
    _write_h5(buf, stores, model.name, opt_vars, getattr(opt, "name", ""))
    return doc, buf.getvalue()


def save_keras(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file (atomically): architecture, weights,
    compile config and optimizer state."""
    from fastff import distribution
    from fastff._atomic import atomic_write

    if not distribution.is_chief():
        return
    doc, weights = _h5_bytes(model, with_optimizer=True)
    compile_cfg = _compile_config(model)
    doc["compile_config"] = compile_cfg
    meta = {"keras_version": KERAS_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}

    def write(f: Any) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr(_METADATA, json.dumps(meta))
            z.writestr(_CONFIG, json.dumps(doc, allow_nan=False))
            z.writestr(_WEIGHTS, weights)

    atomic_write(path, write)


def save_keras_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Write the weights as a Keras 3 ``.weights.h5`` file (atomically)."""
    from fastff import distribution
    from fastff._atomic import atomic_write

    if not distribution.is_chief():
        return
    _, weights = _h5_bytes(model, with_optimizer=False)
    atomic_write(path, lambda f: f.write(weights))


# ============================================================================ reading
def kind_of_path(path: Any) -> str | None:
    """``"keras"`` for a ``.keras`` name, ``"keras_weights"`` for ``.weights.h5``, else None
    (what a save writes)."""
    name = os.fspath(path).lower() if isinstance(path, (str, os.PathLike)) else ""
    if name.endswith(".keras"):
        return "keras"
    if name.endswith(".weights.h5"):
        return "keras_weights"
    return None


def kind_of_file(path: Any) -> str | None:
    """What a load reads: ``"keras"`` for a zip, ``"keras_weights"`` for an HDF5 file (by
    their magic bytes, whatever the name), None for anything else (fastff's own format,
    which recognises itself by its magic bytes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except (OSError, TypeError):
        return None
    if head.startswith(ZIP_MAGIC):
        return "keras"
    if head == _H5_MAGIC:
        return "keras_weights"
    return None


def is_keras_zip(path: str | os.PathLike[str]) -> bool:
    """Does the file start with the zip magic (a ``.keras`` archive, whatever its name)?"""
    try:
        with open(path, "rb") as f:
            return f.read(4) == ZIP_MAGIC
    except OSError:
        return False


def _read_member(path: str, z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.flag_bits & 0x1:
        raise FormatError(f"{path}: {info.filename} is encrypted")
    if info.file_size > limit:
        raise FormatError(f"{path}: {info.filename} declares {info.file_size} bytes "
                          f"(at most {limit})")
    if info.compress_type != zipfile.ZIP_STORED and \
            info.file_size > _MAX_RATIO * max(info.compress_size, 1) + 4096:
        raise FormatError(f"{path}: {info.filename} declares a compression ratio over "
                          f"{_MAX_RATIO} (a zip bomb?)")
    with z.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise FormatError(f"{path}: {info.filename} holds {len(data)} bytes, its header "
                          f"declares {info.file_size}")
    return data


def _check_depth(obj: Any, path: str, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise FormatError(f"{path}: config nests deeper than {_MAX_DEPTH} levels")
    if isinstance(obj, dict):
        cls = obj.get("class_name")
        if cls in ("__lambda__", "Lambda", "function", "__function__") or "__lambda__" in obj:
            raise FormatError(f"{path}: the config holds a {cls or '__lambda__'!r} object "
                              "(code); fastff never loads code from a file")
        module = obj.get("module")
        if isinstance(module, str) and cls is not None and not module.startswith("keras"):
            raise FormatError(f"{path}: the config names {cls!r} from module {module!r}; "
                              "only Keras's own classes are read (no custom code)")
        for v in obj.values():
            _check_depth(v, path, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _check_depth(v, path, depth + 1)


def _parse_json(path: str, data: bytes, what: str) -> Any:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(f"{path}: {what} is not valid JSON: {e}") from None
    _check_depth(doc, path)
    return doc


def _read_zip(path: str) -> tuple[dict, bytes]:
    try:
        size = os.path.getsize(path)
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
        raise FormatError(f"{path}: not a valid .keras zip archive: {e}") from None
    with z:
        try:
            infos = z.infolist()
        except Exception as e:  # noqa: BLE001 - any damage of the central directory
            raise FormatError(f"{path}: damaged zip directory: {e}") from None
        if len(infos) > _MAX_ENTRIES:
            raise FormatError(f"{path}: {len(infos)} zip entries (at most {_MAX_ENTRIES})")
        by_name = {i.filename: i for i in infos}
        for need in (_CONFIG, _WEIGHTS):
            if need not in by_name:
                raise FormatError(f"{path}: not a Keras 3 .keras file: no {need}")
        declared = sum(i.file_size for i in infos)
        if declared > _MAX_RATIO * max(size, 1) + (1 << 20):
            raise FormatError(f"{path}: the entries declare {declared} bytes for a "
                              f"{size}-byte archive (a zip bomb?)")
        try:
            if _METADATA in by_name:
                meta = _parse_json(path, _read_member(path, z, by_name[_METADATA], _MAX_JSON),
                                   _METADATA)
                if not isinstance(meta, dict):
                    raise FormatError(f"{path}: {_METADATA} must be an object")
            config = _parse_json(path, _read_member(path, z, by_name[_CONFIG], _MAX_JSON),
                                 _CONFIG)
            weights = _read_member(path, z, by_name[_WEIGHTS], _MAX_WEIGHTS)
        except FormatError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError,
                NotImplementedError) as e:
            raise FormatError(f"{path}: damaged zip entry: {type(e).__name__}: {e}") from None
    if not isinstance(config, dict):
        raise FormatError(f"{path}: {_CONFIG} must be an object")
    return config, weights


class _H5:
    """A read-only view of a Keras weights file, every array checked before it is read."""

    def __init__(self, path: str, data: bytes):
        import h5py

        self.path, self.size = path, len(data)
        if not data.startswith(_H5_MAGIC):
            raise FormatError(f"{path}: the weights are not an HDF5 file")
        try:
            self.h5 = h5py.File(io.BytesIO(data), "r")
        except Exception as e:  # noqa: BLE001 - h5py raises OSError, ValueError, KeyError...
            raise FormatError(f"{path}: damaged HDF5 weights: {e}") from None

    def close(self) -> None:
        self.h5.close()

    def datasets(self, group_path: str) -> list[Any]:
        """The datasets ``<group_path>/vars/0..n-1`` (none when the group is absent)."""
        import h5py

        try:
            group = self.h5.get(group_path)
            if group is None:
                return []
            if not isinstance(group, h5py.Group):
                raise FormatError(f"{self.path}: {group_path} is not a group")
            vars_ = group.get("vars")
            if vars_ is None:
                return []
            if not isinstance(vars_, h5py.Group):
                raise FormatError(f"{self.path}: {group_path}/vars is not a group")
            keys = list(vars_.keys())
            if len(keys) > 1 << 16 or sorted(keys, key=lambda s: (len(s), s)) != \
                    [str(i) for i in range(len(keys))]:
                raise FormatError(f"{self.path}: {group_path}/vars must hold datasets named "
                                  f"0..n-1, got {keys[:8]}")
            out = []
            for k in (str(i) for i in range(len(keys))):
                ds = vars_.get(k)
                if not isinstance(ds, h5py.Dataset):
                    raise FormatError(f"{self.path}: {group_path}/vars/{k} is not a dataset")
                out.append(ds)
            return out
        except FormatError:
            raise
        except Exception as e:  # noqa: BLE001
            raise FormatError(f"{self.path}: damaged HDF5 group {group_path}: {e}") from None

    def check(self, ds: Any, shape: tuple[int, ...], what: str, kinds: str = "f") -> int:
        """Bytes the dataset holds, after checking its dtype and shape (nothing is read)."""
        try:
            dtype, got = ds.dtype, tuple(ds.shape)
        except Exception as e:  # noqa: BLE001
            raise FormatError(f"{self.path}: damaged dataset {what}: {e}") from None
        if dtype.kind not in kinds or dtype.itemsize > 8:
            raise FormatError(f"{self.path}: {what} has dtype {dtype}, expected "
                              f"{'floats' if kinds == 'f' else 'numbers'}")
        if got != tuple(shape):
            raise FormatError(f"{self.path}: {what} has shape {got}, the config says "
                              f"{tuple(shape)}")
        return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize

    def read(self, ds: Any, shape: tuple[int, ...], what: str, kinds: str = "f") -> np.ndarray:
        self.check(ds, shape, what, kinds)
        try:
            a = np.asarray(ds[()])
        except Exception as e:  # noqa: BLE001
            raise FormatError(f"{self.path}: cannot read {what}: {e}") from None
        if a.shape != tuple(shape):
            raise FormatError(f"{self.path}: {what} read as shape {a.shape}")
        return a


# ------------------------------------------------------------------- config -> fastff
def _get(cfg: Any, key: str, types: Any, path: str, what: str, default: Any = ...) -> Any:
    if not isinstance(cfg, dict):
        raise FormatError(f"{path}: {what} must be an object")
    if key not in cfg:
        if default is ...:
            raise FormatError(f"{path}: {what} has no {key!r}")
        return default
    v = cfg[key]
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in
                                    (types if isinstance(types, tuple) else (types,))):
        raise FormatError(f"{path}: {what}.{key} has the wrong type ({type(v).__name__})")
    return v


def _dim(v: Any, path: str, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= _MAX_PARAMS:
        raise FormatError(f"{path}: {what} must be a positive integer, got {v!r}")
    return v


def _policy_dtype(cfg: Any, path: str, what: str) -> str | None:
    pol = cfg.get("dtype") if isinstance(cfg, dict) else None
    if pol is None:
        return None
    name = pol if isinstance(pol, str) else (pol.get("config") or {}).get("name") \
        if isinstance(pol, dict) else None
    if name not in _FLOATS - {"float16"}:
        raise FormatError(f"{path}: {what} has dtype policy {name!r}; fastff computes in "
                          "float32 or float64")
    return name


def _object(spec: Any, module: Any, kind: str, path: str, what: str) -> Any:
    """A fastff initializer/regularizer from a Keras ``{"class_name", "config"}`` (keys
    fastff's class lacks are dropped: they only matter for re-initialization)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        try:
            return module.get(spec)
        except (TypeError, ValueError) as e:
            raise FormatError(f"{path}: {what}: unsupported {kind} {spec!r}: {e}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise FormatError(f"{path}: {what} must be a Keras {kind} object")
    cls_name, cfg = spec["class_name"], spec.get("config") or {}
    try:
        return module.deserialize({"class_name": cls_name, "config": cfg})
    except (TypeError, ValueError, KeyError):
        pass
    try:
        default = module.deserialize({"class_name": cls_name, "config": {}})
        known = default.get_config() if hasattr(default, "get_config") else {}
        return module.deserialize({"class_name": cls_name,
                                   "config": {k: v for k, v in cfg.items() if k in known}})
    except (TypeError, ValueError, KeyError) as e:
        raise FormatError(f"{path}: {what}: unsupported {kind} {cls_name!r}: {e}") from None


def _activation(cfg: dict, path: str, what: str) -> str:
    act = cfg.get("activation", "linear")
    if act is None:
        return "linear"
    if not isinstance(act, str) or act not in _ACTIVATIONS:
        raise FormatError(f"{path}: {what}: activation {act!r} is not supported (fastff reads "
                          f"{', '.join(sorted(_ACTIVATIONS))})")
    return act


def _refuse_set(cfg: dict, keys: tuple, path: str, what: str) -> None:
    for key in keys:
        if cfg.get(key) not in (None, False, 0, {}):
            raise FormatError(f"{path}: {what}: {key}={cfg[key]!r} is not supported by fastff")


def _build_layer(spec: Any, path: str) -> tuple[str, Any, dict]:
    """(Keras class, fastff layer or Input kwargs, Keras config) of one layer spec."""
    from fastff import initializers, layers, regularizers

    cls = _get(spec, "class_name", str, path, "a layer")
    cfg = _get(spec, "config", dict, path, f"layer {cls}")
    name = _get(cfg, "name", str, path, f"layer {cls}", None)
    what = f"layer {name or '?'!r} ({cls})"
    if cls not in _LAYER_CLASSES:
        raise FormatError(f"{path}: {what} is not supported by fastff; supported: "
                          f"{', '.join(_LAYER_CLASSES)}")
    if spec.get("registered_name") not in (None, cls):
        raise FormatError(f"{path}: {what} is registered as {spec['registered_name']!r} "
                          "(a custom class); fastff reads Keras's own layers only")
    if cls == "InputLayer":
        shape = cfg.get("batch_shape")
        if shape is None and isinstance(cfg.get("batch_input_shape"), list):
            shape = cfg["batch_input_shape"]
        if not isinstance(shape, list) or not shape or shape[0] not in (None,) and \
                not isinstance(shape[0], int):
            raise FormatError(f"{path}: {what} needs a batch_shape list")
        dims = tuple(_dim(d, path, f"{what}.batch_shape") for d in shape[1:])
        dtype = cfg.get("dtype") or "float32"
        if not isinstance(dtype, str) or dtype not in _FLOATS | {"int32", "int64", "uint8",
                                                                 "int16", "int8"}:
            raise FormatError(f"{path}: {what} has unsupported dtype {dtype!r}")
        if cfg.get("sparse") or cfg.get("ragged") or cfg.get("optional"):
            raise FormatError(f"{path}: {what}: sparse, ragged or optional inputs are not "
                              "supported")
        return cls, {"shape": dims, "dtype": dtype, "name": name}, cfg
    common: dict[str, Any] = {"name": name, "trainable": bool(cfg.get("trainable", True))}
    _policy_dtype(cfg, path, what)
    if cls == "Dense":
        _refuse_set(cfg, ("kernel_constraint", "bias_constraint", "activity_regularizer",
                          "quantization_config", "lora_rank"), path, what)
        layer = layers.Dense(
            _dim(cfg.get("units"), path, f"{what}.units"),
            activation=_activation(cfg, path, what),
            use_bias=bool(_get(cfg, "use_bias", bool, path, what, True)),
            kernel_initializer=_object(cfg.get("kernel_initializer", "glorot_uniform"),
                                       initializers, "initializer", path, what)
            or "glorot_uniform",
            bias_initializer=_object(cfg.get("bias_initializer", "zeros"), initializers,
                                     "initializer", path, what) or "zeros",
            kernel_regularizer=_object(cfg.get("kernel_regularizer"), regularizers,
                                       "regularizer", path, what),
            bias_regularizer=_object(cfg.get("bias_regularizer"), regularizers,
                                     "regularizer", path, what), **common)
    elif cls == "Dropout":
        rate = cfg.get("rate")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise FormatError(f"{path}: {what}.rate must be a number in [0, 1), got {rate!r}")
        if cfg.get("noise_shape") is not None:
            raise FormatError(f"{path}: {what}: noise_shape is not supported by fastff")
        seed = cfg.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise FormatError(f"{path}: {what}.seed must be an integer or null")
        layer = layers.Dropout(float(rate), seed=seed, **common)
    elif cls == "Activation":
        layer = layers.Activation(_activation(cfg, path, what), **common)
    elif cls == "Flatten":
        if cfg.get("data_format") not in (None, "channels_last"):
            raise FormatError(f"{path}: {what}: only data_format='channels_last' is supported")
        layer = layers.Flatten(**common)
    elif cls == "Embedding":
        _refuse_set(cfg, ("embeddings_constraint", "activity_regularizer",
                          "quantization_config", "lora_rank", "sparse"), path, what)
        layer = layers.Embedding(
            _dim(cfg.get("input_dim"), path, f"{what}.input_dim"),
            _dim(cfg.get("output_dim"), path, f"{what}.output_dim"),
            embeddings_initializer=_object(cfg.get("embeddings_initializer", "uniform"),
                                           initializers, "initializer", path, what)
            or "uniform",
            embeddings_regularizer=_object(cfg.get("embeddings_regularizer"), regularizers,
                                           "regularizer", path, what),
            mask_zero=bool(cfg.get("mask_zero", False)), **common)
    else:  # Concatenate
        if cfg.get("axis", -1) not in (-1,):
            raise FormatError(f"{path}: {what}: only axis=-1 is supported, got {cfg['axis']!r}")
        layer = layers.Concatenate(**common)
    return cls, layer, cfg


def _expected_shapes(layer: Any, in_shape: Any) -> list[tuple[int, ...]]:
    """The variable shapes a layer will have, computed from its config (before building)."""
    cls = type(layer).__name__
    if cls == "Dense":
        if not isinstance(in_shape, tuple) or len(in_shape) != 1:
            raise ValueError(f"Dense {layer.name!r} needs 2-D inputs, got {in_shape}")
        return [(in_shape[0], layer.units)] + ([(layer.units,)] if layer.use_bias else [])
    if cls == "Embedding":
        return [(layer.input_dim, layer.output_dim)]
    return []


def _read_layer_weights(h5: _H5, group: str, layer: Any, in_shape: Any,
                        used: list[int]) -> list[np.ndarray]:
    """The layer's arrays from ``group``, checked against the shapes its config implies;
    ``used[0]`` sums the bytes read so far (bounded by the file's size)."""
    shapes = _expected_shapes(layer, in_shape)
    dss = h5.datasets(group)
    if len(dss) != len(shapes):
        raise FormatError(f"{h5.path}: {group} holds {len(dss)} variables, layer "
                          f"{layer.name!r} has {len(shapes)}")
    for i, (ds, s) in enumerate(zip(dss, shapes)):
        used[0] += h5.check(ds, s, f"{group}/vars/{i}")
        if used[0] > h5.size:  # the arrays cannot be larger than the file holding them
            raise FormatError(f"{h5.path}: the config declares more weight data than the "
                              f"{h5.size}-byte weights file holds")
    return [h5.read(ds, s, f"{group}/vars/{i}") for i, (ds, s) in enumerate(zip(dss, shapes))]


def _sequential(doc: dict, h5: _H5, path: str) -> tuple[Any, list]:
    import fastff
    from fastff.layers import Input

    cfg = _get(doc, "config", dict, path, "the model")
    specs = _get(cfg, "layers", list, path, "Sequential config")
    built = [_build_layer(s, path) for s in specs]
    inp = None
    if built and built[0][0] == "InputLayer":
        inp = built.pop(0)[1]
    elif isinstance(cfg.get("build_input_shape"), list):
        shape = cfg["build_input_shape"]
        inp = {"shape": tuple(_dim(d, path, "build_input_shape") for d in shape[1:]),
               "dtype": "float32", "name": None}
    if inp is None:
        raise FormatError(f"{path}: the Sequential config does not say its input shape")
    if any(c == "InputLayer" for c, _, _ in built):
        raise FormatError(f"{path}: an InputLayer may only come first in a Sequential")
    layers = [la for _, la, _ in built]
    dtype = next((_policy_dtype(c, path, "a layer") for _, _, c in built
                  if _policy_dtype(c, path, "a layer")), None) or "float32"
    # every weight checked against the file before any model (and its arrays) exists
    weights: list[list[np.ndarray]] = []
    shape: Any = tuple(inp["shape"])
    used = [0]
    for group, layer in zip(_paths([c for c, _, _ in built]), layers):
        try:
            weights.append(_read_layer_weights(h5, group, layer, shape, used))
            shape = tuple(layer.compute_output_shape(shape))
        except ValueError as e:
            raise FormatError(f"{path}: {e}") from None
    int_ids = np.dtype(inp["dtype"]).kind in "iu"
    first = [Input(shape=inp["shape"], name=inp["name"],
                   dtype=inp["dtype"] if int_ids else None)]
    model = fastff.Sequential(first + layers, name=cfg.get("name") if isinstance(
        cfg.get("name"), str) else None, dtype=dtype)
    return model, list(zip(layers, weights))


def _history(arg: Any, path: str) -> str:
    if not (isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__"):
        raise FormatError(f"{path}: a layer's inbound argument is not a Keras tensor")
    hist = (arg.get("config") or {}).get("keras_history")
    if not (isinstance(hist, list) and len(hist) == 3 and isinstance(hist[0], str)
            and hist[1] == 0 and hist[2] == 0):
        raise FormatError(f"{path}: unsupported keras_history {hist!r} (shared layers and "
                          "multi-output layers are not supported)")
    return hist[0]


def _layer_ref(v: Any, path: str, what: str) -> str:
    if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and v[1:] == [0, 0]:
        return v[0]
    raise FormatError(f"{path}: {what} entry {v!r} is not [name, 0, 0]")


def _functional(doc: dict, h5: _H5, path: str) -> tuple[Any, list]:
    import fastff
    from fastff.layers import Input

    cfg = _get(doc, "config", dict, path, "the model")
    specs = _get(cfg, "layers", list, path, "Functional config")
    tensors: dict[str, Any] = {}
    shapes: dict[str, Any] = {}
    built = []
    order = []
    pending = []
    for spec in specs:
        cls, obj, lcfg = _build_layer(spec, path)
        name = spec.get("name") or lcfg.get("name")
        if not isinstance(name, str) or name in shapes or name in [p[0] for p in pending]:
            raise FormatError(f"{path}: layer names must be unique strings, got {name!r}")
        nodes = spec.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise FormatError(f"{path}: layer {name!r}: inbound_nodes must be a list")
        order.append(cls)
        if cls == "InputLayer":
            t = Input(shape=obj["shape"], name=name,
                      dtype=obj["dtype"] if np.dtype(obj["dtype"]).kind in "iu" else None)
            tensors[name], shapes[name] = t, tuple(obj["shape"])
            built.append((cls, None, None))
            continue
        if len(nodes) != 1 or not isinstance(nodes[0], dict):
            raise FormatError(f"{path}: layer {name!r} is called {len(nodes)} times; fastff "
                              "supports layers called once")
        args, kwargs = nodes[0].get("args"), nodes[0].get("kwargs") or {}
        if not isinstance(args, list) or len(args) != 1 or not isinstance(kwargs, dict) or \
                any(k not in ("mask", "training") or v not in (None, False)
                    for k, v in kwargs.items()):
            raise FormatError(f"{path}: layer {name!r}: unsupported call arguments "
                              f"{kwargs!r}")
        arg = args[0]
        srcs = [_history(a, path) for a in arg] if isinstance(arg, list) \
            else [_history(arg, path)]
        for s in srcs:
            if s not in shapes:
                raise FormatError(f"{path}: layer {name!r} reads {s!r}, which comes later "
                                  "or does not exist")
        multi = cls == "Concatenate"
        if multi != isinstance(arg, list):
            raise FormatError(f"{path}: layer {name!r} takes {'a list of' if multi else 'one'} "
                              "input(s)")
        in_shape = [shapes[s] for s in srcs] if multi else shapes[srcs[0]]
        try:
            out_shape = tuple(obj.compute_output_shape(in_shape))
            if multi and any(len(s) != 1 for s in in_shape):
                raise ValueError(f"Concatenate {name!r} joins (batch, features) inputs")
        except (ValueError, TypeError) as e:
            raise FormatError(f"{path}: {e}") from None
        shapes[name] = out_shape
        built.append((cls, obj, in_shape))
        pending.append((name, obj, srcs, multi))
    # weights checked against the file before any model exists
    weights, used = [], [0]
    for group, (_cls, obj, in_shape) in zip(_paths(order), built):
        if obj is None:
            if h5.datasets(group):
                raise FormatError(f"{path}: {group} holds variables, an InputLayer has none")
            continue
        try:
            weights.append((obj, _read_layer_weights(h5, group, obj, in_shape, used)))
        except ValueError as e:
            raise FormatError(f"{path}: {e}") from None
    for name, obj, srcs, multi in pending:
        ins = [tensors[s] for s in srcs]
        tensors[name] = obj(ins if multi else ins[0])
    raw_in = cfg.get("input_layers")
    raw_in = [raw_in] if isinstance(raw_in, list) and raw_in and isinstance(raw_in[0], str) \
        else raw_in
    raw_out = cfg.get("output_layers")
    raw_out = [raw_out] if isinstance(raw_out, list) and raw_out and \
        isinstance(raw_out[0], str) else raw_out
    if not isinstance(raw_in, list) or not isinstance(raw_out, list) or len(raw_out) != 1:
        raise FormatError(f"{path}: input_layers / output_layers malformed (one output only)")
    in_names = [_layer_ref(v, path, "input_layers") for v in raw_in]
    out_name = _layer_ref(raw_out[0], path, "output_layers")
    for n in [*in_names, out_name]:
        if n not in tensors:
            raise FormatError(f"{path}: {n!r} is not a layer of the model")
    if not all(isinstance(tensors[n], Input) for n in in_names):
        raise FormatError(f"{path}: input_layers must name InputLayers")
    dtype = next((_policy_dtype(s.get("config"), path, "a layer") for s in specs
                  if isinstance(s, dict) and s.get("class_name") != "InputLayer"
                  and _policy_dtype(s.get("config"), path, "a layer")), None) or "float32"
    try:
        model = fastff.Model([tensors[n] for n in in_names], tensors[out_name],
                             name=cfg.get("name") if isinstance(cfg.get("name"), str) else None,
                             dtype=dtype)
    except (ValueError, TypeError) as e:
        raise FormatError(f"{path}: {e}") from None
    return model, weights


def _assign(pairs: list, path: str) -> None:
    for layer, arrays in pairs:
        if type(layer).__name__ == "Embedding" and layer.mask_zero and arrays and \
                np.any(arrays[0][0] != 0):
            # Keras looks the padding row up (the mask only matters to mask-aware layers,
            # which fastff lacks); fastff embeds padding as zeros
            layer.mask_zero = False
            warnings.warn(f"{path}: Embedding {layer.name!r} has mask_zero=True and a nonzero "
                          "row 0; read with mask_zero=False so predictions match Keras",
                          stacklevel=4)
        for p, a in zip(layer.params, arrays):
            p.assign(a.astype(p.value.dtype, copy=False))


def _model_from(doc: Any, h5: _H5, path: str) -> tuple[Any, list]:
    if not isinstance(doc, dict):
        raise FormatError(f"{path}: the model config must be an object")
    cls = doc.get("class_name")
    if cls == "Sequential":
        return _sequential(doc, h5, path)
    if cls in ("Functional", "Model"):
        return _functional(doc, h5, path)
    raise FormatError(f"{path}: model class {cls!r} is not supported (Sequential and "
                      "Functional only; subclassed models hold code)")


def _compile(model: Any, cfg: Any, h5: _H5, path: str, trainable: list) -> None:
    from fastff import losses, metrics, optimizers

    if not isinstance(cfg, dict) or not cfg:
        return
    opt_spec = cfg.get("optimizer")
    try:
        if isinstance(opt_spec, str):
            opt = optimizers.get(opt_spec)
        elif isinstance(opt_spec, dict):
            ocfg = dict(opt_spec.get("config") or {})
            lr = ocfg.get("learning_rate")
            if isinstance(lr, dict):
                ocfg["learning_rate"] = {"class_name": lr.get("class_name"),
                                         "config": lr.get("config") or {}}
            opt = optimizers.deserialize({"class_name": opt_spec.get("class_name"),
                                          "config": ocfg})
        else:
            raise ValueError("no optimizer")
        loss = cfg.get("loss")
        if isinstance(loss, dict):
            loss = losses.deserialize({"class_name": loss.get("class_name"),
                                       "config": loss.get("config") or {}})
        mets = cfg.get("metrics") or []
        if not isinstance(mets, list):
            raise ValueError("metrics must be a list")
        mets = [m if isinstance(m, str) else metrics.deserialize(
            {"class_name": m.get("class_name"), "config": m.get("config") or {}})
            for m in mets]
        model.compile(optimizer=opt, loss=loss, metrics=mets)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        warnings.warn(f"{path}: the compile config cannot be mapped to fastff ({e}); the "
                      "model is loaded uncompiled", stacklevel=3)
        return
    _restore_optimizer(model, h5, path, trainable)


def _restore_optimizer(model: Any, h5: _H5, path: str, trainable: list) -> None:
    dss = h5.datasets("optimizer")
    if not dss:
        return
    opt = model.optimizer
    groups = _optimizer_groups(opt)
    per_var = sum(len(g) for g in groups or [])
    n_scalar = len(dss) - per_var * len(trainable)
    if groups is None or n_scalar not in (1, 2):
        warnings.warn(f"{path}: the {len(dss)} optimizer variables do not match fastff's "
                      f"{type(opt).__name__} state; weights loaded, optimizer state restarts",
                      stacklevel=4)
        return
    iterations = h5.read(dss[0], (), "optimizer/vars/0", kinds="iuf")
    model._build_optimizer()
    state = opt.get_state()
    offsets = {id(p): o for p, o in model._placement}
    i = n_scalar
    for group in groups:
        for p in trainable:
            o = offsets[id(p)]
            for name in group:
                a = h5.read(dss[i], p.shape, f"optimizer/vars/{i}")
                state[name][o:o + p.size] = a.reshape(-1)
                i += 1
    state["iterations"] = np.asarray(int(iterations), dtype=np.int64)
    opt.set_state(state)


def load_keras(path: str | os.PathLike[str], custom_objects: Mapping[str, Any] | None = None,
               compile: bool = True) -> Any:
    """A fastff model from a Keras 3 ``.keras`` file (Sequential or Functional of the
    mapped layers), compiled (with its optimizer state where the layouts match) when
    ``compile``. ``custom_objects`` is accepted for Keras's signature; custom classes are
    never loaded from a file, so naming one is refused."""
    path = os.fspath(path)
    if custom_objects:
        raise ValueError("load_keras: custom_objects are not supported (fastff reads only "
                         "Keras's own layers from .keras files)")
    doc, weights = _read_zip(path)
    h5 = _H5(path, weights)
    try:
        model, pairs = _model_from(doc, h5, path)
        _assign(pairs, path)
        if compile:
            trainable = [p for la, _ in pairs if model.trainable and la.trainable
                         for p in la.params if p.trainable]
            _compile(model, doc.get("compile_config"), h5, path, trainable)
    except FormatError:
        raise
    except (Exception, MemoryError, RecursionError) as e:
        raise FormatError(f"{path}: invalid Keras model: {type(e).__name__}: {e}") from e
    finally:
        h5.close()
    return model


def load_keras_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Load a Keras 3 ``.weights.h5`` file (or a ``.keras`` file's weights) into a built
    fastff model whose layers correspond to the Keras model's."""
    path = os.fspath(path)
    if not model.built:
        raise ValueError("load_weights: build the model before loading Keras weights")
    if is_keras_zip(path):
        _, data = _read_zip(path)
    else:
        size = os.path.getsize(path)
        if size > _MAX_WEIGHTS:
            raise FormatError(f"{path}: {size} bytes (at most {_MAX_WEIGHTS})")
        with open(path, "rb") as f:
            data = f.read(_MAX_WEIGHTS + 1)
    h5 = _H5(path, data)
    try:
        _, stores, _ = _model_spec(model)
        pairs = []
        for (group, arrays), layer in zip(stores, _ordered_layers(model)):
            shapes = [a.shape for a in arrays]
            dss = h5.datasets(group)
            if len(dss) != len(shapes):
                raise FormatError(f"{path}: {group} holds {len(dss)} variables, layer "
                                  f"{layer.name!r} has {len(shapes)}")
            pairs.append((layer, [h5.read(ds, s, f"{group}/vars/{i}")
                                  for i, (ds, s) in enumerate(zip(dss, shapes))]))
        for layer, arrays in pairs:
            for p, a in zip(layer.params, arrays):
                p.assign(a.astype(p.value.dtype, copy=False))
    finally:
        h5.close()


def _ordered_layers(model: Any) -> list:
    graph = getattr(model, "_graph", None)
    if graph is None:
        return list(model._layers)
    return [graph.sources[-1 - op] if op < 0 else graph.nodes[op][0]
            for op in _functional_order(graph)]
