"""Export a built Sequential or functional ``Model`` as self-contained C99 source (inference).

``export_c(model, "net.c")`` writes ``net.c`` and ``net.h``: the weights as ``static const
float`` arrays and ``int net_predict(const float *x, int n_rows, float *y)``, a loop over the
rows (row-major ``x`` of ``NET_N_INPUTS`` floats per row, ``y`` of ``NET_N_OUTPUTS``) that runs
each layer's inference computation on stack buffers for a tile of up to 8 rows (at most
256 KiB): no allocation, no globals written, so it is reentrant. It needs only
``<math.h>`` (link with ``-lm``). The return value is 0 on success, 1 for bad arguments
(``n_rows < 0``, a NULL pointer with rows to do) and 2 for an id out of an embedding table's
or encoding's range (or not finite), or a token an IntegerLookup refuses — ``predict``
raises there. A functional model's inputs are laid out one after the other in each row, in
the model's input order (``NET_INPUT_OFFSET_<k>``); a model of several outputs takes one
pointer per output, ``net_predict(x, n_rows, y0, y1, ...)``, each of ``NET_N_OUTPUTS_<k>``
floats per row, in ``model.outputs`` order. Arithmetic is float32 whatever the model's
dtype. Models used as layers are inlined, a BatchNormalization right after a linear Dense is
folded into its weights, and masks reach ``GlobalAveragePooling1D`` as in ``predict``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from fastff.export import _graph
from fastff.export._graph import host as _host

__all__ = ["export_c", "generate_c"]

_STACK_LIMIT = 1 << 20  # floats of per-row buffers (4 MiB of stack): beyond, refuse
_TILE_ROWS = 8          # rows per pass through the layers
_TILE_STACK = 1 << 16   # floats (256 KiB) of stack for a tile's buffers, at most


def _float_literal(v: float) -> str:
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    s = np.format_float_scientific(np.float32(v), unique=True, trim="-")
    return s + "f"


class _Value:
    """A node's tile buffer: the C expression of its first element, and its per-row shape."""

    def __init__(self, ref: str, shape: tuple[int, ...]):
        self.ref = ref
        self.shape = tuple(int(d) for d in shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class _Emitter:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.arrays: list[str] = []
        self.body: list[str] = []
        self.buffers: list[tuple[str, int]] = []
        self._count = 0

    def array(self, hint: str, values: Any) -> str:
        """A ``static const float`` array of ``values`` (any shape, flattened); its name."""
        a = np.asarray(values, dtype=np.float64).reshape(-1)
        return self._static(hint, "float", [_float_literal(float(v)) for v in a], 8, "0.0f")

    def int_array(self, hint: str, values: Any) -> str:
        """A ``static const int`` array of ``values`` (any shape, flattened); its name."""
        a = np.asarray(values, dtype=np.int64).reshape(-1)
        return self._static(hint, "int", [str(int(v)) for v in a], 16, "0")

    def long_array(self, hint: str, values: Any) -> str:
        """A ``static const long long`` array of ``values`` (flattened); its name."""
        a = np.asarray(values, dtype=np.int64).reshape(-1)
        return self._static(hint, "long long", [f"{int(v)}LL" for v in a], 8, "0LL")

    def _static(self, hint: str, ctype: str, items: list[str], per_line: int,
                empty: str) -> str:
        self._count += 1
        name = f"{self.prefix}_{_c_ident(hint)}_{self._count}"
        lines = [", ".join(items[i:i + per_line])
                 for i in range(0, len(items), per_line)] or [empty]
        self.arrays.append(f"static const {ctype} {name}[{max(len(items), 1)}] = {{\n    "
                           + ",\n    ".join(lines) + "\n};")
        return name

    def buffer(self, hint: str, size: int) -> str:
        self._count += 1
        name = f"b{self._count}_{_c_ident(hint)}"[:60]
        self.buffers.append((name, max(int(size), 1)))
        return name

    def emit(self, code: str) -> None:
        self.body.append(code)


def _c_ident(s: str) -> str:
    s = re.sub(r"[^0-9A-Za-z_]", "_", str(s))
    return s if s and not s[0].isdigit() else "_" + s


# ---------------------------------------------------------------------------- activations
_ELEMENTWISE = {
    "linear": None,
    "relu": "v < 0.0f ? 0.0f : v",
    "leaky_relu": "v > 0.0f ? v : v * {p}",
    "elu": "v > 0.0f ? v : {p} * expm1f(v)",
    "selu": "{scale} * (v > 0.0f ? v : {alpha} * expm1f(v))",
    "gelu": "0.5f * v * (1.0f + erff(v * 0.70710678118654752f))",
    "tanh": "tanhf(v)",
    "sigmoid": "sig_(v)",
    "hard_sigmoid": "clip01_(v / 6.0f + 0.5f)",
    "softplus": "(v > 0.0f ? v : 0.0f) + log1pf(expf(-fabsf(v)))",
    "softsign": "v / (1.0f + fabsf(v))",
    "silu": "v * sig_(v)",
    "swish": "v * sig_(v)",
    "exponential": "expf(v)",
    "relu6": "v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v)",
    "mish": "v * tanhf((v > 0.0f ? v : 0.0f) + log1pf(expf(-fabsf(v))))",
    "hard_silu": "v * (v + 3.0f < 0.0f ? 0.0f : (v + 3.0f > 6.0f ? 6.0f : v + 3.0f)) / 6.0f",
    "hard_swish": "v * (v + 3.0f < 0.0f ? 0.0f : (v + 3.0f > 6.0f ? 6.0f : v + 3.0f)) / 6.0f",
    "hard_tanh": "v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v)",
    "log_sigmoid": "(v < 0.0f ? v : 0.0f) - log1pf(expf(-fabsf(v)))",
    "celu": "v > 0.0f ? v : ({p}) * expm1f(v / ({p}))",
    "hard_shrink": "(v >= -({p}) && v <= ({p})) ? 0.0f : v",
    "soft_shrink": "(v >= -({p}) && v <= ({p})) ? 0.0f : (v > ({p}) ? v - ({p}) : v + ({p}))",
    "tanh_shrink": "v - tanhf(v)",
    "sparse_plus": "v <= -1.0f ? 0.0f : (v < 1.0f ? 0.25f * ((v + 1.0f) * (v + 1.0f)) : v)",
    "sparse_sigmoid": "v <= -1.0f ? 0.0f : (v >= 1.0f ? 1.0f : 0.5f * (v + 1.0f))",
    "squareplus": "(v + sqrtf(v * v + ({p}))) / 2.0f",
}
def _dense_block(n: int) -> str:
    acc = [f"a{k}" for k in range(n)]
    init = "\n".join(f"            {a} = b ? b[j + {k}] : 0.0f;" for k, a in enumerate(acc))
    upd = "\n".join(f"                {a} += xv * wr[{k}];" for k, a in enumerate(acc))
    store = "\n".join(f"            y[j + {k}] = {a};" for k, a in enumerate(acc))
    return (f"        for (; j + {n} <= dout; j += {n}) {{\n"
            f"            float {', '.join(acc)};\n{init}\n"
            "            for (i = 0; i < din; ++i) {\n"
            "                const float xv = x[i];\n"
            "                const float *wr = w + (size_t)i * dout + j;\n"
            f"{upd}\n            }}\n{store}\n        }}\n")


def _dense_helper() -> str:
    # (4 rows x 8 outputs per pass measured 3-8x slower at -O2: gcc's SLP spills them)
    return ("static void dense_(const float *x, int groups, int din, int dout, const float *w,\n"
            "                   const float *b, float *y)\n{\n    int g, i, j;\n"
            "    for (g = 0; g < groups; ++g, x += din, y += dout) {\n        j = 0;\n"
            + _dense_block(16) + _dense_block(4)
            + "        for (; j < dout; ++j) {\n"
              "            float acc = b ? b[j] : 0.0f;\n"
              "            for (i = 0; i < din; ++i) acc += x[i] * w[(size_t)i * dout + j];\n"
              "            y[j] = acc;\n        }\n    }\n}\n")


_HELPERS = {
    # y = x w + b for `groups` rows: outputs in blocks of 16 (then 4, then 1) accumulated in
    # scalars that the compiler keeps in vector registers; each sum runs over the inputs in
    # order from the bias
    "dense_": _dense_helper(),
    "sig_": """static float sig_(float v)
{
    float e = expf(-fabsf(v));
    return v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}
""",
    "clip01_": """static float clip01_(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}
""",
    "softmax_": """static void softmax_(float *v, int n, int log_form)
{
    float m = v[0], s = 0.0f;
    int i;
    for (i = 1; i < n; ++i)
        if (v[i] > m || v[i] != v[i]) m = v[i];
    for (i = 0; i < n; ++i) s += expf(v[i] - m);
    if (log_form) {
        float ls = logf(s);
        for (i = 0; i < n; ++i) v[i] = (v[i] - m) - ls;
    } else {
        for (i = 0; i < n; ++i) v[i] = expf(v[i] - m) / s;
    }
}
""",
    # NaN propagates as in NumPy's maximum/minimum
    "max_": "static float max_(float a, float b) { return (a > b || a != a) ? a : b; }\n",
    "min_": "static float min_(float a, float b) { return (a < b || a != a) ? a : b; }\n",
}


def _activation(e: _Emitter, act: Any, v: _Value, where: str) -> None:
    """Apply ``act`` in place on the buffer of ``v`` (a writable buffer)."""
    if not getattr(act, "builtin", False):
        raise ValueError(f"export_c: layer {where!r} uses the custom activation {act.name!r} "
                         f"({type(act).__name__}), which has no C form")
    name = act.name
    if name in ("softmax", "log_softmax"):
        d = v.shape[-1] if v.shape else 1
        e.emit(f"    for (g = 0; g < nr * {v.size // max(d, 1)}; ++g) "
               f"softmax_({v.ref} + g * {d}, {d}, {int(name == 'log_softmax')});")
        return
    if name not in _ELEMENTWISE:
        raise ValueError(f"export_c: layer {where!r}: activation {name!r} has no C form")
    expr = _ELEMENTWISE[name]
    if expr is None:
        return
    from fastff.backend.numpy_ops import SELU_ALPHA, SELU_SCALE

    expr = expr.format(p=_float_literal(act.param), scale=_float_literal(SELU_SCALE),
                       alpha=_float_literal(SELU_ALPHA))
    e.emit(f"    for (i = 0; i < nr * {v.size}; ++i) {{ float v = {v.ref}[i]; "
           f"{v.ref}[i] = {expr}; }}")


# ---------------------------------------------------------------------------- layers
def _copy_into_new(e: _Emitter, layer: Any, x: _Value, shape: tuple[int, ...]) -> _Value:
    out = e.buffer(layer.name, x.size)
    e.emit(f"    for (i = 0; i < nr * {x.size}; ++i) {out}[i] = {x.ref}[i];")
    return _Value(out, shape)


def _dense(e: _Emitter, layer: Any, x: _Value) -> _Value:
    w = _host(layer.kernel.value)
    din, dout = (int(d) for d in w.shape)
    groups = x.size // din
    kw = e.array(f"{layer.name}_kernel", w)
    out = e.buffer(layer.name, groups * dout)
    bias = (e.array(layer.name + "_bias", _host(layer.bias.value))
            if layer.bias is not None else "NULL")
    e.emit(f"    dense_({x.ref}, nr * {groups}, {din}, {dout}, {kw}, {bias}, {out});")
    y = _Value(out, (*x.shape[:-1], dout))
    _activation(e, layer.activation, y, layer.name)
    return y


def _activation_layer(e: _Emitter, layer: Any, x: _Value) -> _Value:
    over_last = getattr(layer, "_over_last", None)
    if over_last is not None and not over_last():
        raise ValueError(f"export_c: layer {layer.name!r}: Softmax over axis {layer.axis!r} is "
                         "not exported (only the last axis)")
    if getattr(layer.activation, "builtin", False) and layer.activation.name == "linear":
        return x
    y = _copy_into_new(e, layer, x, x.shape)
    _activation(e, layer.activation, y, layer.name)
    return y


def _identity(e: _Emitter, layer: Any, x: _Value) -> _Value:
    return x


def _prelu(e: _Emitter, layer: Any, x: _Value) -> _Value:
    """``x`` where positive, ``alpha * x`` elsewhere (NaN stays NaN)."""
    alpha = e.array(f"{layer.name}_alpha", np.broadcast_to(
        np.asarray(_host(layer.alpha.value), dtype=np.float64), x.shape))
    out = e.buffer(layer.name, x.size)
    e.emit(f"    for (r = 0; r < nr; ++r) for (i = 0; i < {x.size}; ++i) {{\n"
           f"        float v = {x.ref}[r * {x.size} + i];\n"
           f"        {out}[r * {x.size} + i] = v > 0.0f ? v : {alpha}[i] * v;\n"
           f"    }}")
    return _Value(out, x.shape)


def _reshape(e: _Emitter, layer: Any, x: _Value) -> _Value:
    return _Value(x.ref, tuple(layer.compute_output_shape(x.shape)))


def _affine(e: _Emitter, layer: Any, x: _Value, scale: np.ndarray, shift: np.ndarray) -> _Value:
    """``y = x * scale + shift`` elementwise over the sample (both broadcast to its shape)."""
    scale = np.broadcast_to(scale, x.shape)
    shift = np.broadcast_to(shift, x.shape)
    sc = e.array(f"{layer.name}_scale", scale)
    sh = e.array(f"{layer.name}_shift", shift)
    out = e.buffer(layer.name, x.size)
    e.emit(f"    for (r = 0; r < nr; ++r) for (i = 0; i < {x.size}; ++i) "
           f"{out}[r * {x.size} + i] = {x.ref}[r * {x.size} + i] * {sc}[i] + {sh}[i];")
    return _Value(out, x.shape)


def _batch_norm(e: _Emitter, layer: Any, x: _Value) -> _Value:
    (ax,) = layer._feature          # an axis of (batch, *sample)
    bshape = [1] * len(x.shape)
    bshape[ax - 1] = x.shape[ax - 1]
    mean = _host(layer.moving_mean.value).astype(np.float64).reshape(bshape)
    var = _host(layer.moving_variance.value).astype(np.float64).reshape(bshape)
    inv = 1.0 / np.sqrt(var + layer.epsilon)
    gamma = 1.0 if layer.gamma is None else _host(layer.gamma.value).reshape(bshape)
    beta = 0.0 if layer.beta is None else _host(layer.beta.value).reshape(bshape)
    scale = inv * gamma
    return _affine(e, layer, x, scale, beta - mean * scale)


def _normalization(e: _Emitter, layer: Any, x: _Value) -> _Value:
    # the layer's statistics may carry a leading batch axis of 1: the per-sample values
    scale, shift = (np.broadcast_to(a, (1, *x.shape))[0]
                    for a in _graph.normalization_affine(layer))
    return _affine(e, layer, x, scale, shift)


def _rescaling(e: _Emitter, layer: Any, x: _Value) -> _Value:
    return _affine(e, layer, x, *_graph.rescaling_affine(layer))


def _trailing(layer: Any, x: _Value) -> int:
    """The size of the normalized group when ``layer._axes`` are the trailing sample axes."""
    axes = sorted(int(a) for a in layer._axes)
    nd = len(x.shape)
    if axes != list(range(nd + 1 - len(axes), nd + 1)):
        raise ValueError(f"export_c: layer {layer.name!r} ({type(layer).__name__}) normalizes "
                         f"axes {tuple(axes)} of per-sample shape {x.shape}; only trailing "
                         "axes have a C form")
    return math.prod(x.shape[nd - len(axes):])


def _layer_norm(e: _Emitter, layer: Any, x: _Value) -> _Value:
    d = _trailing(layer, x)
    rms = bool(layer.rms_scaling)
    g = (f"{e.array(layer.name + '_gamma', _host(layer.gamma.value))}[k]"
         if layer.gamma is not None else "1.0f")
    b = (f" + {e.array(layer.name + '_beta', _host(layer.beta.value))}[k]"
         if layer.beta is not None and not rms else "")
    out = e.buffer(layer.name, x.size)
    centre = "xi[k]" if rms else "(xi[k] - mean)"
    e.emit(f"    for (g = 0; g < nr * {x.size // d}; ++g) {{\n"
           f"        const float *xi = {x.ref} + g * {d};\n"
           f"        float *yo = {out} + g * {d};\n"
           f"        float mean = 0.0f, var = 0.0f, inv;\n"
           f"        int k;\n"
           f"        for (k = 0; k < {d}; ++k) mean += xi[k];\n"
           f"        mean /= {float(d)!r}f;\n"
           f"        for (k = 0; k < {d}; ++k) var += (xi[k] - mean) * (xi[k] - mean);\n"
           f"        inv = 1.0f / sqrtf(var / {float(d)!r}f + {_float_literal(layer.epsilon)});\n"
           f"        for (k = 0; k < {d}; ++k) yo[k] = {centre} * inv * {g}{b};\n"
           f"    }}")
    return _Value(out, x.shape)


def _unit_norm(e: _Emitter, layer: Any, x: _Value) -> _Value:
    d = _trailing(layer, x)
    out = e.buffer(layer.name, x.size)
    e.emit(f"    for (g = 0; g < nr * {x.size // d}; ++g) {{\n"
           f"        const float *xi = {x.ref} + g * {d};\n"
           f"        float *yo = {out} + g * {d};\n"
           f"        float ss = 0.0f, inv;\n"
           f"        int k;\n"
           f"        for (k = 0; k < {d}; ++k) ss += xi[k] * xi[k];\n"
           f"        inv = 1.0f / sqrtf(ss > 1e-24f ? ss : 1e-24f);\n"
           f"        for (k = 0; k < {d}; ++k) yo[k] = xi[k] * inv;\n"
           f"    }}")
    return _Value(out, x.shape)


def _ids(e: _Emitter, layer: Any, x: _Value, index: str = "k") -> str:
    """Code reading id ``index`` of ``x`` into ``id`` (rounded; out of range → return 2)."""
    return (f"{{ float f = nearbyintf({x.ref}[{index}]); if (!(f >= 0.0f && f < "
            f"{float(layer.input_dim)!r}f)) return 2; id = (int)f; }}")


def _table(e: _Emitter, layer: Any) -> str:
    table = np.array(_host(layer.embeddings.value), dtype=np.float64, copy=True)
    if 0 <= layer.pad_id < table.shape[0]:
        table[layer.pad_id] = 0.0  # padding embeds to zeros
    return e.array(f"{layer.name}_embeddings", table)


def _embedding(e: _Emitter, layer: Any, x: _Value) -> _Value:
    d = int(layer.output_dim)
    tab = _table(e, layer)
    out = e.buffer(layer.name, x.size * d)
    e.emit(f"    for (k = 0; k < nr * {x.size}; ++k) {{\n"
           f"        {_ids(e, layer, x)}\n"
           f"        for (j = 0; j < {d}; ++j) {out}[k * {d} + j] = {tab}[id * {d} + j];\n"
           f"    }}")
    shape = tuple(layer.compute_output_shape(x.shape))
    return _Value(out, shape)


def _embedding_bag(e: _Emitter, layer: Any, x: _Value) -> _Value:
    d, length = int(layer.output_dim), x.shape[-1]
    tab = _table(e, layer)
    out = e.buffer(layer.name, d)
    mean = layer.mode == "mean"
    o = f"{out}[r * {d} + j]"
    e.emit(f"    for (r = 0; r < nr; ++r) {{\n        float count = 0.0f;\n"
           f"        for (j = 0; j < {d}; ++j) {o} = 0.0f;\n"
           f"        for (k = 0; k < {length}; ++k) {{\n"
           f"            {_ids(e, layer, x, f'r * {length} + k')}\n"
           f"            if (id != {int(layer.pad_id)}) count += 1.0f;\n"
           f"            for (j = 0; j < {d}; ++j) {o} += {tab}[id * {d} + j];\n"
           f"        }}\n"
           + (f"        if (count < 1.0f) count = 1.0f;\n"
              f"        for (j = 0; j < {d}; ++j) {o} /= count;\n" if mean
              else "        (void)count;\n")
           + "    }")
    return _Value(out, (d,))


def _concatenate(e: _Emitter, layer: Any, xs: list[_Value]) -> _Value:
    widths = [v.shape[-1] for v in xs]
    groups = xs[0].size // max(widths[0], 1)
    total = sum(widths)
    out = e.buffer(layer.name, groups * total)
    code = [f"    for (g = 0; g < nr * {groups}; ++g) {{"]
    offset = 0
    for v, w in zip(xs, widths):
        code.append(f"        for (k = 0; k < {w}; ++k) "
                    f"{out}[g * {total} + {offset} + k] = {v.ref}[g * {w} + k];")
        offset += w
    code.append("    }")
    e.emit("\n".join(code))
    return _Value(out, (*xs[0].shape[:-1], total))


def _permute(e: _Emitter, layer: Any, x: _Value) -> _Value:
    """A gather by an index table computed at export: out[i] = in[src[i]]."""
    perm = [int(d) - 1 for d in layer.dims]
    src = np.transpose(np.arange(x.size).reshape(x.shape), perm)
    table = e.int_array(f"{layer.name}_src", src)
    out = e.buffer(layer.name, x.size)
    e.emit(f"    for (r = 0; r < nr; ++r) for (i = 0; i < {x.size}; ++i) "
           f"{out}[r * {x.size} + i] = {x.ref}[r * {x.size} + {table}[i]];")
    return _Value(out, src.shape)


def _repeat_vector(e: _Emitter, layer: Any, x: _Value) -> _Value:
    out = e.buffer(layer.name, layer.n * x.size)
    e.emit(f"    for (r = 0; r < nr; ++r) for (k = 0; k < {layer.n}; ++k) "
           f"for (i = 0; i < {x.size}; ++i) "
           f"{out}[(r * {layer.n} + k) * {x.size} + i] = {x.ref}[r * {x.size} + i];")
    return _Value(out, (layer.n, *x.shape))


def _bucketize(e: _Emitter, layer: Any, x: _Value) -> _Value:
    """``searchsorted(boundaries, x, side="right")``: the count of edges ``<= x`` (NaN: all,
    the last bucket), as bucket ids or one-hot rows."""
    k, nb = x.size, int(layer.n_buckets)
    table = e.array(f"{layer.name}_edges", _edges32(layer.boundaries))
    n_edges = len(layer.boundaries)
    one_hot = layer.output_mode != "int"
    out = e.buffer(layer.name, k * nb if one_hot else k)
    code = [f"    for (k = 0; k < nr * {k}; ++k) {{",
            "        int c = 0;",
            f"        for (j = 0; j < {n_edges}; ++j) if (!({x.ref}[k] < {table}[j])) ++c;"]
    if one_hot:
        code += [f"        for (j = 0; j < {nb}; ++j) {out}[k * {nb} + j] = 0.0f;",
                 f"        {out}[k * {nb} + c] = 1.0f;"]
    else:
        code.append(f"        {out}[k] = (float)c;")
    code.append("    }")
    e.emit("\n".join(code))
    return _Value(out, (k * nb,) if one_hot else (k,))


def _pooling(e: _Emitter, layer: Any, x: _Value, mask: _Value | None = None) -> _Value:
    """Global average / max over the steps axis of (steps, channels) or (channels, steps);
    with a mask the average is ``Σ x·m / Σ m`` over the real steps (0/0 = NaN for none)."""
    average = type(layer).__name__ == "GlobalAveragePooling1D"
    steps_first = layer.data_format == "channels_last"
    steps, ch = x.shape if steps_first else x.shape[::-1]
    out = e.buffer(layer.name, ch)

    def src(t: str) -> str:
        at = f"{t} * {ch} + c" if steps_first else f"c * {steps} + {t}"
        return f"{x.ref}[r * {x.size} + {at}]"

    if average and mask is not None:
        if mask.shape != (steps,):
            raise ValueError(f"export_c: layer {layer.name!r} (GlobalAveragePooling1D) got a "
                             f"mask of per-sample shape {mask.shape}, expected ({steps},)")
        m = f"{mask.ref}[r * {steps} + t]"
        inner = (f"float acc = 0.0f, cnt = 0.0f; for (t = 0; t < {steps}; ++t) "
                 f"{{ acc += {src('t')} * {m}; cnt += {m}; }} "
                 f"{out}[r * {ch} + c] = acc / cnt;")
    elif average:  # the sum in step order, times 1/steps (as the layer computes it)
        inner = (f"float acc = 0.0f; for (t = 0; t < {steps}; ++t) acc += {src('t')}; "
                 f"{out}[r * {ch} + c] = acc * (1.0f / {float(steps)!r}f);")
    else:
        inner = (f"float acc = {src('0')}; "
                 f"for (t = 1; t < {steps}; ++t) acc = max_(acc, {src('t')}); "
                 f"{out}[r * {ch} + c] = acc;")
    e.emit(f"    for (r = 0; r < nr; ++r) for (c = 0; c < {ch}; ++c) {{ int t; {inner} }}")
    return _Value(out, tuple(layer.compute_output_shape(x.shape)))


class _Masks:
    """The masks of ``fastff.layers.masking`` as tile buffers of 1.0 (real step) / 0.0, one
    entry per step (``_graph.walk`` makes them when a layer uses one)."""

    def __init__(self, e: _Emitter):
        self.e = e

    def ids(self, layer: Any, x: _Value) -> _Value:
        """``Embedding(mask_zero=True)``: the ids that are not 0."""
        out = self.e.buffer(f"{layer.name}_mask", x.size)
        self.e.emit(f"    for (i = 0; i < nr * {x.size}; ++i) "
                    f"{out}[i] = {x.ref}[i] != 0.0f ? 1.0f : 0.0f;")
        return _Value(out, x.shape)

    def values(self, layer: Any, x: _Value) -> _Value:
        """``Masking``: the steps where some feature differs from ``mask_value``."""
        f = x.shape[-1]
        out = self.e.buffer(f"{layer.name}_mask", x.size // f)
        self.e.emit(f"    for (g = 0; g < nr * {x.size // f}; ++g) {{\n"
                    f"        {out}[g] = 0.0f;\n"
                    f"        for (k = 0; k < {f}; ++k) if ({x.ref}[g * {f} + k] != "
                    f"{_float_literal(layer.mask_value)}) {out}[g] = 1.0f;\n"
                    f"    }}")
        return _Value(out, x.shape[:-1])

    def both(self, layer: Any, masks: list[_Value]) -> _Value:
        """A merge layer: the steps every input's mask keeps."""
        out = self.e.buffer(f"{layer.name}_mask", masks[0].size)
        prod = " * ".join(f"{m.ref}[i]" for m in masks)
        self.e.emit(f"    for (i = 0; i < nr * {masks[0].size}; ++i) {out}[i] = {prod};")
        return _Value(out, masks[0].shape)


def _edges32(boundaries: Any) -> np.ndarray:
    """Float32 edges that float32 inputs compare with as they would with the float64 ones:
    x >= b (float64) exactly when x >= the smallest float32 >= b."""
    edges = np.asarray(boundaries, dtype=np.float64)
    low = edges.astype(np.float32)
    return np.where(low < edges, np.nextafter(low, np.float32(np.inf)), low)


def _encode(e: _Emitter, layer: Any, x: _Value, mode: str, depth: int, id_code: str,
            out_shape: tuple[int, ...], dropped: bool = False) -> _Value:
    """Keras's categorical encodings of the ``x.size`` ids of a row: ``id_code`` sets ``id``
    for entry ``k`` of row ``r`` (and returns 2 when it is out of range; with ``dropped``
    it may set -1: nothing is encoded)."""
    per_row = math.prod(out_shape)
    out = e.buffer(layer.name, per_row)
    put = {"one_hot": f"{out}[r * {per_row} + k * {depth} + id] = 1.0f;",
           "multi_hot": f"{out}[r * {per_row} + id] = 1.0f;",
           "count": f"{out}[r * {per_row} + id] += 1.0f;"}[mode]
    if dropped:  # an id of -1 (a lookup's mask token) sets nothing
        put = f"if (id >= 0) {put}"
    e.emit(f"    for (r = 0; r < nr; ++r) {{\n"
           f"        for (i = 0; i < {per_row}; ++i) {out}[r * {per_row} + i] = 0.0f;\n"
           f"        for (k = 0; k < {x.size}; ++k) {{\n"
           f"            {id_code}\n"
           f"            {put}\n"
           f"        }}\n"
           f"    }}")
    return _Value(out, out_shape)


def _category_encoding(e: _Emitter, layer: Any, x: _Value) -> _Value:
    if len(x.shape) != 1:
        raise ValueError(f"export_c: layer {layer.name!r} (CategoryEncoding) takes (batch, k) "
                         f"ids, got per-sample shape {x.shape}")
    depth = int(layer.num_tokens)
    code = (f"{{ float f = nearbyintf({x.ref}[r * {x.size} + k]); "
            f"if (!(f >= 0.0f && f < {float(depth)!r}f)) return 2; id = (int)f; }}")
    return _encode(e, layer, x, layer.output_mode, depth, code,
                   tuple(layer.compute_output_shape(x.shape)))


def _discretization(e: _Emitter, layer: Any, x: _Value) -> _Value:
    """``np.digitize`` on increasing bins: the count of boundaries ``<= x`` (NaN: all)."""
    if layer.bin_boundaries is None:
        raise ValueError(f"export_c: layer {layer.name!r} (Discretization) has no bin "
                         "boundaries; pass bin_boundaries or call adapt() first")
    table = e.array(f"{layer.name}_edges", _edges32(layer.bin_boundaries))
    n_edges = len(layer.bin_boundaries)
    count = (f"{{ int q; float v = {x.ref}[r * {x.size} + k]; id = 0; "
             f"for (q = 0; q < {n_edges}; ++q) if (!(v < {table}[q])) ++id; }}")
    shape = tuple(layer.compute_output_shape(x.shape))
    if layer.output_mode == "int":
        out = e.buffer(layer.name, x.size)
        e.emit(f"    for (r = 0; r < nr; ++r) for (k = 0; k < {x.size}; ++k) {{\n"
               f"        {count}\n"
               f"        {out}[r * {x.size} + k] = (float)id;\n"
               f"    }}")
        return _Value(out, shape)
    if len(x.shape) != 1:
        raise ValueError(f"export_c: layer {layer.name!r} (Discretization) encodes (batch, k) "
                         f"inputs, got per-sample shape {x.shape}")
    return _encode(e, layer, x, layer.output_mode, int(layer._depth), count, shape)


def _lookup(e: _Emitter, layer: Any, x: _Value) -> _Value:
    """``IntegerLookup``: a binary search of the sorted vocabulary for each token (the C
    inputs are floats: tokens are exact up to 2**24), then Keras's OOV slot
    ``token % num_oov_indices`` for the others; return 2 where ``predict`` raises (a token
    that is not an integer, an unknown one with ``num_oov_indices=0``). ``invert`` maps
    indices back to tokens."""
    if type(layer).__name__ == "StringLookup":
        raise ValueError(f"export_c: layer {layer.name!r} (StringLookup) has no C form: the "
                         "C function takes float inputs; look the strings up before it")
    if layer.invert:
        return _lookup_invert(e, layer, x)
    encoded = layer.output_mode != "int"
    if encoded and len(x.shape) != 1:
        raise ValueError(f"export_c: layer {layer.name!r} (IntegerLookup) encodes (batch, k) "
                         f"tokens, got per-sample shape {x.shape}")
    vocab = np.asarray(layer._vocab, dtype=np.int64)
    order = np.argsort(vocab, kind="stable")
    n_vocab, n_oov, base = len(vocab), layer.num_oov_indices, int(layer._use_mask)
    if n_vocab:
        keys = e.long_array(f"{layer.name}_tokens", vocab[order])
        pos = e.int_array(f"{layer.name}_index", order + layer._offset)
        search = (f"lo = 0; hi = {n_vocab}; while (lo < hi) {{ int mid = (lo + hi) / 2; "
                  f"if ({keys}[mid] < t) lo = mid + 1; else hi = mid; }} "
                  f"if (lo < {n_vocab} && {keys}[lo] == t) id = {pos}[lo]; else ")
    else:
        search = ""
    if layer.mask_token is not None:
        search += (f"if (t == {int(layer.mask_token)}LL) id = {0 if base else -1}; else ")
    miss = (f"id = {base} + (int)(((t % {n_oov}LL) + {n_oov}LL) % {n_oov}LL);" if n_oov
            else "return 2;")
    code = (f"{{ double d = {x.ref}[r * {x.size} + k]; long long t; int lo, hi; "
            f"if (!(fabs(d) < 9.2e18) || floor(d) != d) return 2; t = (long long)d; "
            f"(void)lo; (void)hi; {search}{miss} }}")
    shape = tuple(layer.compute_output_shape(x.shape))
    if encoded:
        depth = (layer.max_tokens if layer.pad_to_max_tokens and layer.max_tokens
                 else layer.vocabulary_size())
        return _encode(e, layer, x, layer.output_mode, int(depth), code, shape,
                       dropped=layer.mask_token is not None)
    out = e.buffer(layer.name, x.size)
    e.emit(f"    for (r = 0; r < nr; ++r) for (k = 0; k < {x.size}; ++k) {{\n"
           f"        {code}\n"
           f"        {out}[r * {x.size} + k] = (float)id;\n"
           f"    }}")
    return _Value(out, shape)


def _lookup_invert(e: _Emitter, layer: Any, x: _Value) -> _Value:
    """Indices (truncated, as ``astype(int64)``) back to tokens; outside the vocabulary:
    the OOV token."""
    vocab = layer.get_vocabulary()
    table = e.array(f"{layer.name}_vocab", vocab)
    oov = _float_literal(float(layer.oov_token))
    out = e.buffer(layer.name, x.size)
    e.emit(f"    for (i = 0; i < nr * {x.size}; ++i) {{\n"
           f"        float f = {x.ref}[i];\n"
           f"        long long j = fabsf(f) < 2147483648.0f ? (long long)f : -1;\n"
           f"        {out}[i] = (j >= 0 && j < {len(vocab)}) ? {table}[j] : {oov};\n"
           f"    }}")
    return _Value(out, x.shape)


def _masking(e: _Emitter, layer: Any, x: _Value) -> _Value:
    """Zeroes the steps whose features all equal ``mask_value`` (``x * keep``, so an inf in a
    masked step gives NaN as in NumPy). The mask itself feeds the mask consumers (see
    ``_Masks``)."""
    f = x.shape[-1]
    mv = _float_literal(layer.mask_value)
    out = e.buffer(layer.name, x.size)
    e.emit(f"    for (g = 0; g < nr * {x.size // f}; ++g) {{\n"
           f"        const float *xi = {x.ref} + g * {f};\n"
           f"        float keep = 0.0f;\n"
           f"        for (k = 0; k < {f}; ++k) if (xi[k] != {mv}) keep = 1.0f;\n"
           f"        for (k = 0; k < {f}; ++k) {out}[g * {f} + k] = xi[k] * keep;\n"
           f"    }}")
    return _Value(out, x.shape)


_MERGE = {"Add": "{a} + {b}", "Subtract": "{a} - {b}", "Multiply": "{a} * {b}",
          "Average": "{a} + {b}", "Maximum": "max_({a}, {b})", "Minimum": "min_({a}, {b})"}


def _merge(e: _Emitter, layer: Any, xs: list[_Value]) -> _Value:
    kind = type(layer).__name__
    if kind == "Subtract" and len(xs) != 2:
        raise ValueError(f"export_c: Subtract {layer.name!r} takes exactly 2 inputs")
    out = e.buffer(layer.name, xs[0].size)
    acc = f"{xs[0].ref}[i]"
    for v in xs[1:]:
        acc = _MERGE[kind].format(a=acc, b=f"{v.ref}[i]")
    if kind == "Average":
        acc = f"({acc}) / {float(len(xs))!r}f"
    e.emit(f"    for (i = 0; i < nr * {xs[0].size}; ++i) {out}[i] = {acc};")
    return _Value(out, xs[0].shape)


def _dot(e: _Emitter, layer: Any, xs: list[_Value]) -> _Value:
    """``keras.layers.Dot``: y[p, s] = Σ_k a[p, k] b[k, s] over the two inputs' ``axes``, by
    index tables computed at export; ``normalize`` scales by each fiber's inverse L2 norm."""
    x1, x2 = xs
    a_ax, b_ax = layer._resolved([x1.shape, x2.shape])
    idx_a = np.moveaxis(np.arange(x1.size).reshape(x1.shape), a_ax - 1, -1)
    idx_b = np.moveaxis(np.arange(x2.size).reshape(x2.shape), b_ax - 1, 0)
    kk = idx_a.shape[-1]
    idx_a, idx_b = idx_a.reshape(-1, kk), idx_b.reshape(kk, -1)
    pp, ss = idx_a.shape[0], idx_b.shape[1]
    ta, tb = e.int_array(f"{layer.name}_a", idx_a), e.int_array(f"{layer.name}_b", idx_b)
    shape = tuple(layer.compute_output_shape([x1.shape, x2.shape]))
    out = e.buffer(layer.name, pp * ss)
    a = f"{x1.ref}[r * {x1.size} + {ta}[p * {kk} + k]]"
    b = f"{x2.ref}[r * {x2.size} + {tb}[k * {ss} + s]]"
    if layer.normalize:  # l2_normalize's floor: 1e-7 on the squared norm
        scale = (f"float na = 0.0f, nb = 0.0f;\n"
                 f"            for (k = 0; k < {kk}; ++k) {{ na += {a} * {a}; nb += {b} * {b}; }}\n"
                 f"            acc *= (1.0f / sqrtf(na > 1e-7f ? na : 1e-7f)) * "
                 f"(1.0f / sqrtf(nb > 1e-7f ? nb : 1e-7f));\n")
    else:
        scale = ""
    e.emit(f"    for (r = 0; r < nr; ++r) {{\n"
           f"        int p, s;\n"
           f"        for (p = 0; p < {pp}; ++p) for (s = 0; s < {ss}; ++s) {{\n"
           f"            float acc = 0.0f;\n"
           f"            for (k = 0; k < {kk}; ++k) acc += {a} * {b};\n"
           f"            {scale}"
           f"            {out}[r * {pp * ss} + p * {ss} + s] = acc;\n"
           f"        }}\n"
           f"    }}")
    return _Value(out, shape)


def _converters() -> dict[type, Callable[..., _Value]]:
    return _graph.converter_table({
        "Dense": _dense, "Activation": _activation_layer, "Dropout": _identity,
        "Flatten": _reshape, "Embedding": _embedding, "WindowEmbedding": _embedding,
        "EmbeddingBag": _embedding_bag, "Concatenate": _concatenate, "Bucketize": _bucketize,
        "Permute": _permute, "RepeatVector": _repeat_vector,
        "GlobalAveragePooling1D": _pooling, "GlobalMaxPooling1D": _pooling,
        "CategoryEncoding": _category_encoding, "Discretization": _discretization,
        "Masking": _masking, "Dot": _dot,
        "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm,
        "Normalization": _normalization, "UnitNormalization": _unit_norm,
        "Rescaling": _rescaling, "Reshape": _reshape, "Identity": _identity,
        "GaussianNoise": _identity, "GaussianDropout": _identity, "AlphaDropout": _identity,
        "SpatialDropout1D": _identity, "PReLU": _prelu,
        "ReLU": _activation_layer, "LeakyReLU": _activation_layer, "ELU": _activation_layer,
        "Softmax": _activation_layer, "IntegerLookup": _lookup, "StringLookup": _lookup,
        **{k: _merge for k in _MERGE},
    })


def generate_c(model: Any, name: str) -> tuple[str, str]:
    """``(source, header)`` of ``model`` with the C prefix ``name`` (an identifier)."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"export_c: name must be a C identifier, got {name!r}")
    _graph.check_model(model, "export_c")
    e = _Emitter(name)
    table = _converters()
    shapes = [spec.shape for spec in _graph.input_specs(model)]
    n_in = sum(math.prod(s) for s in shapes)
    vals: list[_Value] = []
    if len(shapes) == 1:
        vals.append(_Value("in", shapes[0]))
    else:  # the inputs lie side by side in each row: one tile buffer each
        offset = 0
        for k, shape in enumerate(shapes):
            size = math.prod(shape)
            buf = e.buffer(f"input{k}", size)
            e.emit(f"    for (r = 0; r < nr; ++r) for (i = 0; i < {size}; ++i) "
                   f"{buf}[r * {size} + i] = in[r * {n_in} + {offset} + i];")
            vals.append(_Value(buf, shape))
            offset += size

    def step(layer: Any, x: Any, **mask: Any) -> _Value:
        refusal = "export_c: layer {name!r} ({kind}) has no C form"
        return _graph.converter_for(table, layer, refusal)(e, layer, x, **mask)

    outs = _graph.walk_outputs(model, vals, step, "export_c", masker=_Masks(e))
    sizes = [v.size for v in outs]
    used = sum(size for _, size in e.buffers)
    if used > _STACK_LIMIT:
        raise ValueError(f"export_c: the per-row buffers need {used} floats of stack "
                         f"(limit {_STACK_LIMIT}); the model is too wide for this exporter")
    # rows run in tiles through the layers (fewer, longer loops); the tile's buffers stay
    # within _TILE_STACK floats of stack
    tile = max(1, min(_TILE_ROWS, _TILE_STACK // max(used, 1)))
    upper = name.upper()
    guard = f"{upper}_H"
    several = len(outs) > 1
    ys = [f"y{k}" for k in range(len(outs))] if several else ["y"]
    params = ", ".join(f"float *{y}" for y in ys)
    signature = f"int {name}_predict(const float *x, int n_rows, {params})"
    macros = [f"#define {upper}_N_INPUTS {n_in}"]
    if len(shapes) > 1:  # where each input lies in a row of x
        in_names = [spec.name for spec in _graph.input_specs(model)]
        offset = 0
        for k, shape in enumerate(shapes):
            macros += [f"#define {upper}_N_INPUTS_{k} {math.prod(shape)}  "
                       f"/* input {k}: {_comment(in_names[k])} */",
                       f"#define {upper}_INPUT_OFFSET_{k} {offset}"]
            offset += math.prod(shape)
    if several:
        out_names = _graph.output_names(model) or []
        macros.append(f"#define {upper}_N_OUTPUT_ARRAYS {len(outs)}")
        macros += [f"#define {upper}_N_OUTPUTS_{k} {size}  /* y{k}: {_comment(out_names[k])} */"
                   for k, size in enumerate(sizes)]
        layout = f"x: n_rows x {upper}_N_INPUTS, each y<k>: n_rows x {upper}_N_OUTPUTS_<k>"
    else:
        macros.append(f"#define {upper}_N_OUTPUTS {sizes[0]}")
        layout = f"x: n_rows x {upper}_N_INPUTS, y: n_rows x {upper}_N_OUTPUTS"
    origin = f"generated by fastff {_version()} from model {_comment(model.name)}"
    header = (f"/* {name}.h: {origin}. */\n"
              f"#ifndef {guard}\n#define {guard}\n\n"
              + "\n".join(macros) + "\n\n"
              "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
              f"/* Row-major {layout}.\n"
              "   Returns 0 on success, 1 for bad arguments, 2 for an embedding id out of\n"
              "   range. Reentrant: no allocation, no global state. */\n"
              f"{signature};\n\n"
              "#ifdef __cplusplus\n}\n#endif\n\n"
              f"#endif /* {guard} */\n")
    decls = "".join(f"        float {b}[{tile * size}];\n" for b, size in e.buffers)
    body = "\n".join("    " + line.replace("\n", "\n    ") for line in e.body)
    helpers = "\n".join(code for fn, code in _HELPERS.items()
                        if re.search(rf"\b{fn}\(", body))
    null_check = " || ".join(["x == NULL", *(f"{y} == NULL" for y in ys)])
    out_ptrs = "".join(f"        float *out{k} = {y} + (size_t)r0 * {size};\n"
                       for k, (y, size) in enumerate(zip(ys, sizes)))
    copies = "\n".join(f"        for (i = 0; i < nr * {size}; ++i) out{k}[i] = {v.ref}[i];"
                       for k, (v, size) in enumerate(zip(outs, sizes)))
    source = (f"/* {name}.c: {origin}.\n"
              f"   C99, needs only <math.h>: cc -std=c99 -O2 -c {name}.c; link with -lm. */\n"
              f"#include <math.h>\n#include <stddef.h>\n#include \"{name}.h\"\n\n"
              + "\n\n".join(e.arrays) + "\n\n"
              + helpers + "\n"
              f"{signature}\n{{\n"
              "    int r0;\n"
              f"    if (n_rows < 0 || (n_rows > 0 && ({null_check}))) return 1;\n"
              f"    for (r0 = 0; r0 < n_rows; r0 += {tile}) {{\n"
              f"        const int nr = n_rows - r0 < {tile} ? n_rows - r0 : {tile};\n"
              f"        const float *in = x + (size_t)r0 * {n_in};\n"
              + out_ptrs +
              "        int i, j, k, g, r, c, id;\n"
              + decls
              + "        (void)i; (void)j; (void)k; (void)g; (void)r; (void)c; (void)id;\n"
              "        (void)in;\n"
              + body + "\n"
              + copies + "\n"
              "    }\n    return 0;\n}\n")
    return source, header


def _comment(text: str) -> str:
    """``text`` quoted, safe inside a C comment: ASCII escapes (no line break), no ``*/``
    or ``/*``, no ``?`` (C99 trigraphs such as ``??/`` would splice lines)."""
    return (ascii(str(text)).replace("?", "\\x3f").replace("*/", "*\\x2f")
            .replace("/*", "\\x2f*"))


def _version() -> str:
    from fastff import __version__

    return __version__


def export_c(model: Any, path: str | os.PathLike[str], name: str | None = None) -> tuple[str, str]:
    """Write ``path`` (the ``.c`` source) and the matching ``.h`` beside it, atomically.

    ``name``: the C prefix (default: the file's stem, made an identifier). Returns the two
    paths written.
    """
    from fastff._atomic import atomic_write

    path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise ValueError(f"export_c: path must be a file path, got {path!r}")
    stem, ext = os.path.splitext(path)
    if ext != ".c":
        raise ValueError(f"export_c: path must end in '.c', got {path!r}")
    prefix = name if name is not None else _c_ident(os.path.basename(stem))
    source, header = generate_c(model, prefix)
    header_path = stem + ".h"
    if os.path.basename(header_path) != prefix + ".h":
        source = source.replace(f'#include "{prefix}.h"',
                                f'#include "{os.path.basename(header_path)}"')
    atomic_write(header_path, lambda f: f.write(header.encode()))
    atomic_write(path, lambda f: f.write(source.encode()))
    return path, header_path

