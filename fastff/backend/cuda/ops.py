"""CudaOps: the Ops contract (see ``docs/internals.md``) on an NVIDIA GPU.

Methods take and return device arrays, so weights, optimizer state and batches stay on the
device across steps; ``to_device`` / ``to_numpy`` move data. For convenience (and so that
code written against host arrays keeps working) a call whose first array argument is a
NumPy array runs in *host mode*: inputs are uploaded, results come back as NumPy arrays,
and host ``out=`` / in-place buffers are written back. Scalars are cast to the array dtype
before launch, so float32 kernels stay float32 throughout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastff.backend.cuda import activations as K_act
from fastff.backend.cuda import dropout as K_drop
from fastff.backend.cuda import elementwise as K_el
from fastff.backend.cuda import embedding as K_emb
from fastff.backend.cuda import gemm as K_gemm
from fastff.backend.cuda import normalization as K_norm
from fastff.backend.cuda import optimizers as K_opt
from fastff.backend.cuda import reductions as K_red
from fastff.backend.cuda import softmax as K_sm
from fastff.backend.cuda._cuda import cuda, is_device_array, sm_count
from fastff.backend.cuda._launch import grid_1d, scalar_type
from fastff.backend.numpy_ops import OptimizerSteps, dropout_key, dropout_threshold
from fastff.backend.spec import NEEDS_INPUT
from fastff.backend.spec import canonical as canonical_activation

Array = Any  # a numba device array, or a NumPy array in host mode


def _shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


def _flat(x: Array) -> Array:
    if not x.is_c_contiguous():
        raise ValueError("CudaOps elementwise kernels need C-contiguous device arrays")
    return x.reshape(x.size)



def _device_kernel(name: str) -> None:
    """Refuse, by name, an activation with no device kernel (``spec.HOST_ROWWISE``)."""
    from fastff.backend.spec import HOST_ROWWISE

    if name in HOST_ROWWISE:
        raise NotImplementedError(f"activation {name!r} has no GPU kernel yet; run this model "
                                  "with device='cpu'")

class CudaOps(OptimizerSteps):
    """Ops over ``numba.cuda`` kernels; arrays live on the current CUDA device.

    ``gemm_config`` picks the GEMM tile: ``"auto"`` (by problem size), ``"small"`` or
    ``"large"`` (see ``fastff.backend.cuda.gemm.CONFIGS``).
    """

    name = "cuda"
    device = "cuda"

    def __init__(self, gemm_config: str = "auto") -> None:
        if gemm_config != "auto" and gemm_config not in K_gemm.CONFIGS:
            raise ValueError(f"gemm_config must be 'auto' or one of {sorted(K_gemm.CONFIGS)}")
        self.gemm_config = gemm_config
        self._sms = sm_count()
        self._empty: dict[np.dtype, Array] = {}  # size-0 stand-ins for unused state buffers

    # ------------------------------------------------------------------ arrays
    @staticmethod
    def is_device_array(x: Any) -> bool:
        """True for arrays that live on the GPU."""
        return is_device_array(x)

    def to_device(self, x: Any, dtype: Any = None) -> Array:
        """A device copy of ``x`` (``x`` itself when already on the device with that dtype)."""
        if is_device_array(x):
            if dtype is None or np.dtype(dtype) == x.dtype:
                return x
            x = x.copy_to_host()
        return cuda.to_device(np.ascontiguousarray(np.asarray(x, dtype=dtype)))

    asarray = to_device

    def to_numpy(self, x: Any) -> np.ndarray:
        """A host (NumPy) copy of a device array; host arrays pass through."""
        return x.copy_to_host() if is_device_array(x) else np.asarray(x)

    @staticmethod
    def free_memory() -> int | None:
        """Free bytes on the current device (None when the driver cannot say)."""
        try:
            free = cuda.current_context().get_memory_info()[0]
        except Exception:  # noqa: BLE001
            return None
        return int(min(free, 2**62))  # the simulator reports infinity

    def alloc(self, shape: int | Sequence[int], dtype: Any = np.float32) -> Array:
        """A zero-filled device array."""
        out = cuda.device_array(_shape(shape), dtype=np.dtype(dtype))
        self._fill(out, 0.0)
        return out

    def synchronize(self) -> None:
        """Wait for every launched kernel (timing, or before reading device memory)."""
        cuda.synchronize()

    @staticmethod
    def backprop_needs_input(activation: str | None) -> bool:
        """True when ``backprop_activation(name, ...)`` needs the input x (not only y)."""
        return canonical_activation(activation) in NEEDS_INPUT

    # -------------------------------------------------- host/device plumbing
    def _in(self, x: Any, dtype: Any = None) -> Array:
        return self.to_device(x, dtype)

    @staticmethod
    def _dst(out: Any, shape: tuple[int, ...], dtype: np.dtype, init: bool = False) -> Array:
        """A device array to write into: ``out`` itself when it is a usable device array."""
        shape = tuple(shape)
        if out is not None and tuple(out.shape) != shape:
            raise ValueError(f"out has shape {tuple(out.shape)}, expected {shape}")
        if (is_device_array(out) and out.dtype == dtype and out.is_c_contiguous()):
            return out
        if init and out is not None:
            src = out.copy_to_host() if is_device_array(out) else out
            return cuda.to_device(np.ascontiguousarray(src, dtype=dtype))
        return cuda.device_array(shape, dtype=dtype)

    @staticmethod
    def _done(dst: Array, out: Any, host: bool) -> Any:
        """Deliver ``dst``: into ``out`` when given, else as device (or host) array."""
        if out is None:
            return dst.copy_to_host() if host else dst
        if out is dst:
            return out
        if is_device_array(out):
            out.copy_to_device(dst)
        elif out.flags.c_contiguous and out.dtype == dst.dtype:
            dst.copy_to_host(out)
        else:
            out[...] = dst.copy_to_host()
        return out

    def _fill(self, x: Array, value: float) -> None:
        if x.size:
            flat = _flat(x)
            K_el.fill[grid_1d(flat.size)](flat, scalar_type(x.dtype)(value))

    # -------------------------------------------------------------------- GEMM
    def _gemm_dev(self, a: Array, b: Array, c: Array, trans_a: bool, trans_b: bool,
                  alpha: float, beta: float, bias: Array | None, name: str, param: float) -> None:
        m, n = c.shape
        t = scalar_type(c.dtype)
        code = K_act.ACT_CODES.get(name)
        if m and n:
            if self.gemm_config == "auto":
                cfg = K_gemm.choose_config(m, n, self._sms)
            else:
                cfg = K_gemm.CONFIGS[self.gemm_config]
            K_gemm.launch(a, b, c, trans_a, trans_b, t(alpha), t(beta), bias,
                          0 if code is None else code, t(param), cfg)
        if code is None and c.size:
            self._activation_dev(name, c, c, param)

    def gemm(
        self, a: Array, b: Array, out: Array | None = None, *,
        trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
        bias: Array | None = None, activation: str | None = None, act_param: float = 0.0,
    ) -> Array:
        """``out = act(alpha * op(a) @ op(b) + beta * out + bias)`` in one kernel."""
        host = not is_device_array(a)
        name = canonical_activation(activation)
        A = self._in(a)
        t = scalar_type(A.dtype)
        B = self._in(b, A.dtype)
        m, k = (A.shape[1], A.shape[0]) if trans_a else A.shape
        kb, n = (B.shape[1], B.shape[0]) if trans_b else B.shape
        if k != kb:
            raise ValueError(f"gemm: op(a) is {(m, k)} but op(b) is {(kb, n)}")
        if out is None:
            beta = 0.0
        C = self._dst(out, (m, n), np.dtype(t), init=beta != 0.0)
        bias_d = None if bias is None else self._in(bias, A.dtype).reshape(n)
        self._gemm_dev(A, B, C, trans_a, trans_b, alpha, beta, bias_d, name, act_param)
        return self._done(C, out, host)

    def dense(
        self, x: Array, w: Array, b: Array | None, activation: str | None = None,
        param: float = 0.0, out: Array | None = None,
    ) -> Array:
        """``y = act(x @ w + b)`` as one GEMM with the bias and activation in its epilogue."""
        return self.gemm(x, w, out, bias=b, activation=activation, act_param=param)

    def backprop_dense(
        self, dz: Array, x: Array, w: Array, dw: Array, db: Array | None,
        dx: Array | None | bool = None, *, activation: str | None = None, y: Array | None = None,
        param: float = 0.0, work: Array | None = None,
    ) -> Array | None:
        """``dw = xᵀ g``, ``db = Σ g``, returns ``dx = g wᵀ`` (``g = dz * act'(y)`` when
        ``activation`` is given, else ``dz``); ``dx=False`` skips dx, ``db=None`` skips db."""
        host = not is_device_array(dz)
        name = canonical_activation(activation)
        DZ = self._in(dz)
        dt = DZ.dtype
        X = self._in(x, dt)
        W = self._in(w, dt)
        G = DZ
        bias_done = False
        if name != "linear":
            if name in NEEDS_INPUT:
                raise ValueError(f"backprop_dense cannot fuse {name!r}: its derivative needs z")
            if y is None:
                raise ValueError(f"backprop_dense with activation {name!r} needs the output y")
            G = self._dst(work if is_device_array(work) else None, DZ.shape, dt)
            Y = self._in(y, dt)
            if db is not None and DZ.ndim == 2 and DZ.shape[0] and DZ.shape[1]:
                # one pass: g = dz * act'(y) and db = Σ g
                DB = self._dst(db, (G.shape[1],), dt)
                K_red.act_backward_col_sums_launch(DZ, Y, G, DB, K_act.ACT_CODES[name],
                                                   scalar_type(dt)(param))
                self._done(DB, db, host)
                bias_done = True
            else:
                self._act_backward_dev(name, DZ, None, Y, G, param)
        DW = self._dst(dw, (X.shape[1], G.shape[1]), dt)
        self._gemm_dev(X, G, DW, True, False, 1.0, 0.0, None, "linear", 0.0)
        self._done(DW, dw, host)
        if db is not None and not bias_done:
            DB = self._dst(db, (G.shape[1],), dt)
            self._bias_grad_dev(G, DB)
            self._done(DB, db, host)
        if dx is False:
            return None
        dx_out = None if dx is None else dx
        DX = self._dst(dx_out, (G.shape[0], W.shape[0]), dt)
        self._gemm_dev(G, W, DX, False, True, 1.0, 0.0, None, "linear", 0.0)
        return self._done(DX, dx_out, host)

    # ------------------------------------------------------------- activations
    def _activation_dev(self, name: str, X: Array, D: Array, param: float) -> None:
        t = scalar_type(X.dtype)
        if name in ("softmax", "log_softmax"):
            c = X.shape[X.ndim - 1] if X.ndim else 1
            rows = X.size // c if c else 0
            if rows and c:
                x2 = _flat(X).reshape(rows, c)
                d2 = _flat(D).reshape(rows, c)
                blocks, threads = K_sm.grid_rows(rows)
                K_sm.kernels(X.dtype)["softmax"][blocks, threads](x2, d2, name == "log_softmax")
        elif X.size:
            fwd, _ = K_act.kernels(X.dtype)
            fwd[grid_1d(X.size)](_flat(X), _flat(D), K_act.ACT_CODES[name], t(param))

    def activation(
        self, name: str | None, x: Array, out: Array | None = None, param: float = 0.0
    ) -> Array:
        """Elementwise activation (``softmax``/``log_softmax`` along the last axis)."""
        host = not is_device_array(x)
        name = canonical_activation(name)
        _device_kernel(name)
        X = self._in(x)
        D = self._dst(out, X.shape, X.dtype)
        self._activation_dev(name, X, D, param)
        return self._done(D, out, host)

    def _act_backward_dev(self, name: str, DY: Array, X: Array | None, Y: Array | None,
                          D: Array, param: float) -> None:
        t = scalar_type(DY.dtype)
        if not DY.size:
            return
        if name in ("softmax", "log_softmax"):
            c = DY.shape[DY.ndim - 1]
            rows = DY.size // c
            blocks, threads = K_sm.grid_rows(rows)
            K_sm.kernels(DY.dtype)["backward"][blocks, threads](
                _flat(DY).reshape(rows, c), _flat(Y).reshape(rows, c), _flat(D).reshape(rows, c),
                name == "log_softmax")
            return
        xs = X if X is not None else Y
        ys = Y if Y is not None else X
        _, bwd = K_act.kernels(DY.dtype)
        bwd[grid_1d(DY.size)](_flat(DY), _flat(xs), _flat(ys), _flat(D),
                              K_act.ACT_CODES[name], t(param))

    def backprop_activation(
        self, name: str | None, dy: Array, x: Array | None, y: Array | None,
        out: Array | None = None, param: float = 0.0,
    ) -> Array:
        """``dx = dy * act'(.)`` from the output y (the input x for gelu/silu)."""
        host = not is_device_array(dy)
        name = canonical_activation(name)
        _device_kernel(name)
        DY = self._in(dy)
        dt = DY.dtype
        X = Y = None
        if name in NEEDS_INPUT:
            if x is None:
                raise ValueError(f"backprop of {name!r} needs the input x")
            X = self._in(x, dt)
        elif y is None:
            if x is None:
                raise ValueError(f"backprop of {name!r} needs the output y or the input x")
            X = self._in(x, dt)
            Y = cuda.device_array(X.shape, dtype=dt)
            self._activation_dev(name, X, Y, param)
            X = None
        else:
            Y = self._in(y, dt)
        D = self._dst(out, DY.shape, dt)
        self._act_backward_dev(name, DY, X, Y, D, param)
        return self._done(D, out, host)

    # -------------------------------------------------------------- reductions
    def _bias_grad_dev(self, G: Array, DB: Array) -> None:
        c = G.shape[G.ndim - 1]
        rows = G.size // c if c else 0
        if rows == 0:
            self._fill(DB, 0.0)
        elif c:
            K_red.col_sums_launch(_flat(G).reshape(rows, c), DB)

    def bias_grad(self, dy: Array, out: Array | None = None) -> Array:
        """Column sums of ``dy`` (deterministic: a fixed split of the rows)."""
        host = not is_device_array(dy)
        DY = self._in(dy)
        D = self._dst(out, (DY.shape[DY.ndim - 1],), DY.dtype)
        self._bias_grad_dev(DY, D)
        return self._done(D, out, host)

    def sq_norms(self, arrays: Sequence[Array]) -> Array:
        """A float64 device vector of Σ x² per array (no host round trip)."""
        devs = [self._in(a) for a in arrays]
        out = cuda.device_array(max(1, len(devs)), dtype=np.float64)
        self._fill(out, 0.0)
        K_red.sq_norms_into([d for d in devs if d.size], out)  # empty arrays add 0
        return out

    def sq_norm(self, x: Array) -> float:
        """Σ x², accumulated in float64."""
        return float(self.sq_norms([x]).copy_to_host()[0])

    def global_norm(self, arrays: Sequence[Array]) -> float:
        """sqrt(Σ over arrays of Σ x²), one device-to-host copy."""
        if not arrays:
            return 0.0
        return math.sqrt(float(np.sum(self.sq_norms(arrays).copy_to_host())))

    def sum_f64(self, x: Any) -> float:
        """Σ x in float64 of a host or device vector (the per-batch losses the loop sums)."""
        return float(np.sum(self.to_numpy(x), dtype=np.float64))

    def permutation(self, seed: int, epoch: int, n: int) -> np.ndarray:
        """``NumpyOps.permutation``: the host order ``fit`` visits the samples in."""
        return np.random.default_rng([int(seed), int(epoch)]).permutation(int(n))

    # ------------------------------------------------------------------ losses
    def _weights(self, n: int, sample_weight: Any, dt: np.dtype, dummy: Array):
        t = dt.type
        if sample_weight is None:
            return dummy, False, t(1.0 / n) if n else t(0)
        w = self.to_numpy(sample_weight).astype(dt).reshape(n)
        return cuda.to_device(np.ascontiguousarray(w)), True, t(1.0 / n) if n else t(0)

    def softmax_xent_sparse(
        self, logits: Array, labels: Array, sample_weight: Any = None,
        dlogits: Array | None = None,
    ) -> tuple[Array, Array]:
        """Per-row ``-log softmax(z)[label]`` and ``dlogits = (softmax - onehot) w_i / n``.

        Host labels are range-checked (ValueError); rows of device labels out of range get
        loss nan and a zero gradient."""
        host = not is_device_array(logits)
        Z = self._in(logits)
        n, c = Z.shape
        if is_device_array(labels):
            LAB = labels.reshape(n)
        else:
            lab = np.asarray(labels).reshape(n).astype(np.int64)
            bad = int(np.count_nonzero((lab < 0) | (lab >= c)))
            if bad:
                raise ValueError(f"{bad} label(s) outside [0, {c}) in sparse cross-entropy")
            LAB = cuda.to_device(lab)
        loss = cuda.device_array(n, dtype=Z.dtype)
        DZ = self._dst(dlogits, Z.shape, Z.dtype)
        W, has_w, inv = self._weights(n, sample_weight, Z.dtype, loss)
        if n:
            blocks, threads = K_sm.grid_rows(n)
            K_sm.kernels(Z.dtype)["xent_sparse"][blocks, threads](Z, LAB, W, has_w, inv, loss, DZ)
        return self._done(loss, None, host), self._done(DZ, dlogits, host)

    def softmax_xent(
        self, logits: Array, targets: Array, sample_weight: Any = None,
        dlogits: Array | None = None,
    ) -> tuple[Array, Array]:
        """Per-row ``-Σ t log softmax(z)``; gradient ``(softmax(z) Σt - t) w_i / n``."""
        host = not is_device_array(logits)
        Z = self._in(logits)
        n = Z.shape[0]
        T = self._in(targets, Z.dtype).reshape(Z.shape)
        loss = cuda.device_array(n, dtype=Z.dtype)
        DZ = self._dst(dlogits, Z.shape, Z.dtype)
        W, has_w, inv = self._weights(n, sample_weight, Z.dtype, loss)
        if n:
            blocks, threads = K_sm.grid_rows(n)
            K_sm.kernels(Z.dtype)["xent"][blocks, threads](Z, T, W, has_w, inv, loss, DZ)
        return self._done(loss, None, host), self._done(DZ, dlogits, host)

    def sigmoid_bce(
        self, logits: Array, targets: Array, sample_weight: Any = None,
        dlogits: Array | None = None,
    ) -> tuple[Array, Array]:
        """Binary cross-entropy on logits, averaged over the trailing axes of each row."""
        host = not is_device_array(logits)
        Z = self._in(logits)
        n = Z.shape[0]
        c = Z.size // n if n else 0
        z2 = _flat(Z).reshape(n, c)
        T = _flat(self._in(targets, Z.dtype)).reshape(n, c)
        loss = cuda.device_array(n, dtype=Z.dtype)
        DZ = self._dst(dlogits, Z.shape, Z.dtype)
        W, has_w, inv = self._weights(n, sample_weight, Z.dtype, loss)
        if n:
            blocks, threads = K_sm.grid_rows(n)
            K_sm.kernels(Z.dtype)["sigmoid_bce"][blocks, threads](
                z2, T, W, has_w, inv, loss, _flat(DZ).reshape(n, c))
        return self._done(loss, None, host), self._done(DZ, dlogits, host)

    def mse(
        self, y_pred: Array, y_true: Array, sample_weight: Any = None, dy: Array | None = None,
    ) -> tuple[Array, Array]:
        """Per-row ``mean_j (y - t)²`` and the gradient ``2 (y - t) w_i / (n C)``."""
        host = not is_device_array(y_pred)
        Y = self._in(y_pred)
        n, c = Y.shape
        T = _flat(self._in(y_true, Y.dtype)).reshape(n, c)
        loss = cuda.device_array(n, dtype=Y.dtype)
        D = self._dst(dy, Y.shape, Y.dtype)
        W, has_w, inv = self._weights(n, sample_weight, Y.dtype, loss)
        if n:
            blocks, threads = K_sm.grid_rows(n)
            K_sm.kernels(Y.dtype)["mse"][blocks, threads](_flat(Y).reshape(n, c), T, W, has_w,
                                                         inv, loss, _flat(D).reshape(n, c))
        return self._done(loss, None, host), self._done(D, dy, host)

    # ----------------------------------------------------------------- dropout
    def dropout_mask(
        self, shape: int | Sequence[int], rate: float, seed: int, counter: int,
        dtype: Any = np.float32, out: Array | None = None,
    ) -> Array:
        """Inverted-dropout mask, bit for bit ``NumpyOps.dropout_mask`` (a device array,
        or ``out`` filled: a host ``out`` gets the mask copied back)."""
        dtype = np.dtype(dtype)
        t = scalar_type(dtype)
        shape = _shape(shape)
        D = self._dst(out, shape, dtype)
        scale = t(1.0 / (1.0 - rate)) if rate < 1.0 else t(0)
        if D.size:
            K_drop.mask[grid_1d(D.size)](_flat(D), np.uint64(dropout_key(seed, counter)),
                                         np.uint64(dropout_threshold(rate)), scale, t(0))
        return self._done(D, out, False)

    def multiply(self, a: Array, b: Array, out: Array | None = None) -> Array:
        """Elementwise ``a * b`` (same shape), e.g. applying a dropout mask."""
        host = not is_device_array(a)
        A = self._in(a)
        B = self._in(b, A.dtype)
        D = self._dst(out, A.shape, A.dtype)
        if D.size:
            K_el.mul[grid_1d(D.size)](_flat(A), _flat(B), _flat(D))
        return self._done(D, out, host)

    def concat_columns(self, xs: Sequence[Array], out: Array | None = None) -> Array:
        """``[x0 | x1 | ...]`` along the columns of 2-D arrays with the same rows."""
        host = not is_device_array(xs[0])
        X = [self._in(x) for x in xs]
        dt = np.result_type(*[x.dtype for x in X])
        widths = [int(x.shape[1]) for x in X]
        D = self._dst(out, (int(X[0].shape[0]), sum(widths)), dt)
        col = 0
        for x, w in zip(X, widths):
            if x.size:
                K_el.put_cols[grid_1d(x.size)](x if x.dtype == dt else self._in(
                    x.copy_to_host(), dt), D, col)
            col += w
        return self._done(D, out, host)

    def split_columns(self, x: Array, widths: Sequence[int]) -> list[Array]:
        """The column blocks of ``x`` of the given widths, as new C-contiguous arrays."""
        host = not is_device_array(x)
        X = self._in(x)
        out, col = [], 0
        for w in widths:
            D = cuda.device_array((int(X.shape[0]), int(w)), dtype=X.dtype)
            if D.size:
                K_el.take_cols[grid_1d(D.size)](X, D, col)
            out.append(self._done(D, None, host))
            col += int(w)
        return out

    def reshape(self, x: Array, shape: tuple[int, ...]) -> Array:
        """``x`` with a new shape: a view of a contiguous device array; host arrays as NumPy."""
        if not is_device_array(x):
            return np.ascontiguousarray(x).reshape(shape)
        if not x.is_c_contiguous():  # layers hand over contiguous activations
            raise ValueError("CudaOps.reshape needs a C-contiguous device array")
        return x.reshape(*shape)

    # -------------------------------------------------------- optimizer steps
    def _state(self, bufs: Sequence[Any], dt: np.dtype) -> tuple[list[Array], bool]:
        """Device views of in-place buffers (host ones are uploaded; see ``_writeback``)."""
        host = any(b is not None and not is_device_array(b) for b in bufs)
        empty = self._empty.get(dt)
        if empty is None:
            empty = self._empty[dt] = cuda.device_array(0, dtype=dt)
        devs = [empty if b is None else self._in(b, dt) for b in bufs]
        return devs, host

    @staticmethod
    def _writeback(bufs: Sequence[Any], devs: Sequence[Array]) -> None:
        for b, d in zip(bufs, devs):
            if b is not None and not is_device_array(b):
                b[...] = d.copy_to_host()

    def optimizer_step(
        self, code: int, params: Array, grads: Array, bufs: Sequence[Array | None],
        consts: Sequence[float], lr: float, wdlr: float, grad_scale: float = 1.0,
    ) -> None:
        """One packed optimizer step (see ``NumpyOps.optimizer_step``) as one kernel; the
        per-optimizer steps (``adam_step`` ...) come from ``OptimizerSteps``."""
        dt = np.dtype(params.dtype)
        state = [params, grads, *bufs]
        devs, _ = self._state(state, dt)
        if devs[0].size:
            K_opt.launch(code, *(_flat(d) for d in devs), consts, scalar_type(dt), lr, wdlr,
                         grad_scale)
        self._writeback([params, None, *bufs], devs)

    # --------------------------------------------------------------- embedding
    # As NumpyOps: ``pad_id < 0`` means no padding id; backwards zero the rows of
    # ``prev_rows`` (None: the whole table), scatter-add dy, and return the sorted unique
    # rows touched as a host int64 array (for sparse optimizer updates).
    def _ids(self, ids: Any, ndim: int | None = None) -> tuple[Array, np.ndarray | None]:
        """Device int64 ids (flattened unless ``ndim == 2``) and their host copy, if any."""
        host = None if is_device_array(ids) else np.asarray(ids)
        if host is None:
            dev = ids if ndim == 2 else ids.reshape(ids.size)
            return dev, None
        if host.dtype.kind not in "iu":
            raise ValueError(f"ids must be integers, got {host.dtype}")
        host = np.ascontiguousarray(host, dtype=np.int64)
        if ndim == 2:
            if host.ndim != 2:
                raise ValueError(f"bag ids must be 2-D (n, L), got shape {host.shape}")
        else:
            host = host.reshape(-1)
        return cuda.to_device(host), host

    def _touched(self, ids_dev: Array, ids_host: np.ndarray | None, pad_id: int) -> np.ndarray:
        flat = (ids_host if ids_host is not None else ids_dev.copy_to_host()).reshape(-1)
        return np.unique(flat[flat != pad_id]).astype(np.int64)

    def _clear(self, D: Array, prev_rows: Any) -> None:
        if prev_rows is None:
            self._fill(D, 0.0)
            return
        rows = prev_rows if is_device_array(prev_rows) else cuda.to_device(
            np.ascontiguousarray(np.asarray(prev_rows, dtype=np.int64).reshape(-1)))
        if rows.size and D.shape[1]:
            K_emb.clear_rows[grid_1d(rows.size * D.shape[1])](D, rows, scalar_type(D.dtype)(0))

    def embedding_gather(self, table: Array, ids: Array, pad_id: int = -1,
                         out: Array | None = None) -> Array:
        """``out[i] = table[ids.flat[i]]``, shape ``(ids.size, D)``; zeros at ``pad_id``."""
        host = not is_device_array(table)
        T = self._in(table)
        I, _ = self._ids(ids)
        D = self._dst(out, (I.size, T.shape[1]), T.dtype)
        if D.size:
            K_emb.gather_rows[grid_1d(D.size)](T, I, D, int(pad_id), scalar_type(T.dtype)(0))
        return self._done(D, out, host)

    def backprop_embedding_gather(self, dy: Array, ids: Array, dtable: Array, pad_id: int = -1,
                                  prev_rows: Any = None) -> np.ndarray:
        """Gradient of ``embedding_gather`` into ``dtable``; returns the rows touched."""
        (D,), _ = self._state([dtable], np.dtype(dtable.dtype))
        I, ih = self._ids(ids)
        DY = self._in(dy, D.dtype)
        self._clear(D, prev_rows)
        if I.size and D.shape[1]:
            src = _flat(DY).reshape(I.size, D.shape[1])
            K_emb.scatter_add_rows[grid_1d(src.size)](D, I, src, int(pad_id))
        self._writeback([dtable], [D])
        return self._touched(I, ih, pad_id)

    def embedding_bag(self, table: Array, ids: Array, pad_id: int = 0, mode: str = "mean",
                      out: Array | None = None) -> Array:
        """Row i: sum or mean of ``table[ids[i, k]]`` over non-padding ids (n, L)."""
        if mode not in ("mean", "sum"):
            raise ValueError(f"embedding_bag mode must be 'mean' or 'sum', not {mode!r}")
        host = not is_device_array(table)
        T = self._in(table)
        I, _ = self._ids(ids, 2)
        D = self._dst(out, (I.shape[0], T.shape[1]), T.dtype)
        if D.size:
            K_emb.bag[grid_1d(D.size)](T, I, D, int(pad_id), mode == "mean",
                                       scalar_type(T.dtype)(1))
        return self._done(D, out, host)

    def backprop_embedding_bag(self, dy: Array, ids: Array, dtable: Array, pad_id: int = 0,
                               mode: str = "mean", prev_rows: Any = None) -> np.ndarray:
        """Gradient of ``embedding_bag`` into ``dtable``; returns the rows touched."""
        (D,), _ = self._state([dtable], np.dtype(dtable.dtype))
        I, ih = self._ids(ids, 2)
        DY = self._in(dy, D.dtype)
        self._clear(D, prev_rows)
        if DY.size:
            K_emb.bag_backward[grid_1d(DY.size)](DY, I, D, int(pad_id), mode == "mean",
                                                 scalar_type(D.dtype)(1))
        self._writeback([dtable], [D])
        return self._touched(I, ih, pad_id)

    # ---------------------------------------------------------- normalization
    def _vec(self, v: Any, dt: np.dtype) -> tuple[Array, bool]:
        """A device vector for an optional per-feature parameter (a 1-element stand-in)."""
        if v is None:
            return cuda.device_array(1, dtype=dt), False
        return self._in(v, dt).reshape(-1), True

    def batch_norm_stats(self, x: Array) -> tuple[Array, Array]:
        """Per-column mean and biased variance of ``x`` (two passes, float64 sums)."""
        host = not is_device_array(x)
        X = self._in(x)
        n, c = X.shape
        M = cuda.device_array(c, dtype=X.dtype)
        V = cuda.device_array(c, dtype=X.dtype)
        if c:
            K_norm.kernels(X.dtype)["col_stats"][c, K_norm.BLOCK](X, M, V)
        return (M.copy_to_host(), V.copy_to_host()) if host else (M, V)

    def batch_norm_train(self, x: Array, gamma: Array | None, beta: Array | None,
                         moving_mean: Array | None, moving_variance: Array | None,
                         momentum: float, epsilon: float, out: Array | None = None
                         ) -> tuple[Array, Array, Array]:
        """Training forward (see ``NumpyOps.batch_norm_train``): statistics and the moving
        update in one launch, then the normalize launch; moving statistics updated in place
        (host arrays are written back)."""
        host = not is_device_array(x)
        X = self._in(x)
        dt = X.dtype
        n, c = X.shape
        M = cuda.device_array(c, dtype=dt)
        V = cuda.device_array(c, dtype=dt)
        update = moving_mean is not None and moving_variance is not None
        MM = self._in(moving_mean, dt) if update else M
        MV = self._in(moving_variance, dt) if update else V
        if c:
            K_norm.kernels(dt)["col_stats_train"][c, K_norm.BLOCK](
                X, M, V, MM, MV, dt.type(momentum), dt.type(1.0 - momentum), update)
        if update:
            for buf, dev in ((moving_mean, MM), (moving_variance, MV)):
                if buf is not dev:
                    self._done(dev, buf, host)
        y = self.batch_norm(X, gamma, beta, M, V, epsilon, out=out)
        if host and is_device_array(y):
            y = y.copy_to_host()
        return (y, M.copy_to_host(), V.copy_to_host()) if host else (y, M, V)

    def batch_norm(self, x: Array, gamma: Array | None, beta: Array | None, mean: Array,
                   var: Array, epsilon: float, out: Array | None = None) -> Array:
        """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` per column."""
        host = not is_device_array(x)
        X = self._in(x)
        dt = X.dtype
        G, hg = self._vec(gamma, dt)
        B, hb = self._vec(beta, dt)
        Y = self._dst(out, X.shape, dt)
        if X.size:
            K_norm.kernels(dt)["bn_forward"][grid_1d(X.size)](
                X, G, B, self._in(mean, dt), self._in(var, dt), dt.type(epsilon), hg, hb, Y)
        return self._done(Y, out, host)

    def backprop_batch_norm(self, dy: Array, x: Array, gamma: Array | None, mean: Array,
                            var: Array, epsilon: float, dgamma: Array | None,
                            dbeta: Array | None, dx: Any = None,
                            batch_stats: bool = True) -> Array | None:
        """Gradients of ``batch_norm`` (see ``NumpyOps.backprop_batch_norm``)."""
        host = not is_device_array(dy)
        DY = self._in(dy)
        dt = DY.dtype
        X = self._in(x, dt)
        M, V = self._in(mean, dt), self._in(var, dt)
        eps = dt.type(epsilon)
        n, c = X.shape
        SB = self._dst(dbeta, (c,), dt) if dbeta is not None else cuda.device_array(c, dt)
        SG = self._dst(dgamma, (c,), dt) if dgamma is not None else cuda.device_array(c, dt)
        if c:
            K_norm.kernels(dt)["bn_col_sums"][c, K_norm.BLOCK](DY, X, M, V, eps, SB, SG)
        if dgamma is not None:
            self._done(SG, dgamma, host)
        if dbeta is not None:
            self._done(SB, dbeta, host)
        if dx is False:
            return None
        G, hg = self._vec(gamma, dt)
        DX = self._dst(dx, X.shape, dt)
        if X.size:
            K_norm.kernels(dt)["bn_dx"][grid_1d(X.size)](DY, X, G, hg, M, V, eps, SB, SG,
                                                         bool(batch_stats), DX)
        return self._done(DX, dx, host)

    def layer_norm(self, x: Array, gamma: Array | None, beta: Array | None, epsilon: float,
                   rms_scaling: bool = False, out: Array | None = None
                   ) -> tuple[Array, Array, Array]:
        """Per-row normalization; returns ``(y, mean, inv)`` (see ``NumpyOps.layer_norm``)."""
        host = not is_device_array(x)
        X = self._in(x)
        dt = X.dtype
        n, c = X.shape
        M = cuda.device_array(n, dtype=dt)
        S = cuda.device_array(n, dtype=dt)
        if n:
            K_norm.kernels(dt)["row_stats"][n, K_norm.BLOCK](X, M, S, dt.type(epsilon))
        G, hg = self._vec(gamma, dt)
        B, hb = self._vec(beta, dt)
        Y = self._dst(out, X.shape, dt)
        if X.size:
            K_norm.kernels(dt)["ln_forward"][grid_1d(X.size)](X, G, B, M, S, hg, hb,
                                                              bool(rms_scaling), Y)
        y = self._done(Y, out, host)
        return (y, M.copy_to_host(), S.copy_to_host()) if host else (y, M, S)

    def backprop_layer_norm(self, dy: Array, x: Array, gamma: Array | None, mean: Array,
                            inv: Array, dgamma: Array | None, dbeta: Array | None,
                            dx: Any = None, rms_scaling: bool = False) -> Array | None:
        """Gradients of ``layer_norm`` from its saved ``mean`` and ``inv``."""
        host = not is_device_array(dy)
        DY = self._in(dy)
        dt = DY.dtype
        X = self._in(x, dt)
        M, S = self._in(mean, dt), self._in(inv, dt)
        n, c = X.shape
        rms = bool(rms_scaling)
        k = K_norm.kernels(dt)
        if dgamma is not None or dbeta is not None:
            SG = self._dst(dgamma, (c,), dt) if dgamma is not None else cuda.device_array(c, dt)
            SB = self._dst(dbeta, (c,), dt) if dbeta is not None else cuda.device_array(c, dt)
            if c:
                k["ln_col_sums"][c, K_norm.BLOCK](DY, X, M, S, rms, SG, SB)
            if dgamma is not None:
                self._done(SG, dgamma, host)
            if dbeta is not None:
                self._done(SB, dbeta, host)
        if dx is False:
            return None
        G, hg = self._vec(gamma, dt)
        RA = cuda.device_array(n, dtype=dt)
        RB = cuda.device_array(n, dtype=dt)
        if n:
            k["ln_row_sums"][n, K_norm.BLOCK](DY, X, G, hg, M, S, rms, RA, RB)
        DX = self._dst(dx, X.shape, dt)
        if X.size:
            k["ln_dx"][grid_1d(X.size)](DY, X, G, hg, M, S, RA, RB, rms, DX)
        return self._done(DX, dx, host)
