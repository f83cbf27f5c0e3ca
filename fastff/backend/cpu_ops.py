"""CpuOps: Numba kernels (``fastff.backend.kernels``) over the C GEMM core.

Same contract and same numbers as ``NumpyOps`` (to rounding; optimizer steps and dropout
masks bit for bit). Each method is a thin wrapper: it normalises arrays (C-contiguous,
library-allocated outputs) and casts scalars to the array dtype, then makes one compiled
call. Work above ``PAR_MIN`` elements is split over fastff's threads at fixed boundaries
(``kernels.parallel``); results are identical whatever the thread count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastff import _threading, linalg
from fastff._validation import check_index_range
from fastff.backend import scalar as S
from fastff.backend import spec
from fastff.backend.kernels import ACT_CODES, CHUNK, PAR_MIN, parallel
from fastff.backend.kernels import activations as K_act
from fastff.backend.kernels import dropout as K_drop
from fastff.backend.kernels import embedding as K_emb
from fastff.backend.kernels import optim as K_opt
from fastff.backend.kernels import reductions as K_red
from fastff.backend.kernels import regression as K_reg
from fastff.backend.kernels import shuffle as K_shuf
from fastff.backend.kernels import softmax as K_sm
from fastff.backend.numpy_ops import (
    NumpyOps,
    check_embedding_args,
    check_labels,
    dropout_key,
    dropout_threshold,
    flush_threshold,
)
from fastff.backend.spec import HOST_ROWWISE

NEEDS_INPUT = spec.NEEDS_INPUT
canonical_activation = spec.canonical
# name -> C id of what ops.dense / ops.gemm apply in the C epilogue (spec.EPILOGUE); the
# others (gelu, whose derivative needs z, and the kernel-only ones) run after the GEMM
_C_FUSED = spec.c_ids(spec.EPILOGUE)
_EMPTY = {np.dtype(np.float32): np.empty(0, np.float32),
          np.dtype(np.float64): np.empty(0, np.float64)}
_INF = math.inf
_get_threads = _threading.get_num_threads
gemm_into = linalg.gemm_into


def _c(x: np.ndarray) -> np.ndarray:
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def _threads(n: int) -> int:
    """Threads to split ``n`` elements over: 1 below PAR_MIN (a module global, so tests can
    lower it), else fastff's thread count."""
    return _get_threads() if n >= PAR_MIN else 1


def _run(kernel: Any, args: tuple, n: int) -> None:
    """``kernel(*args, lo, hi)`` over [0, n), split over threads when n is large."""
    k = _threads(n)
    if k > 1:
        parallel.run(kernel, args, n, k)
    else:
        kernel(*args, 0, n)


def _out_like(out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A C-contiguous destination: ``out`` itself when usable, else a fresh array."""
    if out is not None and out.flags.c_contiguous and out.dtype == dtype:
        return out
    return np.empty(shape, dtype=dtype)


def _finish(out: np.ndarray | None, res: np.ndarray) -> np.ndarray:
    if out is None or out is res:
        return res
    out[...] = res
    return out


def _weights(n: int, sample_weight: Any, dtype: np.dtype) -> tuple[np.ndarray, Any]:
    if sample_weight is None:
        return _EMPTY[dtype], dtype.type(1.0 / n) if n else dtype.type(0)
    w = np.ascontiguousarray(np.asarray(sample_weight, dtype=dtype).reshape(n))
    return w, dtype.type(1.0 / n) if n else dtype.type(0)


class CpuOps(NumpyOps):
    """The default CPU backend: Numba kernels, GEMMs through the C core."""

    name = "cpu"

    # -------------------------------------------------------------------- GEMM
    def gemm(
        self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *,
        trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
        bias: np.ndarray | None = None, activation: str | None = None, act_param: float = 0.0,
    ) -> np.ndarray:
        """``out = act(alpha op(a) op(b) + beta out + bias)`` in one C call when fusable."""
        dtype = a.dtype
        if dtype not in _EMPTY or b.dtype != dtype:
            return super().gemm(a, b, out, trans_a=trans_a, trans_b=trans_b, alpha=alpha,
                                beta=beta, bias=bias, activation=activation, act_param=act_param)
        a = _c(a)
        b = _c(b)
        m = a.shape[1] if trans_a else a.shape[0]
        n = b.shape[0] if trans_b else b.shape[1]
        dst = _out_like(out, (m, n), dtype)
        if beta != 0.0 and out is not None and dst is not out:
            dst[...] = out
        elif out is None:
            beta = 0.0
        name = canonical_activation(activation)
        act_id = _C_FUSED.get(name, 0)
        if bias is not None:
            bias = _c(bias)
        linalg.gemm_into(a, b, dst, trans_a, trans_b, alpha, beta, bias, act_id, act_param)
        if name not in _C_FUSED:
            self.activation(name, dst, dst, act_param)
        return _finish(out, dst)

    def dense(
        self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, activation: str | None = None,
        param: float = 0.0, out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``y = act(x @ w + b)``: one C GEMM with the bias and activation in its epilogue
        (its sparse-A entry: inputs are often mostly zeros, and the bits are the same)."""
        name = canonical_activation(activation)
        act_id = _C_FUSED.get(name)
        if (act_id is None or x.dtype not in _EMPTY or w.dtype != x.dtype
                or not x.flags.c_contiguous or not w.flags.c_contiguous
                or (b is not None and not b.flags.c_contiguous)):
            return self.gemm(x, w, out, bias=b, activation=name, act_param=param)
        dst = _out_like(out, (x.shape[0], w.shape[1]), x.dtype)
        linalg.gemm_into(x, w, dst, False, False, 1.0, 0.0, b, act_id, param, True)
        return _finish(out, dst)

    def backprop_dense(
        self, dz: np.ndarray, x: np.ndarray, w: np.ndarray, dw: np.ndarray,
        db: np.ndarray | None, dx: np.ndarray | None | bool = None, *,
        activation: str | None = None, y: np.ndarray | None = None, param: float = 0.0,
        work: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Dense backward with the activation derivative and the bias gradient fused into one
        pass over ``dz`` (see ``NumpyOps.backprop_dense``); GEMMs through the C core."""
        name = canonical_activation(activation)
        dtype = dz.dtype
        if dtype not in _EMPTY:
            return super().backprop_dense(dz, x, w, dw, db, dx, activation=name, y=y,
                                          param=param, work=work)
        dz = _c(dz)
        g = dz
        if name != "linear":
            if name in NEEDS_INPUT:
                raise ValueError(f"backprop_dense cannot fuse {name!r}: its derivative needs z")
            if y is None:
                raise ValueError(f"backprop_dense with activation {name!r} needs the output y")
            g = _out_like(work, dz.shape, dtype)
            t = dtype.type
            if (name in ACT_CODES and db is not None and db.flags.c_contiguous
                    and dz.ndim == 2 and dz.size < PAR_MIN
                    and K_act.act_backward_bias(dz, _c(y), g, db, ACT_CODES[name], t(param))):
                db = None  # done in the same pass
            else:
                self.backprop_activation(name, dz, None, y, g, param)
        fast = (x.dtype == dtype and w.dtype == dtype and dw.dtype == dtype
                and x.flags.c_contiguous and w.flags.c_contiguous and dw.flags.c_contiguous)
        if fast:  # the common case: straight to the C core, no re-checks
            gemm_into(x, g, dw, True, False, 1.0, 0.0, None, 0, 0.0, True)
        else:
            self.gemm(x, g, dw, trans_a=True)
        if db is not None:
            if db.flags.c_contiguous and g.ndim == 2:
                self._bias_grad(g, db)
            else:
                self.bias_grad(g, db)
        if dx is False:
            return None
        if fast and (dx is None or (dx.flags.c_contiguous and dx.dtype == dtype)):
            if dx is None:
                dx = np.empty((g.shape[0], w.shape[0]), dtype)
            return gemm_into(g, w, dx, False, True, 1.0, 0.0, None, 0, 0.0)
        return self.gemm(g, w, None if dx is None else dx, trans_b=True)

    # ------------------------------------------------------------- activations
    def activation(
        self, name: str | None, x: np.ndarray, out: np.ndarray | None = None, param: float = 0.0
    ) -> np.ndarray:
        name = canonical_activation(name)
        if x.dtype not in _EMPTY or name in HOST_ROWWISE:
            return super().activation(name, x, out, param)
        x = _c(x)
        dst = _out_like(out, x.shape, x.dtype)
        if name in ("softmax", "log_softmax"):
            x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
            d2 = dst.reshape(x2.shape)
            (K_sm.softmax_rows if name == "softmax" else K_sm.log_softmax_rows)(x2, d2)
        else:
            _run(K_act.act_forward_range,
                 (x.reshape(-1), dst.reshape(-1), ACT_CODES[name], x.dtype.type(param)), x.size)
        return _finish(out, dst)

    def backprop_activation(
        self, name: str | None, dy: np.ndarray, x: np.ndarray | None, y: np.ndarray | None,
        out: np.ndarray | None = None, param: float = 0.0,
    ) -> np.ndarray:
        name = canonical_activation(name)
        if dy.dtype not in _EMPTY or name in HOST_ROWWISE:
            return super().backprop_activation(name, dy, x, y, out, param)
        dy = _c(dy)
        if name in NEEDS_INPUT:
            if x is None:
                raise ValueError(f"backprop of {name!r} needs the input x")
            x = _c(x)
            y = x
        elif y is None:
            if x is None:
                raise ValueError(f"backprop of {name!r} needs the output y or the input x")
            y = self.activation(name, x, None, param)
        else:
            y = _c(y)
        if x is None:
            x = y
        dst = _out_like(out, dy.shape, dy.dtype)
        if name in ("softmax", "log_softmax"):
            c = dy.shape[-1]
            K_sm.softmax_backward_rows(dy.reshape(-1, c), y.reshape(-1, c), dst.reshape(-1, c),
                                       name == "log_softmax")
        else:
            _run(K_act.act_backward_range, (dy.reshape(-1), x.reshape(-1), y.reshape(-1),
                                            dst.reshape(-1), ACT_CODES[name],
                                            dy.dtype.type(param)), dy.size)
        return _finish(out, dst)

    def bias_grad(self, dy: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if dy.dtype not in _EMPTY:
            return super().bias_grad(dy, out)
        dy2 = _c(dy).reshape(-1, dy.shape[-1])
        dst = _out_like(out, (dy2.shape[1],), dy.dtype)
        self._bias_grad(dy2, dst)
        return _finish(out, dst)

    # ------------------------------------------------------------------ losses
    def _loss_bufs(self, z: np.ndarray, dlogits: np.ndarray | None):
        return np.empty(z.shape[0], dtype=z.dtype), _out_like(dlogits, z.shape, z.dtype)

    def softmax_xent_sparse(
        self, logits: np.ndarray, labels: np.ndarray, sample_weight: Any = None,
        dlogits: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        z = logits
        if z.dtype not in _EMPTY or z.ndim != 2:
            return super().softmax_xent_sparse(z, labels, sample_weight, dlogits)
        z = _c(z)
        n = z.shape[0]
        lab = np.asarray(labels).reshape(n)
        if lab.dtype != np.int64:
            lab = lab.astype(np.int64)
        w, inv = _weights(n, sample_weight, z.dtype)
        loss, dz = self._loss_bufs(z, dlogits)
        # the kernel bounds-checks each label as it reads it (an outside one is never used
        # as an index) and counts them: the separate min/max pass is needed only to word the
        # error, so the bounds check costs nothing when every label is inside
        if K_sm.softmax_xent_sparse(z, _c(lab), w, inv, loss, dz):
            check_labels(lab, z.shape[1])
        return loss, _finish(dlogits, dz)

    def softmax_xent(
        self, logits: np.ndarray, targets: np.ndarray, sample_weight: Any = None,
        dlogits: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        z = logits
        if z.dtype not in _EMPTY or z.ndim != 2:
            return super().softmax_xent(z, targets, sample_weight, dlogits)
        z = _c(z)
        t = _c(np.asarray(targets, dtype=z.dtype).reshape(z.shape))
        w, inv = _weights(z.shape[0], sample_weight, z.dtype)
        loss, dz = self._loss_bufs(z, dlogits)
        K_sm.softmax_xent(z, t, w, inv, loss, dz)
        return loss, _finish(dlogits, dz)

    def sigmoid_bce(
        self, logits: np.ndarray, targets: np.ndarray, sample_weight: Any = None,
        dlogits: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        z = logits
        if z.dtype not in _EMPTY or z.ndim == 0:
            return super().sigmoid_bce(z, targets, sample_weight, dlogits)
        z = _c(z)
        z2 = z.reshape(z.shape[0], -1)
        t = _c(np.asarray(targets, dtype=z.dtype).reshape(z2.shape))
        w, inv = _weights(z.shape[0], sample_weight, z.dtype)
        loss = np.empty(z.shape[0], dtype=z.dtype)
        dz = _out_like(dlogits, z.shape, z.dtype)
        K_sm.sigmoid_bce(z2, t, w, inv, loss, dz.reshape(z2.shape))
        return loss, _finish(dlogits, dz)

    def mse(
        self, y_pred: np.ndarray, y_true: np.ndarray, sample_weight: Any = None,
        dy: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """MSE per row and its gradient in one pass (``kernels.regression.mse``, the kernel
        the compiled training step runs)."""
        y = y_pred
        if y.dtype not in _EMPTY or y.ndim != 2:
            return super().mse(y, y_true, sample_weight, dy)
        y = _c(y)
        t = _c(np.asarray(y_true, dtype=y.dtype).reshape(y.shape))
        w, inv = _weights(y.shape[0], sample_weight, y.dtype)
        loss, d = self._loss_bufs(y, dy)
        K_reg.mse(y, t, w, inv, loss, d)
        return loss, _finish(dy, d)

    # ----------------------------------------------------------------- dropout
    def dropout_mask(
        self, shape: int | Sequence[int], rate: float, seed: int, counter: int,
        dtype: Any = np.float32, out: np.ndarray | None = None,
    ) -> np.ndarray:
        dtype = np.dtype(dtype)
        if dtype not in _EMPTY:
            return super().dropout_mask(shape, rate, seed, counter, dtype, out)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        dst = _out_like(out, shape, dtype)
        scale = dtype.type(1.0 / (1.0 - rate)) if rate < 1.0 else dtype.type(0)
        _run(K_drop.mask_range, (dst.reshape(-1), np.uint64(dropout_key(seed, counter)),
                                 np.uint64(dropout_threshold(rate)), scale), dst.size)
        return _finish(out, dst)

    # -------------------------------------------------------------- reductions
    @staticmethod
    def _bias_grad(dy2: np.ndarray, out: np.ndarray) -> None:
        k = _threads(dy2.size)
        if k == 1:
            K_red.bias_grad(dy2, out)
        else:
            parallel.run(K_red.bias_grad_cols, (dy2, out), dy2.shape[1], k,
                         align=K_red.COL_BLOCK)

    def sq_norm(self, x: np.ndarray) -> float:
        """Σ x² in float64 over a fixed partition (same value whatever the thread count)."""
        if x.dtype not in _EMPTY:
            return super().sq_norm(x)
        x = _c(x).reshape(-1)
        k = _threads(x.size)
        if k == 1:
            return float(K_red.sq_norm(x))
        parts = np.empty((x.size + CHUNK - 1) // CHUNK, np.float64)
        parallel.run(K_red.sq_parts, (x, parts), x.size, k)
        return float(K_red.sum_in_order(parts))

    def sum_f64(self, x: np.ndarray) -> float:
        """Σ x in float64, one fixed order (``kernels.reductions.sum_f64``, the sum the
        compiled training step gives History)."""
        if x.dtype not in _EMPTY:
            return super().sum_f64(x)
        return float(K_red.sum_f64(_c(x).reshape(-1)))

    def permutation(self, seed: int, epoch: int, n: int) -> np.ndarray:
        """``NumpyOps.permutation``'s order, bit for bit, without building a Generator
        (``kernels.shuffle``, which the compiled training step runs; ~1 us instead of ~28)."""
        seed, epoch, n = int(seed), int(epoch), int(n)
        if not (0 <= seed < 1 << 64 and 0 <= epoch < 1 << 64):
            return super().permutation(seed, epoch, n)
        out = np.empty(n, np.int64)
        K_shuf.seeded_permutation(seed, epoch, out)
        return out

    # -------------------------------------------------------- optimizer steps
    @staticmethod
    def _clip(t: Any, clipvalue: float | None) -> Any:
        return t(_INF if clipvalue is None else clipvalue)

    def optimizer_step(
        self, code: int, params: np.ndarray, grads: np.ndarray,
        bufs: Sequence[np.ndarray | None], consts: Any, lr: float, wdlr: float,
        grad_scale: float = 1.0,
    ) -> None:
        """One packed optimizer step (``NumpyOps.optimizer_step``) as ``kernels.optim.
        opt_apply``, the body the compiled training step runs, specialised to ``code`` (only
        that optimizer is compiled); split over threads above PAR_MIN elements (elementwise,
        so the same bits)."""
        dt = params.dtype
        if dt not in _EMPTY:
            return super().optimizer_step(code, params, grads, bufs, consts, lr, wdlr,
                                          grad_scale)
        t = dt.type
        e = _EMPTY[dt]
        b0, b1, b2 = (e if b is None else b for b in bufs)
        _run(K_opt.range_kernel(code), (params, _c(grads), b0, b1, b2,
                               np.asarray(consts, dtype=np.float64), t(lr), t(wdlr),
                               t(grad_scale)), params.size)
        return None

    # -------------------------------------------------------------- embeddings
    @staticmethod
    def _ids(ids: np.ndarray, ndim: int) -> np.ndarray:
        a = np.asarray(ids)
        if a.dtype.kind not in "iu":
            a = np.rint(a).astype(np.int64)
        a = a.reshape(-1) if ndim == 1 else a
        return a if a.flags.c_contiguous else np.ascontiguousarray(a)

    @staticmethod
    def _prev(dtable: np.ndarray, prev_rows: np.ndarray | None) -> np.ndarray:
        if prev_rows is None:
            dtable[...] = 0
            return np.empty(0, np.int64)
        return np.ascontiguousarray(prev_rows, dtype=np.int64)

    def embedding_gather(self, table: np.ndarray, ids: np.ndarray, pad_id: int = -1,
                         out: np.ndarray | None = None) -> np.ndarray:
        flat = self._ids(ids, 1)
        check_embedding_args(table.shape, flat, "embedding_gather")
        dst = _out_like(out, (flat.size, table.shape[1]), table.dtype)
        K_emb.gather(_c(table), flat, int(pad_id), dst.reshape(flat.size, table.shape[1]))
        return _finish(out, dst)

    def backprop_embedding_gather(self, dy: np.ndarray, ids: np.ndarray, dtable: np.ndarray,
                                  pad_id: int = -1,
                                  prev_rows: np.ndarray | None = None) -> np.ndarray:
        flat = self._ids(ids, 1)
        check_embedding_args(dtable.shape, flat, "backprop_embedding_gather", prev_rows, dy,
                             flat.size)
        prev = self._prev(dtable, prev_rows)
        return K_emb.gather_backward(_c(dy).reshape(flat.size, -1), flat, int(pad_id), dtable,
                                     prev)

    def embedding_bag(self, table: np.ndarray, ids: np.ndarray, pad_id: int = 0,
                      mode: str = "mean", out: np.ndarray | None = None) -> np.ndarray:
        ids2 = self._ids(ids, 2)
        check_embedding_args(table.shape, ids2, "embedding_bag")
        dst = _out_like(out, (ids2.shape[0], table.shape[1]), table.dtype)
        K_emb.bag(_c(table), ids2, int(pad_id), mode == "mean", dst)
        return _finish(out, dst)

    def backprop_embedding_bag(self, dy: np.ndarray, ids: np.ndarray, dtable: np.ndarray,
                               pad_id: int = 0, mode: str = "mean",
                               prev_rows: np.ndarray | None = None) -> np.ndarray:
        ids2 = self._ids(ids, 2)
        check_embedding_args(dtable.shape, ids2, "backprop_embedding_bag", prev_rows, dy,
                             ids2.shape[0])
        prev = self._prev(dtable, prev_rows)
        return K_emb.bag_backward(_c(dy), ids2, int(pad_id), mode == "mean", dtable, prev)

    def adam_rows(
        self, table: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray,
        rows: np.ndarray, lr: float, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-7, step: int = 1, *, weight_decay: float = 0.0,
        grad_scale: float = 1.0, clipvalue: float | None = None,
    ) -> None:
        """Lazy Adam in place on rows ``rows`` of the 2-D ``table`` and its 2-D state: the
        dense ``adam_step`` arithmetic on those rows only. A CPU-only extension of the Ops
        contract (``Adam`` uses it when present, else gathers, steps and scatters)."""
        t = table.dtype.type
        for arg, a in (("grad", grad), ("m", m), ("v", v)):
            if a.shape != table.shape or a.dtype != table.dtype:
                raise ValueError(f"adam_rows: {arg} must match the table (shape {table.shape}, "
                                 f"dtype {table.dtype}), got {a.shape} {a.dtype}")
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        check_index_range(rows, table.shape[0], "adam_rows", "rows")
        alpha = S.adam_alpha(lr, beta_1, beta_2, step)
        K_emb.adam_rows(table, grad, m, v, rows,
                        t(alpha), t(1.0 - beta_1), t(1.0 - beta_2), t(epsilon),
                        t(lr * weight_decay), t(grad_scale), self._clip(t, clipvalue),
                        t(flush_threshold(table.dtype)))

    # ---- normalization (BatchNormalization, LayerNormalization) ---------------------------
    # Same contract as the NumpyOps block of the same name; kernels in kernels/normalization.

    def batch_norm_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = _c(x)
        mean64, var64 = _bn_stats64(x)
        return mean64.astype(x.dtype), var64.astype(x.dtype)

    def batch_norm_train(self, x: np.ndarray, gamma: np.ndarray | None,
                         beta: np.ndarray | None, moving_mean: np.ndarray | None,
                         moving_variance: np.ndarray | None, momentum: float, epsilon: float,
                         out: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One statistics pass (float64 block sums), the moving-statistics update, one
        normalize pass; the serial case is the single ``train_forward`` call the compiled
        step makes, the threaded one the same blocks in pieces (same bits)."""
        from fastff.backend.kernels import batch_norm as K_bn

        x = _c(x)
        n, c = x.shape
        t = x.dtype.type
        g, b = _affine(gamma, beta, x)
        mm, mv, update = _moving(moving_mean, moving_variance, x)
        dst = _out_like(out, x.shape, x.dtype)
        mean, var = np.empty(c, x.dtype), np.empty(c, x.dtype)
        scale, shift = np.empty(c, x.dtype), np.empty(c, x.dtype)
        nb = K_bn.n_blocks(n)
        pmean, pm2 = np.empty((nb, c)), np.empty((nb, c))
        mean64, var64 = np.empty(c), np.empty(c)
        k = _threads(x.size)
        mom, one_m = t(momentum), t(1.0 - momentum)
        if k == 1:
            K_bn.train_forward(x, g, b, t(epsilon), mm, mv, mom, one_m, update, dst, mean, var,
                               scale, shift, pmean, pm2, mean64, var64)
        else:
            parallel.run(K_bn.stats_range, (x, pmean, pm2), n, k, K_bn.BLOCK_ROWS)
            K_bn.merge_stats(pmean, pm2, n, mean64, var64)
            K_bn.finish_stats(mean64, var64, g, b, t(epsilon), mm, mv, mom, one_m, update,
                              mean, var, scale, shift)
            parallel.run(K_bn.apply_range, (x, mean, scale, shift, dst), n, k, _row_align(c))
        _copy_back(moving_mean if update else None, mm)
        _copy_back(moving_variance if update else None, mv)
        return _finish(out, dst), mean, var

    def batch_norm(self, x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                   mean: np.ndarray, var: np.ndarray, epsilon: float,
                   out: np.ndarray | None = None) -> np.ndarray:
        from fastff.backend.kernels import batch_norm as K_bn

        x = _c(x)
        c = x.shape[1]
        g, b = _affine(gamma, beta, x)
        m = _vec(mean, x)
        scale, shift = np.empty(c, x.dtype), np.empty(c, x.dtype)
        K_bn.inference_affine(g, b, m, _vec(var, x), x.dtype.type(epsilon), scale, shift)
        dst = _out_like(out, x.shape, x.dtype)
        _run_rows(K_bn.apply_range, (x, m, scale, shift, dst), x)
        return _finish(out, dst)

    def backprop_batch_norm(self, dy: np.ndarray, x: np.ndarray, gamma: np.ndarray | None,
                            mean: np.ndarray, var: np.ndarray, epsilon: float,
                            dgamma: np.ndarray | None, dbeta: np.ndarray | None,
                            dx: Any = None, batch_stats: bool = True) -> np.ndarray | None:
        """One pass for the float64 column sums, one for dx (training mode); through fixed
        statistics both in a single pass. Serial training mode is ``train_backward``."""
        from fastff.backend.kernels import batch_norm as K_bn

        x, dy = _c(x), _c(dy)
        n, c = x.shape
        t = x.dtype.type
        g, _ = _affine(gamma, None, x)
        m, v = _vec(mean, x), _vec(var, x)
        dg, db = _grad_vec(dgamma, x), _grad_vec(dbeta, x)
        want = dx is not False
        dst = _out_like(dx if want else None, x.shape, x.dtype) if want else _EMPTY2[x.dtype]
        nb = K_bn.n_blocks(n)
        psb, psg = np.empty((nb, c)), np.empty((nb, c))
        sb64, sg64 = np.empty(c), np.empty(c)
        inv, a = np.empty(c, x.dtype), np.empty(c, x.dtype)
        k = _threads(x.size)
        if batch_stats:
            mb, kk = np.empty(c, x.dtype), np.empty(c, x.dtype)
            if k == 1:
                K_bn.train_backward(dy, x, g, m, v, t(epsilon), dg, db, dst, want, inv, psb,
                                    psg, sb64, sg64, a, mb, kk)
            else:
                K_bn.inv_std(v, t(epsilon), inv)
                parallel.run(K_bn.sums_range, (dy, x, m, psb, psg), n, k, K_bn.BLOCK_ROWS)
                K_bn.merge_sums(psb, psg, inv, dg, db, sb64, sg64)
                if want:
                    K_bn.dx_coefs(g, inv, sb64, sg64, n, a, mb, kk)
                    parallel.run(K_bn.dx_range, (dy, x, m, a, mb, kk, dst), n, k,
                                 _row_align(c))
        else:
            K_bn.inv_std(v, t(epsilon), inv)
            a[:] = g * inv
            sums = dgamma is not None or dbeta is not None
            args = (dy, x, m, inv, a, psb, psg, sums, dst, want)
            if k == 1:
                K_bn.fixed_backward_range(*args, 0, n)
            else:
                parallel.run(K_bn.fixed_backward_range, args, n, k, K_bn.BLOCK_ROWS)
            if sums:
                K_bn.merge_sums(psb, psg, inv, dg, db, sb64, sg64)
        _copy_back(dgamma, dg)
        _copy_back(dbeta, db)
        return _finish(dx, dst) if want else None

    def layer_norm(self, x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                   epsilon: float, rms_scaling: bool = False, out: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from fastff.backend.kernels import normalization as K_ln

        x = _c(x)
        g, b = _affine(gamma, beta, x)
        dst = _out_like(out, x.shape, x.dtype)
        mean = np.empty(x.shape[0], dtype=x.dtype)
        inv = np.empty(x.shape[0], dtype=x.dtype)
        _run_rows(K_ln.layer_norm_range, (x, g, b, x.dtype.type(epsilon), bool(rms_scaling),
                                          dst, mean, inv), x)
        return _finish(out, dst), mean, inv

    def backprop_layer_norm(self, dy: np.ndarray, x: np.ndarray, gamma: np.ndarray | None,
                            mean: np.ndarray, inv: np.ndarray, dgamma: np.ndarray | None,
                            dbeta: np.ndarray | None, dx: Any = None, rms_scaling: bool = False
                            ) -> np.ndarray | None:
        """One pass over the rows: dx and the float64 block partials of dgamma/dbeta."""
        from fastff.backend.kernels import batch_norm as K_bn
        from fastff.backend.kernels import normalization as K_ln

        x, dy = _c(x), _c(dy)
        n, c = x.shape
        g, _ = _affine(gamma, None, x)
        want = dx is not False
        sums = dgamma is not None or dbeta is not None
        dst = _out_like(dx if want else None, x.shape, x.dtype) if want else _EMPTY2[x.dtype]
        nb = K_bn.n_blocks(n) if sums else 0
        psg, psb = np.empty((nb, c)), np.empty((nb, c))
        args = (dy, x, g, _vec(mean, x), _vec(inv, x), bool(rms_scaling), psg, psb, sums, dst,
                want)
        k = _threads(x.size)
        if k > 1:
            parallel.run(K_ln.layer_norm_backward_range, args, n, k, K_bn.BLOCK_ROWS)
        else:
            K_ln.layer_norm_backward_range(*args, 0, n)
        if sums:
            dg, db = _grad_vec(dgamma, x), _grad_vec(dbeta, x)
            K_ln.add_blocks(psg, psb, dg, db)
            _copy_back(dgamma, dg)
            _copy_back(dbeta, db)
        return _finish(dx, dst) if want else None


# ---- helpers of the normalization block ---------------------------------------------------
_EMPTY2 = {np.dtype(np.float32): np.empty((0, 0), np.float32),
           np.dtype(np.float64): np.empty((0, 0), np.float64)}


def _vec(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(v, dtype=x.dtype)


def _affine(gamma: np.ndarray | None, beta: np.ndarray | None, x: np.ndarray):
    """gamma/beta as contiguous vectors of x's dtype (ones / zeros when absent)."""
    c = x.shape[1]
    g = np.ones(c, x.dtype) if gamma is None else _vec(gamma, x)
    b = np.zeros(c, x.dtype) if beta is None else _vec(beta, x)
    return g, b


def _moving(mm: np.ndarray | None, mv: np.ndarray | None, x: np.ndarray):
    """Writable contiguous moving statistics of x's dtype (scratch when absent), and whether
    to update them."""
    update = mm is not None and mv is not None
    if not update:
        return np.empty(x.shape[1], x.dtype), np.empty(x.shape[1], x.dtype), False
    return _vec_rw(mm, x), _vec_rw(mv, x), True


def _vec_rw(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    if v.flags.c_contiguous and v.dtype == x.dtype and v.flags.writeable:
        return v if v.ndim == 1 else v.reshape(-1)
    return np.ascontiguousarray(v, dtype=x.dtype).reshape(-1)


def _bn_stats64(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and biased variance in float64 (the block statistics of BatchNorm)."""
    from fastff.backend.kernels import batch_norm as K_bn

    n, c = x.shape
    nb = K_bn.n_blocks(n)
    pmean, pm2 = np.empty((nb, c)), np.empty((nb, c))
    k = _threads(x.size)
    if k == 1:
        K_bn.stats_range(x, pmean, pm2, 0, n)
    else:
        parallel.run(K_bn.stats_range, (x, pmean, pm2), n, k, K_bn.BLOCK_ROWS)
    mean64, var64 = np.empty(c), np.empty(c)
    K_bn.merge_stats(pmean, pm2, n, mean64, var64)
    return mean64, var64


def _row_align(c: int) -> int:
    """Rows per parallel piece boundary of a row-wise elementwise kernel (~CHUNK elements)."""
    return max(1, CHUNK // max(c, 1))


def _run_rows(kernel: Any, args: tuple, x: np.ndarray) -> None:
    """``kernel(*args, lo, hi)`` over the rows of ``x``, threaded when ``x`` is large."""
    k = _threads(x.size)
    if k > 1:
        parallel.run(kernel, args, x.shape[0], k, _row_align(x.shape[1]))
    else:
        kernel(*args, 0, x.shape[0])


def _grad_vec(grad: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    """A writable contiguous gradient vector: ``grad`` itself when usable, else scratch."""
    if grad is not None and grad.flags.c_contiguous and grad.dtype == x.dtype:
        return grad
    return np.empty(x.shape[1], x.dtype)


def _copy_back(grad: np.ndarray | None, buf: np.ndarray) -> None:
    if grad is not None and grad is not buf:
        grad[...] = buf
