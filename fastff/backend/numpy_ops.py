"""NumpyOps: the plain-NumPy reference of every kernel in the Ops contract.

Clear before fast: every other backend (CpuOps, CudaOps) is tested against these
methods. Arithmetic is done in the dtype of the inputs (float32 or float64) with the same
operation order as the compiled kernels, so the two agree to rounding.
See ``docs/internals.md`` for the contract.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastff._validation import check_index_range
from fastff.backend import scalar as S
from fastff.backend import scalar_act as SA
from fastff.backend import spec

# the activation facts live in backend/spec.py; these names stay for the reference's callers
NEEDS_INPUT = spec.NEEDS_INPUT
ACTIVATIONS = spec.NAMES
canonical_activation = spec.canonical
# the formulas' constants, as the kernels' bodies (backend/scalar_act.py) have them
SELU_ALPHA = SA.SELU_ALPHA
SELU_SCALE = SA.SELU_SCALE
_SQRT_HALF = SA.SQRT_HALF
_INV_SQRT_2PI = SA.INV_SQRT_2PI

# Moments whose magnitude falls below this are flushed to zero by the optimizer steps:
# subnormal floats make every later step 1.6-1.9x slower (see shared/PEERS.md).
FLUSH_TINY = {np.dtype(np.float32): 1e-30, np.dtype(np.float64): 1e-300}

# splitmix64 constants for the counter-based dropout hash.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def flush_threshold(dtype: Any) -> float:
    """Magnitude below which optimizer moments are set to zero for this dtype."""
    return FLUSH_TINY.get(np.dtype(dtype), 1e-30)


def _splitmix64_int(x: int) -> int:
    """splitmix64 finaliser on a Python int (used once per call to derive the stream key)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def dropout_key(seed: int, counter: int) -> int:
    """64-bit stream key for (seed, counter): element i of the mask hashes key + i*golden."""
    return _splitmix64_int(_splitmix64_int(int(seed) & _MASK64) ^ (int(counter) & _MASK64))


def dropout_threshold(rate: float) -> int:
    """Integer threshold t in [0, 2^24]: an element is kept when its 24-bit hash is >= t."""
    return min(1 << 24, max(0, int(math.ceil(float(rate) * (1 << 24)))))


def _erf(x: np.ndarray) -> np.ndarray:
    erf = np.frompyfunc(math.erf, 1, 1)
    return erf(x).astype(x.dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    one = x.dtype.type(1)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, one / (one + e), e / (one + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _log_softmax_rows(z: np.ndarray) -> np.ndarray:
    """``(z - max) - log Σ exp(z - max)``: exact for large |z| (no ``max + log s`` rounding)."""
    d = z - np.max(z, axis=-1, keepdims=True)
    return d - np.log(np.sum(np.exp(d), axis=-1, keepdims=True))


def _glu_halves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = x.shape[-1]
    if c % 2:
        raise ValueError(f"activation 'glu' needs an even last dimension, got {c}")
    return x[..., :c // 2], x[..., c // 2:]


def _sparsemax_rows(x: np.ndarray) -> np.ndarray:
    """Sparsemax over the last axis (Martins & Astudillo 2016): ``max(x - tau, 0)`` with
    ``tau = (sum of the k largest - 1) / k``, k the largest with ``1 + k z_(k) > sum``; a
    row holding a NaN or +inf is all NaN."""
    t = x.dtype.type
    zs = -np.sort(-x, axis=-1)
    cs = np.cumsum(zs, axis=-1)
    r = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.sum(zs - (cs - t(1)) / r > 0, axis=-1, keepdims=True)
        top = np.take_along_axis(cs, np.maximum(k - 1, 0), axis=-1)
        tau = np.where(k > 0, (top - t(1)) / np.maximum(k, 1).astype(x.dtype), t(np.nan))
        tau = np.where(np.isnan(x).any(axis=-1, keepdims=True), t(np.nan), tau)
        return np.maximum(x - tau, t(0)).astype(x.dtype, copy=False)


def _activation(name: str, x: np.ndarray, param: float) -> np.ndarray:
    """Elementwise forward of ``name`` in the dtype of ``x`` (softmax: last axis)."""
    t = x.dtype.type
    p = t(param)
    if name == "linear":
        return x.copy()
    if name == "relu":
        return np.maximum(x, t(0))
    if name == "leaky_relu":
        return np.where(x > 0, x, x * p)
    if name == "elu":
        return np.where(x > 0, x, p * np.expm1(x))
    if name == "selu":
        return t(SELU_SCALE) * np.where(x > 0, x, t(SELU_ALPHA) * np.expm1(x))
    if name == "gelu":
        return t(0.5) * x * (t(1) + _erf(x * t(_SQRT_HALF)))
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "hard_sigmoid":
        return np.clip(x / t(6) + t(0.5), t(0), t(1))
    if name == "softplus":
        return _softplus(x)
    if name == "softsign":
        return x / (t(1) + np.abs(x))
    if name in ("silu", "swish"):
        return x * _sigmoid(x)
    if name == "exponential":
        return np.exp(x)
    if name == "relu6":
        return np.where(x < 0, t(0), np.where(x > 6, t(6), x))
    if name == "mish":
        return x * np.tanh(_softplus(x))
    if name in ("hard_silu", "hard_swish"):
        r = x + t(3)
        return x * np.where(r < 0, t(0), np.where(r > 6, t(6), r)) / t(6)
    if name == "hard_tanh":
        return np.where(x < -1, t(-1), np.where(x > 1, t(1), x))
    if name == "log_sigmoid":
        return np.minimum(x, t(0)) - np.log1p(np.exp(-np.abs(x)))
    if name == "celu":
        return np.where(x > 0, x, p * np.expm1(x / p))
    if name == "hard_shrink":
        return np.where((x >= -p) & (x <= p), t(0), x)
    if name == "soft_shrink":
        return np.where((x >= -p) & (x <= p), t(0), np.where(x > p, x - p, x + p))
    if name == "tanh_shrink":
        return x - np.tanh(x)
    if name == "sparse_plus":
        return np.where(x <= -1, t(0), np.where(x < 1, t(0.25) * np.square(x + t(1)), x))
    if name == "sparse_sigmoid":
        return np.where(x <= -1, t(0), np.where(x >= 1, t(1), t(0.5) * (x + t(1))))
    if name == "squareplus":
        return (x + np.sqrt(x * x + p)) / t(2)
    if name == "softmax":
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)
    if name == "log_softmax":
        return _log_softmax_rows(x)
    if name == "sparsemax":
        return _sparsemax_rows(x)
    if name == "glu":  # a * sigmoid(b), a and b the halves of the last axis
        a, b = _glu_halves(x)
        return a * _sigmoid(b)
    raise ValueError(f"Unknown activation {name!r}")


def _activation_grad(name: str, dy: np.ndarray, x: Any, y: Any, param: float) -> np.ndarray:
    """dx from dy; uses y where the derivative is a function of the output, else x."""
    t = dy.dtype.type
    p = t(param)
    if name in NEEDS_INPUT:
        if x is None:
            raise ValueError(f"backprop of {name!r} needs the input x")
        if name == "gelu":
            cdf = t(0.5) * (t(1) + _erf(x * t(_SQRT_HALF)))
            pdf = np.exp(t(-0.5) * x * x) * t(_INV_SQRT_2PI)
            return dy * (cdf + x * pdf)
        if name == "glu":
            a, b = _glu_halves(x)
            s = _sigmoid(b)
            return np.concatenate([dy * s, dy * a * (s * (t(1) - s))], axis=-1)
        if name == "mish":
            th = np.tanh(_softplus(x))
            return dy * (th + x * (t(1) - th * th) * _sigmoid(x))
        if name in ("hard_silu", "hard_swish"):
            return np.where(x < -3, t(0), np.where(x > 3, dy, dy * (t(2) * x + t(3)) / t(6)))
        if name in ("hard_shrink", "soft_shrink"):
            return np.where((x >= -p) & (x <= p), t(0), dy)
        if name == "tanh_shrink":
            th = np.tanh(x)
            return dy * (th * th)
        if name == "sparse_plus":
            return np.where(x <= -1, t(0), np.where(x < 1, dy * (t(0.5) * (x + t(1))), dy))
        if name == "squareplus":
            return dy * (t(0.5) * (t(1) + x / np.sqrt(x * x + p)))
        s = _sigmoid(x)
        return dy * (s * (t(1) + x * (t(1) - s)))
    if y is None:
        if x is None:
            raise ValueError(f"backprop of {name!r} needs the output y or the input x")
        y = _activation(name, x, param)
    if name == "linear":
        return dy.copy()
    if name == "relu":
        return np.where(y > 0, dy, t(0))
    if name == "leaky_relu":
        return np.where(y > 0, dy, dy * p)
    if name == "elu":
        return np.where(y > 0, dy, dy * (y + p))
    if name == "selu":
        return np.where(y > 0, dy * t(SELU_SCALE), dy * (y + t(SELU_SCALE * SELU_ALPHA)))
    if name == "tanh":
        return dy * (t(1) - y * y)
    if name == "sigmoid":
        return dy * (y * (t(1) - y))
    if name == "hard_sigmoid":
        return np.where((y > 0) & (y < 1), dy / t(6), t(0))
    if name == "softplus":
        return dy * -np.expm1(-y)
    if name == "softsign":
        a = t(1) - np.abs(y)
        return dy * (a * a)
    if name == "exponential":
        return dy * y
    if name == "relu6":
        return np.where((y > 0) & (y < 6), dy, t(0))
    if name == "hard_tanh":
        return np.where((y > -1) & (y < 1), dy, t(0))
    if name == "log_sigmoid":
        return dy * -np.expm1(y)
    if name == "celu":
        return np.where(y > 0, dy, dy * (y / p + t(1)))
    if name == "sparse_sigmoid":
        return np.where((y > 0) & (y < 1), dy * t(0.5), t(0))
    if name == "softmax":
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
    if name == "log_softmax":
        return dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)
    if name == "sparsemax":  # on the support S (y > 0): dy - mean_S(dy); 0 off it
        s = y > 0
        k = np.maximum(np.sum(s, axis=-1, keepdims=True), 1).astype(dy.dtype)
        mean = np.sum(np.where(s, dy, t(0)), axis=-1, keepdims=True) / k
        return np.where(s, dy - mean, t(0))
    raise ValueError(f"Unknown activation {name!r}")


def check_labels(labels: np.ndarray, n_classes: int) -> None:
    """Sparse cross-entropy labels in ``[0, n_classes)`` (ValueError otherwise)."""
    check_index_range(labels, n_classes, "sparse cross-entropy", "labels")


def check_embedding_args(table_shape: tuple[int, ...], ids: np.ndarray, name: str,
                         rows: Any = None, dy: Any = None, n_out: int | None = None) -> None:
    """The checks in front of the embedding kernels (which do not bounds-check): ids and
    ``rows`` (``prev_rows``) inside the table, ``dy`` of shape ``(n_out, table width)``."""
    n = int(table_shape[0])
    check_index_range(ids, n, name)
    if rows is not None:
        check_index_range(np.asarray(rows), n, name, "prev_rows")
    if dy is not None:
        want = (n_out, int(table_shape[1]))
        if tuple(np.shape(dy)) != want and int(np.size(dy)) != want[0] * want[1]:
            raise ValueError(f"{name}: dy must have shape {want}, got {tuple(np.shape(dy))}")


def _write(out: np.ndarray | None, value: np.ndarray) -> np.ndarray:
    if out is None:
        return np.ascontiguousarray(value)
    out[...] = value
    return out


def _row_weights(n: int, sample_weight: Any, dtype: np.dtype) -> tuple[np.ndarray, Any]:
    """Per-row weights w_i and the reduction factor 1/n (Keras's ``sum_over_batch_size``:
    the weighted sum over the batch size, whatever the weights add up to)."""
    if sample_weight is None:
        w = np.ones(n, dtype=dtype)
    else:
        w = np.asarray(sample_weight, dtype=dtype).reshape(n)
    return w, dtype.type(1.0 / n) if n else dtype.type(0)


class OptimizerSteps:
    """The Ops contract's per-optimizer steps, each one call of the backend's
    ``optimizer_step`` with the packed form ``backend/scalar.py`` defines (shared by every
    backend, so the packing exists once)."""

    def optimizer_step(self, code: int, params: Any, grads: Any, bufs: Sequence[Any],
                       consts: Sequence[float], lr: float, wdlr: float,
                       grad_scale: float = 1.0) -> None:
        raise NotImplementedError

    def _step(self, code: int, params: Any, grads: Any, bufs: tuple, own: tuple, lr: float,
              weight_decay: float, grad_scale: float, clipvalue: float | None) -> None:
        consts = S.pack_consts(clipvalue, flush_threshold(params.dtype), own)
        self.optimizer_step(code, params, grads, bufs, consts, lr, lr * weight_decay,
                            grad_scale)

    def sgd_step(
        self, params: Any, grads: Any, velocity: Any, lr: float, momentum: float = 0.0,
        nesterov: bool = False, *, weight_decay: float = 0.0, grad_scale: float = 1.0,
        clipvalue: float | None = None,
    ) -> None:
        """SGD (Keras): ``v = μv - lr g``; ``p += v`` or ``p += μv - lr g`` (Nesterov)."""
        vel = velocity if momentum != 0.0 else None
        self._step(S.SGD, params, grads, (vel, None, None), S.sgd_consts(momentum, nesterov),
                   lr, weight_decay, grad_scale, clipvalue)

    def adagrad_step(
        self, params: Any, grads: Any, accum: Any, lr: float, epsilon: float = 1e-7, *,
        weight_decay: float = 0.0, grad_scale: float = 1.0, clipvalue: float | None = None,
    ) -> None:
        """Adagrad (Keras): ``a += g²``; ``p -= lr g / sqrt(a + eps)``."""
        self._step(S.ADAGRAD, params, grads, (accum, None, None), S.adagrad_consts(epsilon),
                   lr, weight_decay, grad_scale, clipvalue)

    def rmsprop_step(
        self, params: Any, grads: Any, velocity: Any, momentum_buf: Any, average_grad: Any,
        lr: float, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
        centered: bool = False, *, weight_decay: float = 0.0, grad_scale: float = 1.0,
        clipvalue: float | None = None,
    ) -> None:
        """RMSprop (Keras): ``v = ρv + (1-ρ)g²``; centered subtracts the mean gradient²;
        ``inc = lr g / sqrt(den + eps)``; with momentum ``m = μm + inc``, ``p -= m``."""
        bufs = (velocity, momentum_buf if momentum > 0.0 else None,
                average_grad if centered else None)
        self._step(S.RMSPROP, params, grads, bufs, S.rmsprop_consts(rho, momentum, epsilon),
                   lr, weight_decay, grad_scale, clipvalue)

    def adam_step(
        self, params: Any, grads: Any, m: Any, v: Any, vhat: Any, lr: float,
        beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, step: int = 1,
        amsgrad: bool = False, *, weight_decay: float = 0.0, grad_scale: float = 1.0,
        clipvalue: float | None = None,
    ) -> None:
        """Adam with Kingma & Ba's bias correction in its efficient form (as Keras):
        ``α = lr sqrt(1-β₂ᵗ)/(1-β₁ᵗ)``, ``m += (g-m)(1-β₁)``, ``v += (g²-v)(1-β₂)``,
        AMSGrad ``v̂ = max(v̂, v)``, ``p -= α m / (sqrt(v) + ε)``; ``step`` is 1-based."""
        consts = S.pack_consts(clipvalue, flush_threshold(params.dtype),
                               S.adam_consts(beta_1, beta_2, epsilon))
        self.optimizer_step(S.ADAM, params, grads, (m, v, vhat if amsgrad else None), consts,
                            S.adam_alpha(lr, beta_1, beta_2, step), lr * weight_decay,
                            grad_scale)


class NumpyOps(OptimizerSteps):
    """Reference implementation of the Ops contract in plain NumPy."""

    name = "numpy"
    device = "cpu"
    xp = np

    # ------------------------------------------------------------------ arrays
    def alloc(self, shape: int | Sequence[int], dtype: Any = np.float32) -> np.ndarray:
        """Zero-filled C-contiguous array, 64-byte aligned (one cache line / AVX-512 vector)."""
        dtype = np.dtype(dtype)
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        raw = np.zeros(nbytes + 64, dtype=np.uint8)
        off = (-raw.ctypes.data) % 64
        return raw[off:off + nbytes].view(dtype).reshape(shape)

    def asarray(self, x: Any, dtype: Any = None) -> np.ndarray:
        """Host array (no copy when already one of the right dtype)."""
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Bring an Ops array to the host (identity on the CPU)."""
        return np.asarray(x)

    def multiply(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Elementwise ``a * b`` (into ``out`` when given)."""
        return np.multiply(a, b, out=out)

    def concat_columns(self, xs: Sequence[np.ndarray], out: np.ndarray | None = None
                       ) -> np.ndarray:
        """``[x0 | x1 | ...]`` along the columns of 2-D arrays with the same rows."""
        widths = [x.shape[1] for x in xs]
        if out is None:
            out = np.empty((xs[0].shape[0], sum(widths)),
                           dtype=np.result_type(*[x.dtype for x in xs]))
        col = 0
        for x, w in zip(xs, widths):
            out[:, col:col + w] = x
            col += w
        return out

    def split_columns(self, x: np.ndarray, widths: Sequence[int]) -> list[np.ndarray]:
        """The column blocks of ``x`` of the given widths, as new C-contiguous arrays."""
        bounds = np.cumsum([0, *widths])
        return [np.ascontiguousarray(x[:, a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    def reshape(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """``x`` with a new shape (a view when ``x`` is C-contiguous, else a copy)."""
        return np.ascontiguousarray(x).reshape(shape)

    @staticmethod
    def backprop_needs_input(activation: str | None) -> bool:
        """True when ``backprop_activation(name, ...)`` needs the input x (not only y)."""
        return canonical_activation(activation) in NEEDS_INPUT

    # -------------------------------------------------------------------- GEMM
    def gemm(
        self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *,
        trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
        bias: np.ndarray | None = None, activation: str | None = None, act_param: float = 0.0,
    ) -> np.ndarray:
        """``out = act(alpha * op(a) @ op(b) + beta * out + bias)``."""
        opa = a.T if trans_a else a
        opb = b.T if trans_b else b
        z = opa @ opb
        t = z.dtype.type
        if alpha != 1.0:
            z = z * t(alpha)
        if beta != 0.0 and out is not None:
            z = z + t(beta) * out
        if bias is not None:
            z = z + bias
        name = canonical_activation(activation)
        if name != "linear":
            z = _activation(name, z, act_param)
        return _write(out, z)

    # ------------------------------------------------------------- activations
    def activation(
        self, name: str | None, x: np.ndarray, out: np.ndarray | None = None, param: float = 0.0
    ) -> np.ndarray:
        """Elementwise activation (``softmax``/``log_softmax`` along the last axis).

        ``param`` is the negative slope of ``leaky_relu`` and the alpha of ``elu``; it is
        used literally (callers pass Keras's defaults explicitly).
        """
        return _write(out, _activation(canonical_activation(name), x, param))

    def backprop_activation(
        self, name: str | None, dy: np.ndarray, x: np.ndarray | None, y: np.ndarray | None,
        out: np.ndarray | None = None, param: float = 0.0,
    ) -> np.ndarray:
        """``dx = dy * act'(x)``; from the output y except for gelu/silu (input x)."""
        return _write(out, _activation_grad(canonical_activation(name), dy, x, y, param))

    def bias_grad(self, dy: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Column sums of a 2-D ``dy`` (rows summed in order, in the dtype of dy)."""
        dy2 = dy.reshape(-1, dy.shape[-1])
        acc = np.zeros(dy2.shape[1], dtype=dy.dtype)
        for i in range(dy2.shape[0]):
            acc += dy2[i]
        return _write(out, acc)

    # ------------------------------------------------------------------- dense
    def dense(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, activation: str | None = None,
        param: float = 0.0, out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``y = act(x @ w + b)`` with ``w`` of shape (in, out)."""
        return self.gemm(x, w, out, bias=b, activation=activation, act_param=param)

    def backprop_dense(
        self, dz: np.ndarray, x: np.ndarray, w: np.ndarray, dw: np.ndarray,
        db: np.ndarray | None, dx: np.ndarray | None | bool = None, *,
        activation: str | None = None, y: np.ndarray | None = None, param: float = 0.0,
        work: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Dense backward: ``dw = xᵀ g``, ``db = Σ g``, returns ``dx = g wᵀ``.

        ``g = dz`` by default. With ``activation`` (and the layer output ``y``; the input is
        not needed for y-derivable activations) ``dz`` is the gradient of the *output* and
        ``g = dz * act'(y)`` is formed first, into ``work`` when given. ``dx=False`` skips the
        input gradient (first layer); ``db=None`` skips the bias gradient.
        """
        name = canonical_activation(activation)
        g = dz
        if name != "linear":
            if name in NEEDS_INPUT:
                raise ValueError(f"backprop_dense cannot fuse {name!r}: its derivative needs z")
            g = self.backprop_activation(name, dz, None, y, out=work, param=param)
        self.gemm(x, g, dw, trans_a=True)
        if db is not None:
            self.bias_grad(g, db)
        if dx is False:
            return None
        return self.gemm(g, w, None if dx is None else dx, trans_b=True)

    # ------------------------------------------------------------------ losses
    def softmax_xent_sparse(
        self, logits: np.ndarray, labels: np.ndarray, sample_weight: Any = None,
        dlogits: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-row ``-log softmax(z)[label]`` (unweighted) and the mean-reduced gradient.

        ``dlogits = (softmax(z) - onehot) * w_i / n``.
        """
        z = logits
        n = z.shape[0]
        labels = np.asarray(labels).reshape(n).astype(np.int64)
        check_labels(labels, z.shape[1])
        d = z - np.max(z, axis=-1, keepdims=True)
        e = np.exp(d)
        s = np.sum(e, axis=-1, keepdims=True)
        rows = np.arange(n)
        loss = np.log(s[:, 0]) - d[rows, labels]
        w, inv = _row_weights(n, sample_weight, z.dtype)
        p = e / s
        p[rows, labels] -= z.dtype.type(1)
        g = p * (w * inv)[:, None]
        return loss, _write(dlogits, g)

    def softmax_xent(
        self, logits: np.ndarray, targets: np.ndarray, sample_weight: Any = None,
        dlogits: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-row ``-Σ t log softmax(z)`` and gradient ``(softmax(z) Σt - t) * w_i / n``."""
        z = logits
        t = np.asarray(targets, dtype=z.dtype)
        d = z - np.max(z, axis=-1, keepdims=True)
        e = np.exp(d)
        s = np.sum(e, axis=-1, keepdims=True)
        loss = -np.sum(t * (d - np.log(s)), axis=-1)
        w, inv = _row_weights(z.shape[0], sample_weight, z.dtype)
        g = (e / s * np.sum(t, axis=-1, keepdims=True) - t) * (w * inv)[:, None]
        return loss.astype(z.dtype), _write(dlogits, g)

    def sigmoid_bce(
        self, logits: np.ndarray, targets: np.ndarray, sample_weight: Any = None,
        dlogits: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Binary cross-entropy on logits, averaged over the last axis per row (as Keras).

        Element loss ``max(z,0) - z t + log1p(exp(-|z|))``; gradient
        ``(sigmoid(z) - t) / C * w_i / n`` for C columns.
        """
        z = logits
        z2 = z.reshape(z.shape[0], -1)
        t = np.asarray(targets, dtype=z.dtype).reshape(z2.shape)
        c = z2.shape[1]
        elem = np.maximum(z2, 0) - z2 * t + np.log1p(np.exp(-np.abs(z2)))
        loss = np.sum(elem, axis=1) / z.dtype.type(c)
        w, inv = _row_weights(z.shape[0], sample_weight, z.dtype)
        g = (_sigmoid(z2) - t) * ((w * inv) / z.dtype.type(c))[:, None]
        return loss.astype(z.dtype), _write(dlogits, g.reshape(z.shape))

    def mse(
        self, y_pred: np.ndarray, y_true: np.ndarray, sample_weight: Any = None,
        dy: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-row ``mean_j (y - t)²`` and the gradient of the weighted batch mean,
        ``2 (y - t) w_i / (n C)`` for C columns."""
        e = y_pred - np.asarray(y_true, dtype=y_pred.dtype)
        c = e.shape[1]
        w, inv = _row_weights(e.shape[0], sample_weight, e.dtype)
        g = (e.dtype.type(2) * e) * ((w * inv) / e.dtype.type(c))[:, None]
        return np.mean(e * e, axis=1), _write(dy, g)

    # ----------------------------------------------------------------- dropout
    def dropout_mask(
        self, shape: int | Sequence[int], rate: float, seed: int, counter: int,
        dtype: Any = np.float32, out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Inverted-dropout mask: 0 with probability ``rate``, else ``1/(1-rate)``.

        Element i (C order) keeps when the top 24 bits of splitmix64(key + (i+1)*golden)
        are >= ceil(rate * 2^24), with key = dropout_key(seed, counter): the same mask on
        every backend and whatever the thread count.
        """
        dtype = np.dtype(dtype)
        n = int(np.prod(shape))
        scale = dtype.type(1.0 / (1.0 - rate)) if rate < 1.0 else dtype.type(0)
        idx = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(dropout_key(seed, counter)) + idx * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
        keep = (z >> np.uint64(40)) >= np.uint64(dropout_threshold(rate))
        mask = np.where(keep, scale, dtype.type(0)).reshape(shape)
        return _write(out, mask)

    # -------------------------------------------------------------- reductions
    def sq_norm(self, x: np.ndarray) -> float:
        """Σ x², accumulated in float64."""
        v = np.asarray(x, dtype=np.float64).ravel()
        return float(np.dot(v, v))

    def sum_f64(self, x: np.ndarray) -> float:
        """Σ x accumulated in float64 (the loss sums of ``fit``/``evaluate`` logs)."""
        return float(np.sum(x, dtype=np.float64))

    def permutation(self, seed: int, epoch: int, n: int) -> np.ndarray:
        """The order ``fit`` visits ``n`` samples in during ``epoch``: a function of (seed,
        epoch) only, so a resumed run sees the same order; int64 indices."""
        return np.random.default_rng([int(seed), int(epoch)]).permutation(int(n))

    def global_norm(self, arrays: Sequence[np.ndarray]) -> float:
        """sqrt(Σ over arrays of Σ x²)."""
        return math.sqrt(sum(self.sq_norm(a) for a in arrays))

    # -------------------------------------------------------- optimizer steps
    # ``optimizer_step`` takes the packed form (``backend/scalar.py``); the public per-optimizer
    # steps come from ``OptimizerSteps``. Every step updates ``params`` and the state buffers
    # in place: the gradient becomes g = clip(g * grad_scale, -clip, clip), params decay as
    # p -= p * wdlr when wdlr != 0 (Keras order), then the rule runs, flushing moments below
    # ``tiny`` to zero. These are the readable references of ``scalar``'s element bodies.
    def optimizer_step(
        self, code: int, params: np.ndarray, grads: np.ndarray,
        bufs: Sequence[np.ndarray | None], consts: Sequence[float], lr: float, wdlr: float,
        grad_scale: float = 1.0,
    ) -> None:
        """One packed optimizer step: ``code``, state ``bufs`` (None where unused), ``consts``
        ``[clip, tiny, *own]``, ``lr`` (Adam: its alpha) and ``wdlr = lr * weight_decay``."""
        t = params.dtype.type
        c = [float(v) for v in consts]
        g = grads
        if grad_scale != 1.0:
            g = g * t(grad_scale)
        if math.isfinite(c[0]):
            g = np.clip(g, t(-c[0]), t(c[0]))
        if wdlr:
            params -= params * t(wdlr)
        b0, b1, b2 = bufs

        def flush(a: np.ndarray) -> None:
            a[np.abs(a) < c[1]] = 0

        if code == S.SGD:
            if b0 is None:
                params -= t(lr) * g
                return
            b0[...] = t(c[2]) * b0 - t(lr) * g
            flush(b0)
            params += t(c[2]) * b0 - t(lr) * g if c[3] else b0
        elif code == S.ADAGRAD:
            b0 += g * g
            params -= (t(lr) * g) / np.sqrt(b0 + t(c[2]))
        elif code == S.RMSPROP:
            rho, omr = t(c[2]), t(c[3])
            b0[...] = rho * b0 + omr * (g * g)
            flush(b0)
            if b2 is not None:
                b2[...] = rho * b2 + omr * g
                flush(b2)
                den = b0 - b2 * b2 + t(c[5])
            else:
                den = b0 + t(c[5])
            inc = (t(lr) * g) / np.sqrt(den)
            if b1 is not None:
                b1[...] = t(c[4]) * b1 + inc
                flush(b1)
                params -= b1
            else:
                params -= inc
        elif code == S.ADAM:
            b0 += (g - b0) * t(c[2])
            b1 += (g * g - b1) * t(c[3])
            flush(b0)
            flush(b1)
            if b2 is not None:
                np.maximum(b2, b1, out=b2)
            params -= (b0 * t(lr)) / (np.sqrt(b1 if b2 is None else b2) + t(c[4]))
        elif code == S.ADAMAX:
            b0 += (g - b0) * t(c[2])
            flush(b0)
            np.maximum(t(c[3]) * b1, np.abs(g), out=b1)
            flush(b1)
            params -= (b0 * t(lr)) / (b1 + t(c[4]))
        elif code == S.NADAM:
            b0 += (g - b0) * t(c[2])
            b1 += (g * g - b1) * t(c[3])
            flush(b0)
            flush(b1)
            m_hat = t(c[5]) * b0 + t(c[6]) * g
            params -= (m_hat * t(lr)) / (np.sqrt(b1 * t(c[7])) + t(c[4]))
        elif code == S.ADADELTA:
            rho, omr, eps = t(c[2]), t(c[3]), t(c[4])
            b0[...] = rho * b0 + omr * (g * g)
            flush(b0)
            d = -(np.sqrt(b1 + eps) * g) / np.sqrt(b0 + eps)
            b1[...] = rho * b1 + omr * (d * d)
            flush(b1)
            params += t(lr) * d
        elif code == S.LION:
            params -= t(lr) * np.sign(b0 * t(c[2]) + g * t(c[3]))
            b0[...] = b0 * t(c[4]) + g * t(c[5])
            flush(b0)
        elif code == S.FTRL:
            lr_, npow, l1 = t(lr), t(c[2]), t(c[3])
            new_acc = b0 + g * g
            a_new = new_acc ** npow
            b1 += (g + t(c[5]) * params) - ((a_new - b0 ** npow) / lr_) * params
            reg = t(c[4]) + t(c[6]) / (lr_ + lr_)
            quad = a_new / lr_ + (reg + reg)
            params[...] = (np.clip(b1, -l1, l1) - b1) / quad
            b0[...] = new_acc
        else:
            raise ValueError(f"optimizer_step: unknown optimizer code {code!r}")

    # -------------------------------------------------------- embeddings
    # Ids are integer arrays; ``pad_id < 0`` means no padding id. Backwards write a dense
    # gradient table but touch only rows: the rows of ``prev_rows`` (what the last call
    # touched; None = the whole table) are zeroed first, then dy is scatter-added, and the
    # sorted unique rows touched now are returned (for sparse optimizer row updates).
    def embedding_gather(self, table: np.ndarray, ids: np.ndarray, pad_id: int = -1,
                         out: np.ndarray | None = None) -> np.ndarray:
        """``out[i] = table[ids[i]]`` over the flattened ids: shape ``(ids.size, D)``;
        zeros where ``ids == pad_id``."""
        flat = np.asarray(ids).reshape(-1).astype(np.int64)
        check_embedding_args(table.shape, flat, "embedding_gather")
        res = table[flat]
        if pad_id >= 0:
            res[flat == pad_id] = 0
        return _write(out, res)

    @staticmethod
    def _clear_rows(dtable: np.ndarray, prev_rows: np.ndarray | None) -> None:
        if prev_rows is None:
            dtable[...] = 0
        else:
            dtable[np.asarray(prev_rows, dtype=np.int64)] = 0

    def backprop_embedding_gather(self, dy: np.ndarray, ids: np.ndarray, dtable: np.ndarray,
                                  pad_id: int = -1,
                                  prev_rows: np.ndarray | None = None) -> np.ndarray:
        """Gradient of ``embedding_gather`` into ``dtable``; returns the rows touched."""
        flat = np.asarray(ids).reshape(-1).astype(np.int64)
        check_embedding_args(dtable.shape, flat, "backprop_embedding_gather", prev_rows, dy,
                             flat.size)
        self._clear_rows(dtable, prev_rows)
        keep = flat != pad_id
        np.add.at(dtable, flat[keep], dy.reshape(flat.size, -1)[keep])
        return np.unique(flat[keep])

    def embedding_bag(self, table: np.ndarray, ids: np.ndarray, pad_id: int = 0,
                      mode: str = "mean", out: np.ndarray | None = None) -> np.ndarray:
        """Row ``i``: sum (``mode="sum"``) or mean of ``table[ids[i, k]]`` over the
        non-padding ids (a row of padding only gives zeros). ``ids`` is ``(n, L)``."""
        ids = np.asarray(ids).astype(np.int64)
        check_embedding_args(table.shape, ids, "embedding_bag")
        keep = ids != pad_id
        res = (table[ids] * keep[..., None].astype(table.dtype)).sum(axis=1)
        if mode == "mean":
            cnt = np.maximum(keep.sum(axis=1), 1).astype(table.dtype)
            res *= (table.dtype.type(1) / cnt)[:, None]
        return _write(out, res)

    def backprop_embedding_bag(self, dy: np.ndarray, ids: np.ndarray, dtable: np.ndarray,
                               pad_id: int = 0, mode: str = "mean",
                               prev_rows: np.ndarray | None = None) -> np.ndarray:
        """Gradient of ``embedding_bag`` into ``dtable``; returns the rows touched."""
        ids = np.asarray(ids).astype(np.int64)
        check_embedding_args(dtable.shape, ids, "backprop_embedding_bag", prev_rows, dy,
                             ids.shape[0])
        keep = ids != pad_id
        scale = np.ones(ids.shape[0], dtype=dtable.dtype)
        if mode == "mean":
            scale = dtable.dtype.type(1) / np.maximum(keep.sum(axis=1), 1).astype(dtable.dtype)
        self._clear_rows(dtable, prev_rows)
        rows = np.broadcast_to(np.arange(ids.shape[0])[:, None], ids.shape)[keep]
        np.add.at(dtable, ids[keep], dy[rows] * scale[rows, None])
        return np.unique(ids[keep])

    # ---- normalization (BatchNormalization, LayerNormalization) ---------------------------
    # 2-D C-contiguous inputs; gamma/beta None mean scale 1 / offset 0 (scale=False,
    # center=False); dgamma/dbeta None skip that gradient. Gradients are overwritten.

    def batch_norm_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-column mean and biased variance of ``x`` (two passes)."""
        mean = x.sum(axis=0) / x.dtype.type(x.shape[0])
        d = x - mean
        return mean, (d * d).sum(axis=0) / x.dtype.type(x.shape[0])

    def batch_norm_train(self, x: np.ndarray, gamma: np.ndarray | None,
                         beta: np.ndarray | None, moving_mean: np.ndarray | None,
                         moving_variance: np.ndarray | None, momentum: float, epsilon: float,
                         out: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Training-mode forward: the batch mean and biased variance, the moving statistics
        updated in place as Keras (``moving = moving * momentum + batch * (1 - momentum)``,
        in their dtype; None skips), then ``batch_norm`` with the batch statistics.
        Returns ``(y, mean, var)``; ``mean``/``var`` are what ``backprop_batch_norm`` needs."""
        mean, var = self.batch_norm_stats(x)
        for stat, value in ((moving_mean, mean), (moving_variance, var)):
            if stat is not None:
                t = stat.dtype.type
                stat[...] = stat * t(momentum) + value * t(1.0 - momentum)
        return self.batch_norm(x, gamma, beta, mean, var, epsilon, out=out), mean, var

    def batch_norm(self, x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                   mean: np.ndarray, var: np.ndarray, epsilon: float,
                   out: np.ndarray | None = None) -> np.ndarray:
        """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` per column."""
        t = x.dtype.type
        inv = t(1) / np.sqrt(var + t(epsilon))
        y = (x - mean) * inv
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta
        return _write(out, y)

    def backprop_batch_norm(self, dy: np.ndarray, x: np.ndarray, gamma: np.ndarray | None,
                            mean: np.ndarray, var: np.ndarray, epsilon: float,
                            dgamma: np.ndarray | None, dbeta: np.ndarray | None,
                            dx: Any = None, batch_stats: bool = True) -> np.ndarray | None:
        """Gradients of ``batch_norm``; ``dx`` through the batch statistics when
        ``batch_stats`` (training mode), else through fixed statistics. ``dx=False``: none."""
        t = x.dtype.type
        n = t(x.shape[0])
        inv = t(1) / np.sqrt(var + t(epsilon))
        xh = (x - mean) * inv
        sb, sg = dy.sum(axis=0), (dy * xh).sum(axis=0)
        if dgamma is not None:
            dgamma[...] = sg
        if dbeta is not None:
            dbeta[...] = sb
        if dx is False:
            return None
        g = inv if gamma is None else gamma * inv
        res = g / n * (n * dy - sb - xh * sg) if batch_stats else dy * g
        return _write(dx, res)

    def layer_norm(self, x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                   epsilon: float, rms_scaling: bool = False, out: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row ``(x - mean) * inv * gamma + beta`` with ``inv = 1/sqrt(var + epsilon)``;
        ``rms_scaling``: ``x * inv * gamma`` (Keras). Returns ``(y, mean, inv)``."""
        t = x.dtype.type
        c = t(x.shape[1])
        mean = x.sum(axis=1) / c
        d = x - mean[:, None]
        inv = t(1) / np.sqrt((d * d).sum(axis=1) / c + t(epsilon))
        y = (x if rms_scaling else d) * inv[:, None]
        if gamma is not None:
            y = y * gamma
        if beta is not None and not rms_scaling:
            y = y + beta
        return _write(out, y), mean, inv

    def backprop_layer_norm(self, dy: np.ndarray, x: np.ndarray, gamma: np.ndarray | None,
                            mean: np.ndarray, inv: np.ndarray, dgamma: np.ndarray | None,
                            dbeta: np.ndarray | None, dx: Any = None, rms_scaling: bool = False
                            ) -> np.ndarray | None:
        """Gradients of ``layer_norm`` from its saved ``mean`` and ``inv``."""
        t = x.dtype.type
        c = t(x.shape[1])
        d = x - mean[:, None]
        s = inv[:, None]
        xh = d * s
        if dgamma is not None:
            dgamma[...] = (dy * (x * s if rms_scaling else xh)).sum(axis=0)
        if dbeta is not None:
            dbeta[...] = dy.sum(axis=0)
        if dx is False:
            return None
        g = dy if gamma is None else dy * gamma
        if rms_scaling:
            a = (g * x).sum(axis=1, keepdims=True) / c
            res = s * g - s * s * s * d * a
        else:
            a = (g * xh).sum(axis=1, keepdims=True) / c
            b = g.sum(axis=1, keepdims=True) / c
            res = s * (g - b - d * s * a)
        return _write(dx, res)
