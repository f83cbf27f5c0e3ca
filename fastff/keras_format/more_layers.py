"""The merge, shaping, preprocessing, noise, pooling and masking layers in Keras 3 files,
both ways: their exact Keras config keys, the variables they store (``PReLU``'s ``alpha``;
an adapted ``Normalization``'s ``mean``, ``variance`` and integer ``count``), and a reader
that checks every field and refuses what fastff's layer cannot express."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.keras_format.fields import (
    choice,
    dim,
    get,
    int_list,
    integer,
    keras_object,
    number,
    numbers,
)
from fastff.keras_format.serial import keras_constraint, keras_init, keras_reg
from fastff.saving import FormatError

MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot")
SHAPING = ("Reshape", "RepeatVector", "Permute", "Identity")
PREPROCESSING = ("Rescaling", "Normalization", "UnitNormalization", "CategoryEncoding",
                 "Discretization")
NOISE = ("GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D")
POOLING = ("GlobalAveragePooling1D", "GlobalMaxPooling1D", "Masking")
#: the classes this module maps
CLASSES = MERGES + ("PReLU",) + SHAPING + PREPROCESSING + NOISE + POOLING
#: layers that take a list of inputs
MULTI_INPUT = MERGES + ("Concatenate",)
#: Keras layers whose constructor takes no ``trainable`` (their config holds none)
_NO_TRAINABLE = ("Discretization", "SpatialDropout1D")
_CE_MODES = ("one_hot", "multi_hot", "count")


def _axis_list(axis: Any) -> list[int]:
    return [axis] if isinstance(axis, int) else list(axis)


def write_config(layer: Any, base: dict) -> tuple[str, dict] | None:
    """(Keras class, Keras config) of one of this module's fastff layers (None: another
    class); refuses a setting Keras's layer lacks."""
    cls = type(layer).__name__
    if cls not in CLASSES:
        return None
    if cls in _NO_TRAINABLE:
        base = {"name": base["name"], "dtype": base["dtype"]["config"]["name"]}
    if cls in MERGES[:-1] or cls == "Identity":
        return cls, dict(base)
    if cls == "Dot":
        a, b = layer.axes
        return cls, {**base, "axes": a if a == b else [a, b], "normalize": layer.normalize}
    if cls == "PReLU":
        return cls, {**base, "alpha_initializer": keras_init(layer.alpha_initializer),
                     "alpha_regularizer": keras_reg(layer.alpha_regularizer),
                     "alpha_constraint": keras_constraint(layer.alpha_constraint),
                     "shared_axes": None if layer.shared_axes is None
                     else list(layer.shared_axes)}
    if cls == "Reshape":
        return cls, {**base, "target_shape": list(layer.target_shape)}
    if cls == "RepeatVector":
        return cls, {**base, "n": layer.n}
    if cls == "Permute":
        return cls, {**base, "dims": list(layer.dims)}
    if cls == "Rescaling":
        return cls, {**base, "scale": layer.scale, "offset": layer.offset}
    if cls == "Normalization":
        return cls, {**base, "axis": [] if layer.axis is None else _axis_list(layer.axis),
                     "invert": layer.invert,
                     "mean": None if layer.input_mean is None else layer.input_mean.tolist(),
                     "variance": None if layer.input_variance is None
                     else layer.input_variance.tolist()}
    if cls == "UnitNormalization":
        return cls, {**base, "axis": layer.axis}
    if cls == "CategoryEncoding":
        cfg = {**base, "num_tokens": layer.num_tokens, "output_mode": layer.output_mode}
        if layer.sparse:
            cfg["sparse"] = True
        return cls, cfg
    if cls == "Discretization":
        return cls, {"bin_boundaries": layer.bin_boundaries, "num_bins": layer.num_bins,
                     "epsilon": layer.epsilon, "output_mode": layer.output_mode,
                     "sparse": layer.sparse, **base}
    if cls == "GaussianNoise":
        if layer.stddev > 1.0:  # Keras's constructor refuses it
            raise ValueError(f"save_keras: layer {layer.name!r} (GaussianNoise): stddev="
                             f"{layer.stddev} is over 1, which Keras 3 refuses")
        return cls, {**base, "stddev": layer.stddev, "seed": layer.seed}
    if cls == "GaussianDropout":
        return cls, {**base, "rate": layer.rate, "seed": layer.seed}
    if cls == "AlphaDropout":
        return cls, {**base, "rate": layer.rate, "seed": layer.seed,
                     "noise_shape": None if layer.noise_shape is None
                     else list(layer.noise_shape)}
    if cls == "SpatialDropout1D":
        return cls, {"rate": layer.rate, "seed": layer.seed, **base}
    if cls in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return cls, {**base, "data_format": layer.data_format, "keepdims": layer.keepdims}
    return cls, {**base, "mask_value": layer.mask_value}  # Masking


def write_weights(layer: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The arrays as Keras stores them (``Normalization``'s ``count`` is an int64 scalar;
    fastff keeps it as a one-element float)."""
    if type(layer).__name__ == "Normalization" and len(arrays) == 3:
        arrays[2] = np.asarray(np.rint(arrays[2]), dtype=np.int64).reshape(())
    return arrays


def _seed(cfg: dict, path: str, what: str) -> int | None:
    return integer(cfg, "seed", None, path, what, allow_none=True)


def _rate(cfg: dict, path: str, what: str) -> float:
    rate = number(cfg, "rate", None, path, what, low=0.0)
    if rate >= 1.0:
        raise FormatError(f"{path}: {what}.rate must be in [0, 1), got {rate!r}")
    return rate


def _noise_shape(cfg: dict, path: str, what: str) -> tuple | None:
    v = cfg.get("noise_shape")
    if v is None:
        return None
    if not isinstance(v, list) or not v or len(v) > 64 or any(
            d is not None and (isinstance(d, bool) or not isinstance(d, int) or d <= 0)
            for d in v):
        raise FormatError(f"{path}: {what}.noise_shape must be a list of positive integers "
                          f"or nulls, got {v!r}")
    return tuple(v)


def _data_format(cfg: dict, path: str, what: str) -> str:
    v = cfg.get("data_format")
    return choice({"data_format": "channels_last" if v is None else v}, "data_format",
                  "channels_last", ("channels_last", "channels_first"), path, what)


def build(cls: str, cfg: dict, path: str, what: str, common: dict) -> Any:
    """The fastff layer of one of this module's Keras classes (every field checked)."""
    from fastff import constraints, initializers, layers, regularizers

    def flag(key: str, default: bool) -> bool:
        return bool(get(cfg, key, bool, path, what, default))

    if cls in MERGES[:-1] or cls == "Identity":
        return getattr(layers, cls)(**common)
    if cls == "Dot":
        axes = cfg.get("axes")
        axes = axes if isinstance(axes, int) and not isinstance(axes, bool) else \
            int_list(axes, path, f"{what}.axes")
        if isinstance(axes, list) and len(axes) != 2:
            raise FormatError(f"{path}: {what}.axes must be an integer or a pair, got {axes!r}")
        return layers.Dot(axes=axes, normalize=flag("normalize", False), **common)
    if cls == "PReLU":
        shared = cfg.get("shared_axes")
        if shared is not None:
            shared = [shared] if isinstance(shared, int) and not isinstance(shared, bool) \
                else int_list(shared, path, f"{what}.shared_axes", low=1)
        return layers.PReLU(
            alpha_initializer=keras_object(cfg.get("alpha_initializer", "zeros"), initializers,
                                           "initializer", path, what) or "zeros",
            alpha_regularizer=keras_object(cfg.get("alpha_regularizer"), regularizers,
                                           "regularizer", path, what),
            alpha_constraint=keras_object(cfg.get("alpha_constraint"), constraints,
                                          "constraint", path, what),
            shared_axes=shared, **common)
    if cls == "Reshape":
        return layers.Reshape(int_list(cfg.get("target_shape"), path,
                                       f"{what}.target_shape", low=-1), **common)
    if cls == "RepeatVector":
        return layers.RepeatVector(dim(cfg.get("n"), path, f"{what}.n"), **common)
    if cls == "Permute":
        return layers.Permute(int_list(cfg.get("dims"), path, f"{what}.dims", low=1), **common)
    if cls == "Rescaling":
        return layers.Rescaling(numbers(cfg.get("scale"), path, f"{what}.scale"),
                                numbers(cfg.get("offset", 0.0), path, f"{what}.offset"),
                                **common)
    if cls == "Normalization":
        axis = cfg.get("axis", -1)
        axis = None if axis in ([], None) else axis if isinstance(axis, int) and \
            not isinstance(axis, bool) else int_list(axis, path, f"{what}.axis")
        mean, var = cfg.get("mean"), cfg.get("variance")
        if (mean is None) != (var is None):
            raise FormatError(f"{path}: {what}: give both mean and variance, or neither")
        if mean is not None:
            mean = numbers(mean, path, f"{what}.mean")
            var = numbers(var, path, f"{what}.variance")
            if np.any(np.asarray(var, dtype=np.float64) < 0):
                raise FormatError(f"{path}: {what}.variance must be >= 0")
        return layers.Normalization(axis=axis, mean=mean, variance=var,
                                    invert=flag("invert", False), **common)
    if cls == "UnitNormalization":
        axis = cfg.get("axis", -1)
        axis = axis if isinstance(axis, int) and not isinstance(axis, bool) else \
            int_list(axis, path, f"{what}.axis")
        return layers.UnitNormalization(axis=axis, **common)
    if cls == "CategoryEncoding":
        return layers.CategoryEncoding(
            num_tokens=dim(cfg.get("num_tokens"), path, f"{what}.num_tokens"),
            output_mode=choice(cfg, "output_mode", "multi_hot", _CE_MODES, path, what),
            sparse=flag("sparse", False), **common)
    if cls == "Discretization":
        bounds = cfg.get("bin_boundaries")
        if bounds is not None:
            bounds = numbers(bounds, path, f"{what}.bin_boundaries")
            if not isinstance(bounds, list) or any(isinstance(b, list) for b in bounds):
                raise FormatError(f"{path}: {what}.bin_boundaries must be a flat list")
            if any(a > b for a, b in zip(bounds, bounds[1:])):
                raise FormatError(f"{path}: {what}.bin_boundaries must be sorted")
        bins = integer(cfg, "num_bins", None, path, what, low=1, allow_none=True)
        if bounds is not None:
            bins = None  # Keras keeps the boundaries and drops num_bins when both are given
        return layers.Discretization(
            bin_boundaries=bounds, num_bins=bins,
            epsilon=number(cfg, "epsilon", 0.01, path, what, low=0.0),
            output_mode=choice(cfg, "output_mode", "int", ("int", *_CE_MODES), path, what),
            sparse=flag("sparse", False), **common)
    if cls == "GaussianNoise":
        return layers.GaussianNoise(number(cfg, "stddev", None, path, what, low=0.0),
                                    seed=_seed(cfg, path, what), **common)
    if cls in ("GaussianDropout", "SpatialDropout1D"):
        return getattr(layers, cls)(_rate(cfg, path, what), seed=_seed(cfg, path, what),
                                    **common)
    if cls == "AlphaDropout":
        return layers.AlphaDropout(_rate(cfg, path, what),
                                   noise_shape=_noise_shape(cfg, path, what),
                                   seed=_seed(cfg, path, what), **common)
    if cls in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return getattr(layers, cls)(data_format=_data_format(cfg, path, what),
                                    keepdims=flag("keepdims", False), **common)
    return layers.Masking(mask_value=number(cfg, "mask_value", 0.0, path, what), **common)


def weight_shapes(layer: Any, in_shape: Any) -> list[tuple[tuple[int, ...], str]] | None:
    """``[(shape, dtype kinds)]`` of the variables the Keras layer stores, from its config
    and input shape (None: not one of this module's layers)."""
    cls = type(layer).__name__
    if cls not in CLASSES:
        return None
    shape = tuple(in_shape) if isinstance(in_shape, tuple) else ()
    if cls == "PReLU":
        out = list(shape)
        for a in layer.shared_axes or ():
            if a > len(out):
                raise ValueError(f"PReLU {layer.name!r}: shared axis {a} is out of range for "
                                 f"inputs of shape {(None, *shape)}")
            out[a - 1] = 1
        return [(tuple(out), "f")]
    if cls == "Normalization" and layer.input_mean is None:
        stat = layer._stat_shape(shape)[0]
        return [(stat, "f"), (stat, "f"), ((), "iuf")]
    return []
