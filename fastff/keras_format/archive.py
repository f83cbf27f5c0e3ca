"""Hostile-file-safe reading of the containers: the ``.keras`` zip (declared sizes and
compression ratios checked before extracting, bounded reads), its JSON (size, depth, no
code objects) and the HDF5 weights (every dataset's dtype and shape checked before reading).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import numpy as np

from fastff.keras_format.layout import (
    CONFIG_NAME,
    H5_MAGIC,
    MAX_WEIGHTS,
    METADATA_NAME,
    WEIGHTS_NAME,
    is_keras_zip,
)
from fastff.saving import FormatError

_MAX_ENTRIES = 4096
_MAX_ASSETS = 256 << 20     # bytes of all assets/ files together
_MAX_JSON = 16 << 20          # a model config is kilobytes
_MAX_RATIO = 200              # declared uncompressed / compressed size of a zip member
_MAX_DEPTH = 64               # nesting of the config JSON


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


def _check_depth(obj: Any, path: str, depth: int = 0, layer_list: bool = False) -> None:
    if depth > _MAX_DEPTH:
        raise FormatError(f"{path}: config nests deeper than {_MAX_DEPTH} levels")
    if isinstance(obj, dict):
        cls = obj.get("class_name")
        if cls in ("__lambda__", "Lambda", "function", "__function__") or "__lambda__" in obj:
            raise FormatError(f"{path}: the config holds a {cls or '__lambda__'!r} object "
                              "(code); fastff never loads code from a file")
        module = obj.get("module")
        # (the model itself, depth 0, may be a subclass, and a model's layer may be a custom
        # class: their classes must then come from the caller's custom_objects or the
        # registry, never from the file: keras_format.tracked and keras_format.custom)
        if depth and not layer_list and isinstance(module, str) and cls is not None \
                and not module.startswith("keras"):
            raise FormatError(f"{path}: the config names {cls!r} from module {module!r}; "
                              "only Keras's own classes are read here (no custom code)")
        for k, v in obj.items():
            _check_depth(v, path, depth + 1, k == "layers" and isinstance(v, list))
    elif isinstance(obj, list):
        for v in obj:
            _check_depth(v, path, depth + 1, layer_list)


def _parse_json(path: str, data: bytes, what: str) -> Any:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(f"{path}: {what} is not valid JSON: {e}") from None
    _check_depth(doc, path)
    return doc


def read_zip(path: str, with_assets: bool = False) -> Any:
    """``(config, weights bytes)`` of a ``.keras`` archive, and with ``with_assets`` its
    ``assets/`` files as ``{zip name: bytes}`` (each at most ``lookups.MAX_ASSET`` bytes),
    every member's size checked before it is read."""
    from fastff.keras_format.lookups import ASSETS_DIR, MAX_ASSET

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
        for need in (CONFIG_NAME, WEIGHTS_NAME):
            if need not in by_name:
                raise FormatError(f"{path}: not a Keras 3 .keras file: no {need}")
        declared = sum(i.file_size for i in infos)
        if declared > _MAX_RATIO * max(size, 1) + (1 << 20):
            raise FormatError(f"{path}: the entries declare {declared} bytes for a "
                              f"{size}-byte archive (a zip bomb?)")
        try:
            if METADATA_NAME in by_name:
                meta = _parse_json(path, _read_member(path, z, by_name[METADATA_NAME], _MAX_JSON),
                                   METADATA_NAME)
                if not isinstance(meta, dict):
                    raise FormatError(f"{path}: {METADATA_NAME} must be an object")
            config = _parse_json(path, _read_member(path, z, by_name[CONFIG_NAME], _MAX_JSON),
                                 CONFIG_NAME)
            weights = _read_member(path, z, by_name[WEIGHTS_NAME], MAX_WEIGHTS)
            assets = {}
            if with_assets:
                infos_ = [i for n, i in by_name.items()
                          if n.startswith(ASSETS_DIR + "/") and not i.is_dir()]
                total = sum(i.file_size for i in infos_)
                if total > _MAX_ASSETS:
                    raise FormatError(f"{path}: the assets declare {total} bytes (at most "
                                      f"{_MAX_ASSETS})")
                for info in infos_:
                    assets[info.filename] = _read_member(path, z, info, MAX_ASSET)
        except FormatError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError,
                NotImplementedError) as e:
            raise FormatError(f"{path}: damaged zip entry: {type(e).__name__}: {e}") from None
    if not isinstance(config, dict):
        raise FormatError(f"{path}: {CONFIG_NAME} must be an object")
    return (config, weights, assets) if with_assets else (config, weights)


class H5Weights:
    """A read-only view of a Keras weights file, every array checked before it is read."""

    def __init__(self, path: str, data: bytes):
        import h5py

        self.path, self.size = path, len(data)
        if not data.startswith(H5_MAGIC):
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


def weights_bytes(path: str) -> bytes:
    """The HDF5 weights of a ``.keras`` zip or of a ``.weights.h5`` file (size-bounded)."""
    if is_keras_zip(path):
        return read_zip(path)[1]
    size = os.path.getsize(path)
    if size > MAX_WEIGHTS:
        raise FormatError(f"{path}: {size} bytes (at most {MAX_WEIGHTS})")
    with open(path, "rb") as f:
        return f.read(MAX_WEIGHTS + 1)
