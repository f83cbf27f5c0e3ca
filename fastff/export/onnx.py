"""Export a built Sequential or functional ``Model`` to an ONNX file (inference only).

Every built-in layer is written as the ONNX operators that compute what its ``forward``
computes at inference (Dropout and the noise layers are the identity): Dense as ``Gemm`` plus
its activation (a BatchNormalization right after a linear Dense folds into its weights),
Embedding / WindowEmbedding / EmbeddingBag as ``Gather`` over a table whose padding row is
zeroed (the layers embed padding to zeros and leave it out of a bag's mean), Bucketize as
comparisons against the boundaries (``side="right"``, NaN in the last bucket, as NumPy's
``searchsorted``), optionally ``OneHot``, the lookup layers as ``ai.onnx.ml.LabelEncoder``.
Masks from ``Embedding(mask_zero=True)`` and ``Masking`` reach ``GlobalAveragePooling1D``
as in ``predict``; models used as layers are inlined. The batch axis is dynamic; inputs keep
their names (a functional model's ``Input`` names). Needs the optional ``onnx`` package
(``pip install fastff[onnx]``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fastff.export import _graph
from fastff.export._graph import host as _host

__all__ = ["export_onnx", "MIN_OPSET"]

MIN_OPSET = 17  # LayerNormalization era; every operator used here exists at 17
_BATCH = "batch"
_ML_OPSET = 2  # ai.onnx.ml: LabelEncoder with int64 keys


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("export_onnx needs the 'onnx' package: pip install fastff[onnx]") from e
    return onnx


class _Graph:
    """Nodes, initializers and the element dtype of every tensor of the graph being built."""

    def __init__(self, onnx: Any):
        self.onnx = onnx
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.dtypes: dict[str, np.dtype] = {}
        self._count = 0
        self.reserved: set[str] = set()  # the graph's input and output names
        self.opset = MIN_OPSET
        self.ml = False  # some node is in the ai.onnx.ml domain (LabelEncoder)

    def fresh(self, hint: str) -> str:
        """A new tensor name (never one of the graph's input or output names)."""
        while True:
            self._count += 1
            name = f"{hint}_{self._count}"
            if name not in self.reserved:
                return name

    def const(self, hint: str, value: Any, dtype: Any = None) -> str:
        a = np.asarray(value, dtype=dtype)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(a), name))
        self.dtypes[name] = a.dtype
        return name

    def op(self, op_type: str, inputs: Sequence[str], dtype: Any, hint: str, **attrs: Any) -> str:
        out = self.fresh(hint)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out],
                                                     name=out, **attrs))
        self.dtypes[out] = np.dtype(dtype)
        return out

    def cast(self, x: str, dtype: Any, hint: str) -> str:
        dt = np.dtype(dtype)
        if self.dtypes[x] == dt:
            return x
        to = self.onnx.helper.np_dtype_to_tensor_dtype(dt)
        return self.op("Cast", [x], dt, hint, to=to)

    def as_ids(self, x: str, hint: str) -> str:
        """Integer ids as the embedding layers take them (float ids are rounded, as
        ``fastff.layers.embedding.as_ids`` does)."""
        dt = self.dtypes[x]
        if dt.kind in "iu":
            return x
        return self.cast(self.op("Round", [x], dt, hint + "_round"), np.int64, hint + "_ids")


# ---------------------------------------------------------------------------- activations
def _activation(g: _Graph, act: Any, x: str, hint: str) -> str:
    """``act(x)`` as ONNX nodes (same formulas as the NumPy reference backend)."""
    if not getattr(act, "builtin", False):
        raise ValueError(f"export_onnx: layer {hint!r} uses the custom activation "
                         f"{act.name!r} ({type(act).__name__}), which has no ONNX form")
    name, dt = act.name, g.dtypes[x]

    def c(v: float) -> str:
        return g.const(f"{hint}_c", v, dt)

    if name == "linear":
        return x
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softsign": "Softsign",
              "exponential": "Exp"}
    if name in simple:
        return g.op(simple[name], [x], dt, f"{hint}_{name}")
    if name in ("softmax", "log_softmax"):
        op = "Softmax" if name == "softmax" else "LogSoftmax"
        return g.op(op, [x], dt, f"{hint}_{name}", axis=-1)
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], dt, f"{hint}_{name}", alpha=act.param)
    if name == "elu":  # where(x > 0, x, alpha (exp(x) - 1)): ONNX Runtime's Elu is float32 only
        neg = g.op("Mul", [g.op("Sub", [g.op("Exp", [x], dt, f"{hint}_exp"), c(1.0)], dt,
                                f"{hint}_expm1"), c(act.param)], dt, f"{hint}_neg")
        pos = g.op("Greater", [x, c(0.0)], np.bool_, f"{hint}_pos")
        return g.op("Where", [pos, x, neg], dt, f"{hint}_elu")
    if name == "selu":
        from fastff.backend.numpy_ops import SELU_ALPHA, SELU_SCALE

        return g.op("Selu", [x], dt, f"{hint}_{name}", alpha=SELU_ALPHA, gamma=SELU_SCALE)
    if name == "hard_sigmoid":
        return g.op("HardSigmoid", [x], dt, f"{hint}_{name}", alpha=1.0 / 6.0, beta=0.5)
    if name == "gelu":  # exact: 0.5 x (1 + erf(x / sqrt 2)) (ONNX's Gelu needs opset 20)
        e = g.op("Erf", [g.op("Mul", [x, c(math.sqrt(0.5))], dt, f"{hint}_scaled")], dt,
                 f"{hint}_erf")
        half_x = g.op("Mul", [x, c(0.5)], dt, f"{hint}_half")
        return g.op("Mul", [half_x, g.op("Add", [e, c(1.0)], dt, f"{hint}_1p")], dt,
                    f"{hint}_gelu")
    if name == "softplus":  # max(x, 0) + log(1 + exp(-|x|)): no overflow for large x
        neg_abs = g.op("Neg", [g.op("Abs", [x], dt, f"{hint}_abs")], dt, f"{hint}_nabs")
        log1p = g.op("Log", [g.op("Add", [g.op("Exp", [neg_abs], dt, f"{hint}_exp"), c(1.0)],
                                  dt, f"{hint}_1p")], dt, f"{hint}_log")
        return g.op("Add", [g.op("Relu", [x], dt, f"{hint}_pos"), log1p], dt, f"{hint}_softplus")
    if name in ("silu", "swish"):
        return g.op("Mul", [x, g.op("Sigmoid", [x], dt, f"{hint}_sig")], dt, f"{hint}_{name}")
    return _activation_more(g, act, x, hint, c)


def _where(g: _Graph, cmp: str, x: str, bound: str, yes: str, no: str, hint: str) -> str:
    dt = g.dtypes[x]
    return g.op("Where", [g.op(cmp, [x, bound], np.bool_, f"{hint}_cmp"), yes, no], dt,
                f"{hint}_where")


def _clip(g: _Graph, x: str, lo: str, hi: str, hint: str) -> str:
    """``lo if x < lo else (hi if x > hi else x)`` (NaN stays NaN, as the kernels)."""
    return _where(g, "Less", x, lo, lo, _where(g, "Greater", x, hi, hi, x, hint + "_hi"),
                  hint + "_lo")


def _in_band(g: _Graph, x: str, p: str, hint: str) -> str:
    """``-p <= x <= p`` (false for NaN)."""
    dt = g.dtypes[x]
    neg = g.op("Neg", [p], dt, f"{hint}_negp")
    return g.op("And", [g.op("GreaterOrEqual", [x, neg], np.bool_, f"{hint}_ge"),
                        g.op("LessOrEqual", [x, p], np.bool_, f"{hint}_le")], np.bool_,
                f"{hint}_band")


def _activation_more(g: _Graph, act: Any, x: str, hint: str, c: Any) -> str:
    """The per-element activations Keras 3 added (relu6 ... squareplus), as the kernels'
    formulas (``backend/scalar_act.py``)."""
    name, dt = act.name, g.dtypes[x]
    h = f"{hint}_{name}"

    def op(kind: str, args: list, tag: str) -> str:
        return g.op(kind, args, dt, f"{h}_{tag}")

    def log1p_exp_neg_abs() -> str:
        e = op("Exp", [op("Neg", [op("Abs", [x], "abs")], "nabs")], "exp")
        return op("Log", [op("Add", [e, c(1.0)], "1p")], "log")

    if name == "relu6":
        return _clip(g, x, c(0.0), c(6.0), h)
    if name == "hard_tanh":
        return _clip(g, x, c(-1.0), c(1.0), h)
    if name in ("hard_silu", "hard_swish"):
        r = _clip(g, op("Add", [x, c(3.0)], "p3"), c(0.0), c(6.0), h)
        return op("Div", [op("Mul", [x, r], "xr"), c(6.0)], "out")
    if name == "mish":
        sp = op("Add", [op("Relu", [x], "pos"), log1p_exp_neg_abs()], "sp")
        return op("Mul", [x, op("Tanh", [sp], "tanh")], "out")
    if name == "log_sigmoid":
        neg = _where(g, "Less", x, c(0.0), x, c(0.0), h + "_min")
        return op("Sub", [neg, log1p_exp_neg_abs()], "out")
    if name == "celu":
        a = c(act.param)
        neg = op("Mul", [op("Sub", [op("Exp", [op("Div", [x, a], "xa")], "exp"), c(1.0)],
                            "em1"), a], "neg")
        return _where(g, "Greater", x, c(0.0), x, neg, h)
    if name in ("hard_shrink", "soft_shrink"):
        p = c(act.param)
        rest = x if name == "hard_shrink" else _where(
            g, "Greater", x, p, op("Sub", [x, p], "sub"), op("Add", [x, p], "add"), h + "_s")
        return g.op("Where", [_in_band(g, x, p, h), c(0.0), rest], dt, f"{h}_out")
    if name == "tanh_shrink":
        return op("Sub", [x, op("Tanh", [x], "tanh")], "out")
    if name == "sparse_plus":
        x1 = op("Add", [x, c(1.0)], "x1")
        mid = op("Mul", [c(0.25), op("Mul", [x1, x1], "sq")], "mid")
        return _where(g, "LessOrEqual", x, c(-1.0), c(0.0),
                      _where(g, "Less", x, c(1.0), mid, x, h + "_hi"), h)
    if name == "sparse_sigmoid":
        mid = op("Mul", [c(0.5), op("Add", [x, c(1.0)], "x1")], "mid")
        return _where(g, "LessOrEqual", x, c(-1.0), c(0.0),
                      _where(g, "GreaterOrEqual", x, c(1.0), c(1.0), mid, h + "_hi"), h)
    if name == "squareplus":
        root = op("Sqrt", [op("Add", [op("Mul", [x, x], "sq"), c(act.param)], "sum")], "sqrt")
        return op("Div", [op("Add", [x, root], "add"), c(2.0)], "out")
    raise ValueError(f"export_onnx: layer {hint!r}: activation {name!r} has no ONNX form")


# ---------------------------------------------------------------------------- layers
def _dense(g: _Graph, layer: Any, x: str) -> str:
    w = np.asarray(_host(layer.kernel.value))
    x = g.cast(x, w.dtype, f"{layer.name}_in")
    kernel = g.const(f"{layer.name}_kernel", w)
    if layer.bias is not None:
        bias = g.const(f"{layer.name}_bias", np.asarray(_host(layer.bias.value)))
        z = g.op("Gemm", [x, kernel, bias], w.dtype, f"{layer.name}_gemm")
    else:
        z = g.op("MatMul", [x, kernel], w.dtype, f"{layer.name}_matmul")
    return _activation(g, layer.activation, z, layer.name)


def _activation_layer(g: _Graph, layer: Any, x: str) -> str:
    _last_axis_only(layer, "export_onnx")
    return _activation(g, layer.activation, x, layer.name)


def _last_axis_only(layer: Any, who: str) -> None:
    """Refuse a ``Softmax`` over another axis than the last (its activation is the last
    axis's)."""
    over_last = getattr(layer, "_over_last", None)
    if over_last is not None and not over_last():
        raise ValueError(f"{who}: layer {layer.name!r}: Softmax over axis {layer.axis!r} is "
                         "not exported (only the last axis)")


def _identity(g: _Graph, layer: Any, x: str) -> str:
    return x


def _prelu(g: _Graph, layer: Any, x: str) -> str:
    """``PRelu`` with the learned slopes (per sample position; broadcast over the batch)."""
    slope = g.const(f"{layer.name}_alpha", _host(layer.alpha.value))
    return g.op("PRelu", [x, slope], g.dtypes[x], f"{layer.name}_prelu")


def _flatten(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Flatten", [x], g.dtypes[x], f"{layer.name}_flatten", axis=1)


def _table(g: _Graph, layer: Any, pad: int) -> tuple[str, np.dtype]:
    """The embedding table with the padding row zeroed (padding embeds to zeros)."""
    table = np.array(_host(layer.embeddings.value), copy=True)
    if 0 <= pad < table.shape[0]:
        table[pad] = 0
    return g.const(f"{layer.name}_embeddings", table), table.dtype


def _embedding(g: _Graph, layer: Any, x: str) -> str:
    ids = g.as_ids(x, layer.name)
    table, dt = _table(g, layer, layer.pad_id)
    return g.op("Gather", [table, ids], dt, f"{layer.name}_gather", axis=0)


def _window_embedding(g: _Graph, layer: Any, x: str) -> str:
    rows = _embedding(g, layer, x)  # (n, W, D) -> the concatenation (n, W*D)
    return g.op("Flatten", [rows], g.dtypes[rows], f"{layer.name}_concat", axis=1)


def _embedding_bag(g: _Graph, layer: Any, x: str) -> str:
    ids = g.as_ids(x, layer.name)
    pad = layer.pad_id
    table, dt = _table(g, layer, pad)
    rows = g.op("Gather", [table, ids], dt, f"{layer.name}_gather", axis=0)  # (n, L, D)
    axis1 = g.const(f"{layer.name}_axis", [1], np.int64)
    total = g.op("ReduceSum", [rows, axis1], dt, f"{layer.name}_sum", keepdims=0)
    if layer.mode == "sum":
        return total
    # mean over the non-padding ids; a row of padding only stays zero (count clipped to 1)
    pad_c = g.const(f"{layer.name}_pad", np.asarray(pad, dtype=g.dtypes[ids]))
    keep = g.op("Not", [g.op("Equal", [ids, pad_c], np.bool_, f"{layer.name}_is_pad")],
                np.bool_, f"{layer.name}_keep")
    count = g.op("ReduceSum", [g.cast(keep, dt, f"{layer.name}_keepf"), axis1], dt,
                 f"{layer.name}_count", keepdims=1)
    count = g.op("Max", [count, g.const(f"{layer.name}_one", 1.0, dt)], dt,
                 f"{layer.name}_count1")
    inv = g.op("Reciprocal", [count], dt, f"{layer.name}_inv")
    return g.op("Mul", [total, inv], dt, f"{layer.name}_mean")


def _bucket_ids(g: _Graph, name: str, x: str, boundaries: Any) -> str:
    """(n, k) int64 ids: the count of boundaries ``<= x`` (``searchsorted(side="right")``,
    ``np.digitize`` on increasing bins; NaN counts all)."""
    dt = g.dtypes[x]
    if dt.kind != "f":
        x, dt = g.cast(x, np.float64, f"{name}_in"), np.dtype(np.float64)
    edges = np.asarray(boundaries, dtype=np.float64)
    if dt != np.float64:
        # x >= b (float64) holds exactly when x >= the smallest value of x's dtype >= b
        low = edges.astype(dt)
        edges = np.where(low < edges, np.nextafter(low, dt.type(np.inf)), low).astype(dt)
    flat = g.op("Flatten", [x], dt, f"{name}_flat", axis=1)                    # (n, k)
    col = g.op("Unsqueeze", [flat, g.const(f"{name}_axis", [-1], np.int64)], dt,
               f"{name}_col")                                                 # (n, k, 1)
    # not (x < b): x >= b, and true for NaN, so NaN lands in the last bucket like searchsorted
    above = g.op("Not", [g.op("Less", [col, g.const(f"{name}_edges", edges)], np.bool_,
                              f"{name}_less")], np.bool_, f"{name}_ge")
    return g.op("ReduceSum", [g.cast(above, np.int64, f"{name}_gei"),
                              g.const(f"{name}_last", [-1], np.int64)], np.int64,
                f"{name}_ids", keepdims=0)                                    # (n, k)


def _bucketize(g: _Graph, layer: Any, x: str) -> str:
    name = layer.name
    ids = _bucket_ids(g, name, x, layer.boundaries)
    if layer.output_mode == "int":
        return ids
    out_dt = np.dtype(layer.dtype or np.float32)
    hot = g.op("OneHot", [ids, g.const(f"{name}_depth", [layer.n_buckets], np.int64),
                          g.const(f"{name}_values", [0, 1], out_dt)], out_dt,
               f"{name}_onehot", axis=-1)                                     # (n, k, b)
    return g.op("Flatten", [hot], out_dt, f"{name}_one_hot", axis=1)


def _encode(g: _Graph, layer: Any, ids: str, mode: str, depth: int) -> str:
    """Keras's one_hot / multi_hot / count encodings of (n, k) int64 ids (ONNX's OneHot does
    not check the range as ``predict`` does)."""
    name = layer.name
    out_dt = np.dtype(layer.dtype or np.float32)
    hot = g.op("OneHot", [ids, g.const(f"{name}_depth", [depth], np.int64),
                          g.const(f"{name}_values", [0, 1], out_dt)], out_dt,
               f"{name}_onehot", axis=-1)                                     # (n, k, depth)
    if mode == "one_hot":
        shape = [-1, *layer.compute_output_shape(_sample_shape(layer))]
        return g.op("Reshape", [hot, g.const(f"{name}_shape", shape, np.int64)], out_dt,
                    f"{name}_one_hot")
    op = "ReduceMax" if mode == "multi_hot" else "ReduceSum"
    if op == "ReduceSum" or g.opset >= 18:
        return g.op(op, [hot, g.const(f"{name}_axis", [1], np.int64)], out_dt,
                    f"{name}_{mode}", keepdims=0)
    return g.op(op, [hot], out_dt, f"{name}_{mode}", axes=[1], keepdims=0)


def _two_d(layer: Any) -> None:
    if len(_sample_shape(layer)) != 1:
        raise ValueError(f"export_onnx: layer {layer.name!r} ({type(layer).__name__}) takes "
                         f"(batch, k) inputs, got per-sample shape {_sample_shape(layer)}")


def _category_encoding(g: _Graph, layer: Any, x: str) -> str:
    _two_d(layer)
    ids = g.cast(g.as_ids(x, layer.name), np.int64, f"{layer.name}_i64")
    return _encode(g, layer, ids, layer.output_mode, int(layer.num_tokens))


def _discretization(g: _Graph, layer: Any, x: str) -> str:
    if layer.bin_boundaries is None:
        raise ValueError(f"export_onnx: layer {layer.name!r} (Discretization) has no bin "
                         "boundaries; pass bin_boundaries or call adapt() first")
    _two_d(layer)
    ids = _bucket_ids(g, layer.name, x, layer.bin_boundaries)
    if layer.output_mode == "int":
        return ids
    return _encode(g, layer, ids, layer.output_mode, int(layer._depth))


_MISS = -(1 << 62)  # what LabelEncoder gives a token outside the vocabulary (no real index)


def _lookup(g: _Graph, layer: Any, x: str) -> str:
    """``IntegerLookup`` / ``StringLookup``: ``ai.onnx.ml.LabelEncoder`` from the vocabulary
    (and the mask token) to Keras's indices; a token outside it gets an OOV slot (an
    integer's is ``token % num_oov_indices``; a string's only with one slot: the layer's
    CRC-32 slots have no ONNX form). ``invert`` is a ``Gather`` from the vocabulary. With
    ``num_oov_indices=0`` an unknown token, which ``predict`` refuses, gives index -1 (and
    sets nothing in the encodings)."""
    name, kind = layer.name, type(layer).__name__
    strings = kind == "StringLookup"
    if layer.invert:
        return _lookup_invert(g, layer, x, strings)
    if strings and layer.num_oov_indices > 1:
        raise ValueError(f"export_onnx: layer {name!r} (StringLookup) with num_oov_indices="
                         f"{layer.num_oov_indices} cannot be exported: its CRC-32 OOV slots "
                         "have no ONNX form (use num_oov_indices=1)")
    encoded = layer.output_mode != "int"
    depth = (layer.max_tokens if layer.pad_to_max_tokens and layer.max_tokens
             else layer.vocabulary_size())
    if encoded:
        _two_d(layer)
    unknown = depth if encoded else -1  # a dropped / refused token: past the encoding
    keys = list(layer._vocab)
    values = [i + layer._offset for i in range(len(keys))]
    if layer.mask_token is not None:
        keys.append(layer.mask_token)
        values.append(0 if layer._use_mask else unknown)
    n_oov = layer.num_oov_indices
    base = int(layer._use_mask)
    if not strings:  # LabelEncoder's keys are int64
        x = g.cast(x, np.int64, f"{name}_in")
    default = _MISS if n_oov and not strings else (base if n_oov else unknown)
    if not keys:
        keys, values = ["" if strings else 0], [default]  # LabelEncoder needs one key
    g.ml = True
    attrs = ({"keys_strings": [str(k) for k in keys]} if strings
             else {"keys_int64s": [int(k) for k in keys]})
    ids = g.op("LabelEncoder", [x], np.int64, f"{name}_lookup", domain="ai.onnx.ml",
               values_int64s=[int(v) for v in values], default_int64=int(default), **attrs)
    if default == _MISS:
        miss = g.op("Equal", [ids, g.const(f"{name}_miss", _MISS, np.int64)], np.bool_,
                    f"{name}_is_oov")
        slot = g.op("Mod", [x, g.const(f"{name}_n_oov", n_oov, np.int64)], np.int64,
                    f"{name}_slot")
        if base:
            slot = g.op("Add", [slot, g.const(f"{name}_base", base, np.int64)], np.int64,
                        f"{name}_oov")
        ids = g.op("Where", [miss, slot, ids], np.int64, f"{name}_ids")
    if not encoded:
        return ids
    return _encode(g, layer, ids, layer.output_mode, int(depth))


def _lookup_invert(g: _Graph, layer: Any, x: str, strings: bool) -> str:
    """Indices back to tokens (an index outside the vocabulary: the OOV token); float
    indices truncate as ``astype(int64)``."""
    name = layer.name
    vocab = layer.get_vocabulary()
    table = np.array([str(t) for t in vocab] if strings else vocab,
                     dtype=object if strings else np.int64)
    oov = np.array(str(layer.oov_token) if strings else layer.oov_token,
                   dtype=object if strings else np.int64)
    out_dt = np.dtype(object) if strings else np.dtype(np.int64)
    ids = g.cast(x, np.int64, f"{name}_ids")
    inside = g.op("And", [
        g.op("GreaterOrEqual", [ids, g.const(f"{name}_zero", 0, np.int64)], np.bool_,
             f"{name}_nonneg"),
        g.op("Less", [ids, g.const(f"{name}_size", len(vocab), np.int64)], np.bool_,
             f"{name}_below")], np.bool_, f"{name}_inside")
    safe = g.op("Where", [inside, ids, g.const(f"{name}_first", 0, np.int64)], np.int64,
                f"{name}_safe")
    tokens = g.op("Gather", [g.const(f"{name}_vocab", table), safe], out_dt,
                  f"{name}_gather", axis=0)
    return g.op("Where", [inside, tokens, g.const(f"{name}_oov", oov)], out_dt,
                f"{name}_tokens")


def _concatenate(g: _Graph, layer: Any, xs: list[str]) -> str:
    dt = np.result_type(*[g.dtypes[x] for x in xs])
    parts = [g.cast(x, dt, f"{layer.name}_in") for x in xs]
    return g.op("Concat", parts, dt, f"{layer.name}_concat", axis=-1)


def _float_in(g: _Graph, layer: Any, x: str) -> tuple[str, np.dtype]:
    """``x`` in a float dtype (integer inputs take the layer's dtype, as its forward does)."""
    dt = g.dtypes[x]
    if dt.kind == "f":
        return x, dt
    dt = np.dtype(layer.dtype or np.float32)
    return g.cast(x, dt, f"{layer.name}_in"), dt


def _affine(g: _Graph, layer: Any, x: str, scale: Any, shift: Any) -> str:
    """``x * scale + shift`` with constants broadcast over the batch (shape (1, *sample))."""
    x, dt = _float_in(g, layer, x)
    y = g.op("Mul", [x, g.const(f"{layer.name}_scale", scale, dt)], dt, f"{layer.name}_mul")
    return g.op("Add", [y, g.const(f"{layer.name}_shift", shift, dt)], dt, f"{layer.name}_add")


def _sample_shape(layer: Any) -> tuple[int, ...]:
    shape = layer.input_shape
    return tuple(int(d) for d in shape)


def _batch_norm(g: _Graph, layer: Any, x: str) -> str:
    (ax,) = layer._feature  # an axis of (batch, *sample)
    bshape = [1] * (len(_sample_shape(layer)) + 1)
    bshape[ax] = int(layer.moving_mean.value.shape[0])
    mean = np.asarray(_host(layer.moving_mean.value), np.float64).reshape(bshape)
    var = np.asarray(_host(layer.moving_variance.value), np.float64).reshape(bshape)
    scale = 1.0 / np.sqrt(var + layer.epsilon)
    if layer.gamma is not None:
        scale = scale * np.asarray(_host(layer.gamma.value), np.float64).reshape(bshape)
    shift = -mean * scale
    if layer.beta is not None:
        shift = shift + np.asarray(_host(layer.beta.value), np.float64).reshape(bshape)
    return _affine(g, layer, x, scale, shift)


def _normalization(g: _Graph, layer: Any, x: str) -> str:
    return _affine(g, layer, x, *_graph.normalization_affine(layer))


def _rescaling(g: _Graph, layer: Any, x: str) -> str:
    return _affine(g, layer, x, *_graph.rescaling_affine(layer))


def _layer_norm(g: _Graph, layer: Any, x: str) -> str:
    name, dt = layer.name, g.dtypes[x]
    axes = sorted(int(a) for a in layer._axes)
    sample = _sample_shape(layer)
    count = float(math.prod(sample[a - 1] for a in axes))
    ax = g.const(f"{name}_axes", axes, np.int64)

    def mean(v: str, hint: str) -> str:
        total = g.op("ReduceSum", [v, ax], dt, f"{name}_{hint}_sum", keepdims=1)
        return g.op("Div", [total, g.const(f"{name}_n", count, dt)], dt, f"{name}_{hint}")

    d = g.op("Sub", [x, mean(x, "mean")], dt, f"{name}_centred")
    var = mean(g.op("Mul", [d, d], dt, f"{name}_sq"), "var")
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [var, g.const(
        f"{name}_eps", layer.epsilon, dt)], dt, f"{name}_vareps")], dt, f"{name}_std")],
        dt, f"{name}_inv")
    y = g.op("Mul", [x if layer.rms_scaling else d, inv], dt, f"{name}_norm")
    bshape = [1] * (len(sample) + 1)
    for a in axes:
        bshape[a] = sample[a - 1]
    if layer.gamma is not None:
        gamma = np.asarray(_host(layer.gamma.value)).reshape(bshape)
        y = g.op("Mul", [y, g.const(f"{name}_gamma", gamma, dt)], dt, f"{name}_scaled")
    if layer.beta is not None and not layer.rms_scaling:
        beta = np.asarray(_host(layer.beta.value)).reshape(bshape)
        y = g.op("Add", [y, g.const(f"{name}_beta", beta, dt)], dt, f"{name}_shifted")
    return y


def _unit_norm(g: _Graph, layer: Any, x: str) -> str:
    name, dt = layer.name, g.dtypes[x]
    ax = g.const(f"{name}_axes", sorted(int(a) for a in layer._axes), np.int64)
    ss = g.op("ReduceSum", [g.op("Mul", [x, x], dt, f"{name}_sq"), ax], dt, f"{name}_ss",
              keepdims=1)
    ss = g.op("Max", [ss, g.const(f"{name}_floor", 1e-24, dt)], dt, f"{name}_floor")
    return g.op("Div", [x, g.op("Sqrt", [ss], dt, f"{name}_norm")], dt, f"{name}_unit")


def _reshape(g: _Graph, layer: Any, x: str) -> str:
    target = [-1, *(int(d) for d in layer.compute_output_shape(_sample_shape(layer)))]
    return g.op("Reshape", [x, g.const(f"{layer.name}_shape", target, np.int64)],
                g.dtypes[x], f"{layer.name}_reshape")


def _permute(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Transpose", [x], g.dtypes[x], f"{layer.name}_transpose",
                perm=[0, *(int(d) for d in layer.dims)])


def _repeat_vector(g: _Graph, layer: Any, x: str) -> str:
    dt = g.dtypes[x]
    col = g.op("Unsqueeze", [x, g.const(f"{layer.name}_axis", [1], np.int64)], dt,
               f"{layer.name}_col")
    return g.op("Expand", [col, g.const(f"{layer.name}_shape", [1, layer.n, 1], np.int64)],
                dt, f"{layer.name}_repeat")


def _pooling(g: _Graph, layer: Any, x: str, mask: tuple[str, tuple] | None = None) -> str:
    """Global average (the sum times 1/steps, as the layer; with a mask, ``Σ x·m / Σ m``)
    or max over the steps axis."""
    name, dt = layer.name, g.dtypes[x]
    average = type(layer).__name__ == "GlobalAveragePooling1D"
    ax = 1 if layer.data_format == "channels_last" else 2
    keep = int(layer.keepdims)
    if not average and g.opset < 18:  # ReduceMax takes its axes as an input from opset 18
        return g.op("ReduceMax", [x], dt, f"{name}_max", axes=[ax], keepdims=keep)
    axis = g.const(f"{name}_axis", [ax], np.int64)
    if average and mask is not None:
        m, shape = mask
        steps = _sample_shape(layer)[ax - 1]
        if shape != (steps,):
            raise ValueError(f"export_onnx: layer {name!r} (GlobalAveragePooling1D) got a "
                             f"mask of per-sample shape {shape}, expected ({steps},)")
        mf = g.op("Unsqueeze", [g.cast(m, dt, f"{name}_maskf"),
                                g.const(f"{name}_maxis", [3 - ax], np.int64)], dt,
                  f"{name}_mask")
        total = g.op("ReduceSum", [g.op("Mul", [x, mf], dt, f"{name}_masked"), axis], dt,
                     f"{name}_sum", keepdims=keep)
        count = g.op("ReduceSum", [mf, axis], dt, f"{name}_count", keepdims=keep)
        return g.op("Div", [total, count], dt, f"{name}_mean")
    if average:
        steps = _sample_shape(layer)[ax - 1]
        total = g.op("ReduceSum", [x, axis], dt, f"{name}_sum", keepdims=keep)
        return g.op("Mul", [total, g.const(f"{name}_scale", 1.0 / steps, dt)], dt,
                    f"{name}_mean")
    return g.op("ReduceMax", [x, axis], dt, f"{name}_max", keepdims=keep)


class _Masks:
    """The masks of ``fastff.layers.masking`` as boolean tensors ``(batch, *steps)`` with
    their per-sample shapes (``_graph.walk`` makes them when a layer uses one)."""

    def __init__(self, g: _Graph):
        self.g = g

    def ids(self, layer: Any, x: str) -> tuple[str, tuple]:
        """``Embedding(mask_zero=True)``: the ids that are not 0."""
        g = self.g
        zero = g.const(f"{layer.name}_zero", 0, g.dtypes[x])
        ne = g.op("Not", [g.op("Equal", [x, zero], np.bool_, f"{layer.name}_is0")], np.bool_,
                  f"{layer.name}_mask")
        return ne, _sample_shape(layer)

    def values(self, layer: Any, x: str) -> tuple[str, tuple]:
        """``Masking``: the steps where some feature differs from ``mask_value``."""
        return _any_differs(self.g, layer, x), _sample_shape(layer)[:-1]

    def both(self, layer: Any, masks: list[tuple[str, tuple]]) -> tuple[str, tuple]:
        """A merge layer: the steps every input's mask keeps."""
        y = masks[0][0]
        for m, _ in masks[1:]:
            y = self.g.op("And", [y, m], np.bool_, f"{layer.name}_mask")
        return y, masks[0][1]


def _any_differs(g: _Graph, layer: Any, x: str) -> str:
    """Boolean ``any(x != mask_value, axis=-1)``."""
    name, dt = layer.name, g.dtypes[x]
    differs = g.op("Not", [g.op("Equal", [x, g.const(f"{name}_value", layer.mask_value, dt)],
                                np.bool_, f"{name}_eq")], np.bool_, f"{name}_ne")
    count = g.op("ReduceSum", [g.cast(differs, dt, f"{name}_nef"),
                               g.const(f"{name}_axis", [-1], np.int64)], dt, f"{name}_count",
                 keepdims=0)
    return g.op("Greater", [count, g.const(f"{name}_zero", 0.0, dt)], np.bool_, f"{name}_any")


def _masking(g: _Graph, layer: Any, x: str) -> str:
    """``x * any(x != mask_value, axis=-1)``: the masked steps zeroed, as the layer's
    forward (the mask itself feeds the mask consumers, see ``_Masks``)."""
    name, dt = layer.name, g.dtypes[x]
    keep = g.op("Unsqueeze", [g.cast(_any_differs(g, layer, x), dt, f"{name}_keepf"),
                              g.const(f"{name}_last", [-1], np.int64)], dt, f"{name}_keep")
    return g.op("Mul", [x, keep], dt, f"{name}_masked")


def _dot(g: _Graph, layer: Any, xs: list[str]) -> str:
    """``keras.layers.Dot`` as the layer computes it: (optionally L2-normalized) inputs with
    the contracted axis moved last / first, then one batched ``MatMul``."""
    name = layer.name
    shapes = [tuple(int(d) for d in s) for s in layer.input_shape]
    dt = np.result_type(*[g.dtypes[x] for x in xs])
    x1, x2 = (g.cast(x, dt, f"{name}_in") for x in xs)
    a_ax, b_ax = layer._resolved(shapes)
    if layer.normalize:
        def unit(x: str, ax: int, hint: str) -> str:
            ss = g.op("ReduceSum", [g.op("Mul", [x, x], dt, f"{hint}_sq"),
                                    g.const(f"{hint}_axis", [ax], np.int64)], dt,
                      f"{hint}_ss", keepdims=1)
            ss = g.op("Max", [ss, g.const(f"{hint}_floor", 1e-7, dt)], dt, f"{hint}_floor")
            return g.op("Div", [x, g.op("Sqrt", [ss], dt, f"{hint}_norm")], dt, f"{hint}_unit")

        x1, x2 = unit(x1, a_ax, f"{name}_a"), unit(x2, b_ax, f"{name}_b")
    k = shapes[0][a_ax - 1]
    perm_a = [0, *[i for i in range(1, len(shapes[0]) + 1) if i != a_ax], a_ax]
    perm_b = [0, b_ax, *[i for i in range(1, len(shapes[1]) + 1) if i != b_ax]]
    a = g.op("Reshape", [g.op("Transpose", [x1], dt, f"{name}_at", perm=perm_a),
                         g.const(f"{name}_ashape", [0, -1, k], np.int64)], dt, f"{name}_a")
    b = g.op("Reshape", [g.op("Transpose", [x2], dt, f"{name}_bt", perm=perm_b),
                         g.const(f"{name}_bshape", [0, k, -1], np.int64)], dt, f"{name}_b")
    y = g.op("MatMul", [a, b], dt, f"{name}_matmul")                      # (n, P, S)
    shape = [-1, *layer.compute_output_shape(shapes)]
    return g.op("Reshape", [y, g.const(f"{name}_shape", shape, np.int64)], dt, f"{name}_dot")


_MERGE_OPS = {"Add": "Sum", "Multiply": "Mul", "Average": "Mean", "Maximum": "Max",
              "Minimum": "Min", "Subtract": "Sub"}


def _merge(g: _Graph, layer: Any, xs: list[str]) -> str:
    kind = type(layer).__name__
    dt = np.result_type(*[g.dtypes[x] for x in xs])
    parts = [g.cast(x, dt, f"{layer.name}_in") for x in xs]
    if kind == "Average":  # the layer sums in order, then divides
        total = g.op("Sum", parts, dt, f"{layer.name}_sum")
        return g.op("Div", [total, g.const(f"{layer.name}_k", float(len(xs)), dt)], dt,
                    f"{layer.name}_mean")
    if kind in ("Multiply", "Subtract"):  # binary ops: fold left as the layer does
        y = parts[0]
        for p in parts[1:]:
            y = g.op(_MERGE_OPS[kind], [y, p], dt, f"{layer.name}_{kind.lower()}")
        return y
    return g.op(_MERGE_OPS[kind], parts, dt, f"{layer.name}_{kind.lower()}")


def _converters() -> dict[type, Callable[..., str]]:
    # identity at inference: Dropout, the noise layers (training-only), Identity
    return _graph.converter_table({
        "Dense": _dense, "Activation": _activation_layer, "Dropout": _identity,
        "Flatten": _flatten, "Embedding": _embedding, "WindowEmbedding": _window_embedding,
        "EmbeddingBag": _embedding_bag, "Bucketize": _bucketize, "Concatenate": _concatenate,
        "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm,
        "Normalization": _normalization, "UnitNormalization": _unit_norm,
        "Rescaling": _rescaling, "Reshape": _reshape, "Permute": _permute,
        "RepeatVector": _repeat_vector, "Identity": _identity,
        "GlobalAveragePooling1D": _pooling, "GlobalMaxPooling1D": _pooling,
        "CategoryEncoding": _category_encoding, "Discretization": _discretization,
        "Masking": _masking, "Dot": _dot,
        "GaussianNoise": _identity, "GaussianDropout": _identity, "AlphaDropout": _identity,
        "SpatialDropout1D": _identity, "PReLU": _prelu,
        "ReLU": _activation_layer, "LeakyReLU": _activation_layer, "ELU": _activation_layer,
        "Softmax": _activation_layer, "IntegerLookup": _lookup, "StringLookup": _lookup,
        **{k: _merge for k in _MERGE_OPS},
    })


# ---------------------------------------------------------------------------- model walk
def _value_info(onnx: Any, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> Any:
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return onnx.helper.make_tensor_value_info(name, elem, [_BATCH, *map(int, shape)])


def _output_names(model: Any, output_name: str | None,
                  output_names: Sequence[str] | None) -> list[str]:
    """One graph output name per model output: ``output_names`` when given, else for one
    output ``output_name`` (default ``"output"``), for several Keras's output names (the
    dict keys, else the output layers' names; what tf2onnx names a Keras model's outputs)."""
    n = len(_graph.output_shapes(model))
    if output_names is not None:
        if output_name is not None:
            raise TypeError("export_onnx: give output_name or output_names, not both")
        names = [output_names] if isinstance(output_names, str) else list(output_names)
        if len(names) != n or not all(isinstance(v, str) and v for v in names):
            raise ValueError(f"export_onnx: output_names must be {n} non-empty string(s), "
                             f"got {output_names!r}")
        return names
    if n > 1:
        if output_name is not None:
            raise ValueError(f"export_onnx: the model has {n} outputs; give output_names "
                             f"(one per output), not output_name={output_name!r}")
        return list(_graph.output_names(model) or [])
    name = "output" if output_name is None else output_name
    if not isinstance(name, str) or not name:
        raise ValueError(f"export_onnx: output_name must be a non-empty string, got {name!r}")
    return [name]


def build_onnx(model: Any, input_names: Sequence[str] | None = None,
               output_name: str | None = None, opset: int = MIN_OPSET,
               output_names: Sequence[str] | None = None) -> Any:
    """The ``onnx.ModelProto`` of ``model`` (checked with ``onnx.checker.check_model``):
    one graph input per model input, one graph output per model output."""
    onnx = _require_onnx()
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"export_onnx: opset must be an integer >= {MIN_OPSET}, got {opset!r}")
    _graph.check_model(model, "export_onnx")
    sources = [tuple(spec) for spec in _graph.input_specs(model)]
    if input_names is not None:
        names = [input_names] if isinstance(input_names, str) else list(input_names)
        if len(names) != len(sources) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"export_onnx: input_names must be {len(sources)} non-empty "
                             f"string(s), got {input_names!r}")
        sources = [(n, s, d) for n, (_, s, d) in zip(names, sources)]
    if len({n for n, _, _ in sources}) != len(sources):
        raise ValueError(f"export_onnx: input names must differ, got {[n for n, _, _ in sources]}")
    out_names = _output_names(model, output_name, output_names)
    if len(set(out_names)) != len(out_names):
        raise ValueError(f"export_onnx: output names must differ, got {out_names}")
    g = _Graph(onnx)
    g.opset = opset
    g.reserved = {*out_names, *(n for n, _, _ in sources)}
    table = _converters()
    for name, _, dtype in sources:
        g.dtypes[name] = dtype

    def step(layer: Any, x: Any, **mask: Any) -> str:
        refusal = "export_onnx: layer {name!r} ({kind}) cannot be exported to ONNX"
        return _graph.converter_for(table, layer, refusal)(g, layer, x, **mask)

    values = _graph.walk_outputs(model, [name for name, _, _ in sources], step,
                                 "export_onnx", masker=_Masks(g))
    outputs = []
    in_names = {n for n, _, _ in sources}
    for value, out_name, shape in zip(values, out_names, _graph.output_shapes(model)):
        if out_name in in_names and value != out_name:
            raise ValueError(f"export_onnx: output name {out_name!r} is the name of another "
                             "input; give output_names")
        if value != out_name:  # (an input passed through under its own name is its output)
            g.nodes.append(onnx.helper.make_node("Identity", [value], [out_name],
                                                 name=out_name))
        outputs.append(_value_info(onnx, out_name, g.dtypes[value], shape))
    inputs = [_value_info(onnx, n, d, s) for n, s, d in sources]
    graph_proto = onnx.helper.make_graph(g.nodes, model.name, inputs, outputs,
                                         initializer=g.initializers)
    from fastff import __version__

    opsets = [onnx.helper.make_opsetid("", opset)]
    if g.ml:
        opsets.append(onnx.helper.make_opsetid("ai.onnx.ml", _ML_OPSET))
    proto = onnx.helper.make_model(graph_proto, producer_name="fastff",
                                   producer_version=__version__, opset_imports=opsets)
    # the oldest IR version that carries this opset: readable by the most runtimes
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Any, path: str | os.PathLike[str], input_names: Sequence[str] | None = None,
                output_name: str | None = None, opset: int = MIN_OPSET,
                output_names: Sequence[str] | None = None) -> Any:
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ModelProto.

    ``input_names``: one name per model input (default: the ``Input`` names; ``"input"``
    for a Sequential without one). ``output_name``: the one output's name (default
    ``"output"``); a model of several outputs has one graph output each, named by
    ``output_names`` or by default as Keras names its outputs (the dict keys, else the
    output layers' names). The batch axis is dynamic (``"batch"``).
    """
    from fastff._atomic import atomic_write

    proto = build_onnx(model, input_names=input_names, output_name=output_name, opset=opset,
                       output_names=output_names)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return proto
