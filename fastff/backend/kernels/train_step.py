"""Whole training steps (and whole epochs) of a Dense stack as one compiled call.

The compiled path of ``fit`` (see ``fastff.training.compiled``): for each step it makes exactly the
kernel calls the general path makes through the layers and ``CpuOps`` — the same C GEMMs with
the same epilogues, the same fused activation-derivative + bias-gradient pass, the same
softmax/sigmoid cross-entropy and MSE kernels, dropout masks and optimizer kernels — so parameters,
optimizer state and losses come out bit for bit the same; only the Python between them is
gone. It also shuffles, gathers each batch's rows and sums the epoch loss with the kernels
``CpuOps.permutation`` and ``CpuOps.sum_f64`` run (equal by construction, not by imitation).

Layout: the model's flat ``params``/``grads`` buffers are cut into per-layer views here from
``meta`` rows, and per-layer scratch arrays from one flat workspace ``ws`` — so one compiled
function serves every depth. What a model does use is fixed at compile time instead, so a
first ``fit`` compiles only that: ``steps_kernel`` makes the step for one optimizer, one
loss, one set of normalizations (``norm``: bits ``HAS_BN``, ``HAS_LN`` and ``HAS_POST`` for
an activation layer after a normalization) and with or without dropout (the choices are
closure constants, so Numba prunes the other branches before typing them and caches each
variant on disk), and the stack functions take ``bn``/``ln``/``post``/``drop`` as None
(absent: those branches pruned) or 1.

``meta[l]``: n_in, n_out, w_off, b_off (-1: no bias, inference only), C epilogue id,
activation code, dropout threshold on the layer's input (-1: none), ws offset; then a
BatchNormalization on the unit's output: the offsets of gamma, beta (-1: none), moving mean,
moving variance (-1: no BatchNormalization) and its workspace; the elementwise activation
code applied after the unit or its normalization (-1: none; trained only after a
normalization) and its workspace; the offset in ``aux`` of a Rescaling's scale and offset
vectors on the unit's input (-1: none; inference only) and its workspace; a
LayerNormalization on the unit's output in place of a BatchNormalization (-1: none, 0, 1:
``rms_scaling``), the offsets of its gamma and beta (-1: none), its workspace; whether the
derivative of the activation after the unit reads its input (``spec.NEEDS_INPUT``: the input
stands in for the output, as ``CpuOps.backprop_activation``). ``fparams[l]``: activation
parameter, dropout scale, normalization epsilon, BatchNormalization momentum and 1 -
momentum, the parameter of the activation after the unit. Each step calls the kernels the
layer's general forward / backward runs, with the scalars, scratch and gamma/beta stand-ins
``CpuOps`` gives them: ``kernels.batch_norm``'s ``train_forward`` / ``train_backward`` (and
its inference pair), ``kernels.normalization``'s ``layer_norm_range`` /
``layer_norm_backward_range`` + ``add_blocks``, ``act_forward_range`` /
``act_backward_range`` (``CpuOps.activation`` / ``backprop_activation``).
``dkeys[l]``: splitmix64 of the dropout layer's seed (the counter is mixed in per step).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import carray, cfunc, njit, types

from fastff._native import batch_begin, batch_end, gemm_into_nb, parallel_range
from fastff.backend.kernels import NJIT, NJIT_INLINE
from fastff.backend.kernels import batch_norm as K_bn
from fastff.backend.kernels import normalization as K_ln
from fastff.backend.kernels import optim as K_opt
from fastff.backend.kernels import softmax as K_sm
from fastff.backend.kernels.activations import (
    act_backward_bias,
    act_backward_range,
    act_forward_range,
)
from fastff.backend.kernels.dropout import mask_range
from fastff.backend.kernels.reductions import bias_grad, sum_f64
from fastff.backend.kernels.regression import mse
from fastff.backend.kernels.shuffle import seeded_permutation

# meta columns
N_IN, N_OUT, W_OFF, B_OFF, C_ID, CODE, DROP, WS = range(8)
BN_G, BN_B, BN_MM, BN_MV, BN_WS = range(8, 13)
POST, POST_WS, PRE, PRE_WS = range(13, 17)
LN, LN_G, LN_B, LN_WS = range(17, 21)
POST_X = 21
N_META = 22
# ``steps_kernel``'s ``norm``: what a stack's normalizations use, as bits (HAS_POST: an
# activation layer after a normalization)
HAS_BN, HAS_LN, HAS_POST = 1, 2, 4
# fparams columns
F_ACT, F_DROP, F_EPS, F_MOM, F_ONE_M, F_POST = range(6)
# loss kinds
SPARSE_XENT, XENT, SIGMOID_BCE, MSE = 0, 1, 2, 3

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def ws_layout(meta: np.ndarray, batch: int) -> tuple[np.ndarray, int]:
    """Workspace offsets for ``batch`` rows: per layer h, g (b*n_out), dh, mask, xd (b*n_in);
    after a BatchNormalization's unit its output z, its dx (b*n_out) and 8 vectors of n_out;
    an activation after the unit: its output and its dx (b*n_out); a Rescaling: its output
    (b*n_in); a LayerNormalization: its output z (b*n_out), the rows' mean and inverse
    deviation (b each) and its dx (b*n_out). Writes ``meta[:, WS]`` (and the ``*_WS`` columns
    used) and returns (meta, total size)."""
    off = 0
    for row in meta:
        row[WS] = off
        off += 2 * batch * int(row[N_OUT]) + 3 * batch * int(row[N_IN])
        if row[BN_MM] >= 0:
            row[BN_WS] = off
            off += 2 * batch * int(row[N_OUT]) + 8 * int(row[N_OUT])
        if meta.shape[1] > POST and row[POST] >= 0:
            row[POST_WS] = off
            off += 2 * batch * int(row[N_OUT])
        if meta.shape[1] > PRE and row[PRE] >= 0:
            row[PRE_WS] = off
            off += batch * int(row[N_IN])
        if meta.shape[1] > LN and row[LN] >= 0:
            row[LN_WS] = off
            off += 2 * batch * int(row[N_OUT]) + 2 * batch
    return meta, off


@njit(**NJIT_INLINE)
def _splitmix(x):
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(**NJIT_INLINE)
def _view(buf, off, rows, cols):
    return buf[off:off + rows * cols].reshape((rows, cols))


@njit(**NJIT_INLINE)
def _affine(params, meta, k, no, g_col, b_col):
    """Unit ``k``'s normalization gamma and beta (meta columns ``g_col``, ``b_col``; ones /
    zeros stand-ins when absent, as ``CpuOps``)."""
    g = meta[k, g_col]
    gamma = params[g:g + no] if g >= 0 else np.ones(no, params.dtype)
    be = meta[k, b_col]
    beta = params[be:be + no] if be >= 0 else np.zeros(no, params.dtype)
    return gamma, beta


@njit(**NJIT_INLINE)
def _affine_grads(grads, meta, k, no, g_col, b_col):
    """Where the gradients of that gamma and beta go (scratch when absent, as ``CpuOps``)."""
    g = meta[k, g_col]
    dgamma = grads[g:g + no] if g >= 0 else np.empty(no, grads.dtype)
    be = meta[k, b_col]
    dbeta = grads[be:be + no] if be >= 0 else np.empty(no, grads.dtype)
    return dgamma, dbeta


@njit(**NJIT_INLINE)
def _bn_vecs(params, meta, ws, k, b):
    """The BatchNormalization of unit ``k``: gamma, beta, moving mean, moving variance, and
    its 8 workspace vectors as (8, n)."""
    no = meta[k, N_OUT]
    o = meta[k, BN_WS] + 2 * b * no
    vec = ws[o:o + 8 * no].reshape((8, no))
    gamma, beta = _affine(params, meta, k, no, BN_G, BN_B)
    mm = params[meta[k, BN_MM]:meta[k, BN_MM] + no]
    mv = params[meta[k, BN_MV]:meta[k, BN_MV] + no]
    return gamma, beta, mm, mv, vec


@njit(**NJIT)
def _bn_forward(h, params, meta, fparams, ws, k, b, train):
    """BatchNormalization of unit ``k``'s output ``h`` into its ``z``: batch statistics and
    the moving update when ``train`` (``CpuOps.batch_norm_train``), else the moving
    statistics (``CpuOps.batch_norm``)."""
    t = params.dtype.type
    no = meta[k, N_OUT]
    z = _view(ws, meta[k, BN_WS], b, no)
    gamma, beta, mm, mv, vec = _bn_vecs(params, meta, ws, k, b)
    eps = t(fparams[k, F_EPS])
    if train:
        nb = K_bn.n_blocks(b)
        K_bn.train_forward(h, gamma, beta, eps, mm, mv, t(fparams[k, F_MOM]),
                           t(fparams[k, F_ONE_M]), True, z, vec[0], vec[1], vec[2], vec[3],
                           np.empty((nb, no)), np.empty((nb, no)), np.empty(no), np.empty(no))
    else:
        K_bn.inference_affine(gamma, beta, mm, mv, eps, vec[2], vec[3])
        K_bn.apply_range(h, mm, vec[2], vec[3], z, 0, b)
    return z


@njit(**NJIT)
def _bn_backward(dy, h, params, grads, meta, fparams, ws, k, b):
    """Training-mode BatchNormalization backward of unit ``k`` (``CpuOps.backprop_batch_norm``):
    gamma/beta gradients into ``grads``, returns the gradient of ``h``."""
    t = params.dtype.type
    no = meta[k, N_OUT]
    dx = _view(ws, meta[k, BN_WS] + b * no, b, no)
    gamma, _, _, _, vec = _bn_vecs(params, meta, ws, k, b)
    dgamma, dbeta = _affine_grads(grads, meta, k, no, BN_G, BN_B)
    nb = K_bn.n_blocks(b)
    K_bn.train_backward(dy, h, gamma, vec[0], vec[1], t(fparams[k, F_EPS]), dgamma, dbeta, dx,
                        True, vec[4], np.empty((nb, no)), np.empty((nb, no)), np.empty(no),
                        np.empty(no), vec[5], vec[6], vec[7])
    return dx


@njit(**NJIT)
def _ln_forward(h, params, meta, fparams, ws, k, b):
    """LayerNormalization of unit ``k``'s output ``h`` into its ``z`` (``CpuOps.layer_norm``:
    its row kernel, the same in training and inference); the rows' mean and inverse
    deviation stay in the workspace for the backward."""
    t = params.dtype.type
    no = meta[k, N_OUT]
    o = meta[k, LN_WS]
    z = _view(ws, o, b, no)
    mean = ws[o + b * no:o + b * no + b]
    inv = ws[o + b * no + b:o + b * no + 2 * b]
    gamma, beta = _affine(params, meta, k, no, LN_G, LN_B)
    K_ln.layer_norm_range(h, gamma, beta, t(fparams[k, F_EPS]), meta[k, LN] == 1, z, mean, inv,
                          0, b)
    return z


@njit(**NJIT)
def _ln_backward(dy, h, params, grads, meta, ws, k, b):
    """LayerNormalization backward of unit ``k`` (``CpuOps.backprop_layer_norm``): gamma/beta
    gradients into ``grads`` (the block partials only when there is either), returns the
    gradient of ``h``."""
    no = meta[k, N_OUT]
    o = meta[k, LN_WS]
    mean = ws[o + b * no:o + b * no + b]
    inv = ws[o + b * no + b:o + b * no + 2 * b]
    dx = _view(ws, o + b * no + 2 * b, b, no)
    gamma, _ = _affine(params, meta, k, no, LN_G, LN_B)
    sums = meta[k, LN_G] >= 0 or meta[k, LN_B] >= 0
    nb = K_bn.n_blocks(b) if sums else 0
    psg = np.empty((nb, no))
    psb = np.empty((nb, no))
    K_ln.layer_norm_backward_range(dy, h, gamma, mean, inv, meta[k, LN] == 1, psg, psb, sums,
                                   dx, True, 0, b)
    if sums:
        dgamma, dbeta = _affine_grads(grads, meta, k, no, LN_G, LN_B)
        K_ln.add_blocks(psg, psb, dgamma, dbeta)
    return dx


@njit(**NJIT)
def _post_forward(a, meta, fparams, ws, k, b):
    """The activation layer after unit ``k`` (or its normalization) on ``a``
    (``CpuOps.activation``)."""
    t = a.dtype.type
    no = meta[k, N_OUT]
    y = _view(ws, meta[k, POST_WS], b, no)
    act_forward_range(a.reshape(-1), y.reshape(-1), meta[k, POST], t(fparams[k, F_POST]), 0,
                      b * no)
    return y


@njit(**NJIT)
def _post_backward(dy, z, meta, fparams, ws, k, b):
    """Its backward from its input ``z`` (``CpuOps.backprop_activation``: the input stands in
    for the output where the derivative reads the input); returns the gradient of ``z``."""
    t = dy.dtype.type
    no = meta[k, N_OUT]
    y = z if meta[k, POST_X] else _view(ws, meta[k, POST_WS], b, no)
    d = _view(ws, meta[k, POST_WS] + b * no, b, no)
    act_backward_range(dy.reshape(-1), z.reshape(-1), y.reshape(-1), d.reshape(-1),
                       meta[k, POST], t(fparams[k, F_POST]), 0, b * no)
    return d


@njit(**NJIT_INLINE)
def _norm_output(meta, ws, k, b, no, bn, ln):
    """Unit ``k``'s normalization output ``z`` (BatchNormalization or LayerNormalization), or
    its ``h`` when it has none."""
    if bn is not None:
        if meta[k, BN_MM] >= 0:
            return _view(ws, meta[k, BN_WS], b, no)
    if ln is not None:
        if meta[k, LN] >= 0:
            return _view(ws, meta[k, LN_WS], b, no)
    return _view(ws, meta[k, WS], b, no)


@njit(**NJIT_INLINE)
def _unit_output(meta, ws, k, b, no, bn, ln, post):
    """What unit ``k`` passes on: its activation layer's output, its normalization's ``z``
    or its ``h``."""
    if post is not None:
        if meta[k, POST] >= 0:
            return _view(ws, meta[k, POST_WS], b, no)
    return _norm_output(meta, ws, k, b, no, bn, ln)


@njit(**NJIT)
def forward_stack(x, params, meta, fparams, ws, b, train, counter, dkeys, bn, ln, post, drop):
    """Forward of every layer for ``b`` rows (dropout masks from step ``counter`` when
    ``train``); returns (last layer's output view, C error code or 0). ``bn``/``ln``/``post``/
    ``drop``: None when no unit has a BatchNormalization / LayerNormalization / activation
    layer after its normalization / dropout (those branches not compiled)."""
    a = x
    t = params.dtype.type
    n_layers = meta.shape[0]
    rc = 0
    for k in range(n_layers):
        ni = meta[k, N_IN]
        no = meta[k, N_OUT]
        o = meta[k, WS]
        if drop is not None and train and meta[k, DROP] >= 0:
            m = ws[o + 2 * b * no + b * ni:o + 2 * b * no + 2 * b * ni]
            key = _splitmix(dkeys[k] ^ np.uint64(counter))
            mask_range(m, key, np.uint64(meta[k, DROP]), t(fparams[k, 1]), 0, b * ni)
            xd = _view(ws, o + 2 * b * no + 2 * b * ni, b, ni)
            m2 = m.reshape((b, ni))
            for i in range(b):
                for j in range(ni):
                    xd[i, j] = a[i, j] * m2[i, j]
            a = xd
        w = _view(params, meta[k, W_OFF], ni, no)
        bias = params[meta[k, B_OFF]:meta[k, B_OFF] + no]
        h = _view(ws, o, b, no)
        rc = gemm_into_nb(a, w, h, False, False, 1.0, 0.0, bias, meta[k, C_ID], fparams[k, 0],
                          True)
        if rc != 0:
            return a, rc
        a = h
        if bn is not None:
            if meta[k, BN_MM] >= 0:
                a = _bn_forward(h, params, meta, fparams, ws, k, b, train)
        if ln is not None:
            if meta[k, LN] >= 0:
                a = _ln_forward(h, params, meta, fparams, ws, k, b)
        if post is not None:
            if meta[k, POST] >= 0:
                a = _post_forward(a, meta, fparams, ws, k, b)
    return a, rc


@njit(**NJIT)
def _backward_stack(x, params, grads, meta, fparams, ws, b, dtop, bn, ln, post, drop):
    """Backward from ``dtop`` (gradient of the last layer's output) into ``grads``; the first
    layer gets no input gradient. Returns the C error code or 0. ``bn``/``ln``/``post``/``drop``
    as in ``forward_stack``."""
    t = params.dtype.type
    dy = dtop
    for k in range(meta.shape[0] - 1, -1, -1):
        ni = meta[k, N_IN]
        no = meta[k, N_OUT]
        o = meta[k, WS]
        if post is not None:
            if meta[k, POST] >= 0:
                dy = _post_backward(dy, _norm_output(meta, ws, k, b, no, bn, ln), meta,
                                    fparams, ws, k, b)
        if bn is not None:
            if meta[k, BN_MM] >= 0:
                dy = _bn_backward(dy, _view(ws, o, b, no), params, grads, meta, fparams, ws, k,
                                  b)
        if ln is not None:
            if meta[k, LN] >= 0:
                dy = _ln_backward(dy, _view(ws, o, b, no), params, grads, meta, ws, k, b)
        db = grads[meta[k, B_OFF]:meta[k, B_OFF] + no]
        if meta[k, CODE] == 0:
            bias_grad(dy, db)
            g = dy
        else:
            g = _view(ws, o + b * no, b, no)
            act_backward_bias(dy, _view(ws, o, b, no), g, db, meta[k, CODE], t(fparams[k, 0]))
        dropped = drop is not None and meta[k, DROP] >= 0
        if dropped:
            a = _view(ws, o + 2 * b * no + 2 * b * ni, b, ni)
        elif k == 0:
            a = x
        else:
            a = _unit_output(meta, ws, k - 1, b, ni, bn, ln, post)
        # the weight and the input gradient of a layer are independent: one parallel call
        if k > 0:
            batch_begin()
        rc = gemm_into_nb(a, g, _view(grads, meta[k, W_OFF], ni, no), True, False, 1.0, 0.0,
                          None, 0, 0.0, True)
        if k > 0:
            dh = _view(ws, o + 2 * b * no, b, ni)
            rc2 = gemm_into_nb(g, _view(params, meta[k, W_OFF], ni, no), dh, False, True, 1.0,
                               0.0, None, 0, 0.0)
            rc3 = batch_end()
            if rc == 0:
                rc = rc2 if rc2 != 0 else rc3
            if rc != 0:
                return rc
            if dropped:
                m2 = _view(ws, o + 2 * b * no + b * ni, b, ni)
                for i in range(b):
                    for j in range(ni):
                        dh[i, j] = dh[i, j] * m2[i, j]
            dy = dh
        elif rc != 0:
            return rc
    return 0


#: trainable values from which the compiled step splits its optimizer update over the C
#: core's threads (fastff_parallel_range; below, the update is a few tens of µs)
OPT_PAR_MIN = 1 << 16
#: pieces of the update start at multiples of this many values (whole cache lines)
OPT_ALIGN = 1024
_PIECE_SIG = types.void(types.CPointer(types.voidptr), types.CPointer(types.int64),
                        types.CPointer(types.float64), types.int64, types.int64)
_PIECES: dict[tuple, Any] = {}


def opt_piece(code: int, dtype: Any) -> int:
    """Address of a cfunc that runs ``opt_apply`` of optimizer ``code`` over ``[lo, hi)`` of
    ``dtype`` buffers: ``ptrs``/``sizes`` = params, grads, b0, b1, b2 and the float64
    constants; ``scal`` = lr, lr*weight_decay, gradient scale. The compiled step hands it to
    the C core's pool, which runs pieces of the update on its threads under the caller's FP
    environment; the update is elementwise, so the bits never depend on the split. Made once
    per process, optimizer and dtype (cached on disk)."""
    key = (int(code), np.dtype(dtype).name)
    got = _PIECES.get(key)
    if got is None:
        c = key[0]
        dt = np.float32 if key[1] == "float32" else np.float64

        @cfunc(_PIECE_SIG, cache=True, error_model="numpy")
        def opt_piece_range(ptrs, sizes, scal, lo, hi):  # pragma: no cover - compiled
            p = carray(ptrs[0], sizes[0], dt)
            g = carray(ptrs[1], sizes[1], dt)
            b0 = carray(ptrs[2], sizes[2], dt)
            b1 = carray(ptrs[3], sizes[3], dt)
            b2 = carray(ptrs[4], sizes[4], dt)
            consts = carray(ptrs[5], sizes[5], np.float64)
            K_opt.opt_apply(c, p, g, b0, b1, b2, consts, dt(scal[0]), dt(scal[1]),
                            dt(scal[2]), lo, hi)

        got = _PIECES[key] = opt_piece_range
    return got.address


@njit(**NJIT_INLINE)
def _opt_update(opt, params, grads, b0, b1, b2, ocon, lr, wdlr, n_train, opt_fn, opt_ptrs,
                opt_sizes, opt_scal):
    """The step's optimizer update: split over the C core's threads through the cfunc at
    ``opt_fn`` (``opt_piece``), or run here when ``opt_fn`` is 0. Same bits either way."""
    t = params.dtype.type
    if opt_fn == 0:
        K_opt.opt_apply(opt, params, grads, b0, b1, b2, ocon, lr, wdlr, t(1.0), 0, n_train)
        return 0
    opt_ptrs[0] = params.ctypes.data
    opt_ptrs[1] = grads.ctypes.data
    opt_ptrs[2] = b0.ctypes.data
    opt_ptrs[3] = b1.ctypes.data
    opt_ptrs[4] = b2.ctypes.data
    opt_ptrs[5] = ocon.ctypes.data
    opt_sizes[0] = params.size
    opt_sizes[1] = grads.size
    opt_sizes[2] = b0.size
    opt_sizes[3] = b1.size
    opt_sizes[4] = b2.size
    opt_sizes[5] = ocon.size
    opt_scal[0] = np.float64(lr)
    opt_scal[1] = np.float64(wdlr)
    opt_scal[2] = 1.0
    return parallel_range(opt_fn, opt_ptrs.ctypes.data, opt_sizes.ctypes.data,
                          opt_scal.ctypes.data, n_train, OPT_ALIGN)


_STEPS: dict[tuple, Any] = {}


def steps_kernel(opt: int, loss_kind: int, norm: int, drop: bool) -> Any:
    """The compiled ``train_steps`` for optimizer code ``opt`` (``Optimizer.packed``), loss
    ``loss_kind``, the normalizations ``norm`` (bits ``HAS_BN``, ``HAS_LN``, ``HAS_POST``; 0:
    none) and with or without dropout (``drop``) units; made once per process and choice,
    compiled (or loaded from Numba's cache) on first call."""
    key = (int(opt), int(loss_kind), int(norm), bool(drop))
    kernel = _STEPS.get(key)
    if kernel is None:
        kernel = _STEPS[key] = _make_steps(*key)
    return kernel


def _make_steps(opt: int, loss_kind: int, norm: int, has_drop: bool) -> Any:
    """``train_steps`` with its choices as closure constants (plain values, so Numba's disk
    cache keys each variant by them; the unused branches are pruned before typing)."""
    bn = 1 if norm & HAS_BN else None
    ln = 1 if norm & HAS_LN else None
    post = 1 if norm & HAS_POST else None
    drop = 1 if has_drop else None

    @njit(**NJIT)
    def train_steps(X, labels, targets, perm, xb, lb, tb, params, grads, n_train, meta,
                    fparams, dkeys, ws, b0, b1, b2, ocon, oscal, it0, seed, shuffle, e0, e1,
                    s_lo, s_hi, batch, totals, per_row, dz, opt_fn, opt_ptrs, opt_sizes,
                    opt_scal):
        """Steps ``[s_lo, s_hi)`` of epochs ``[e0, e1)`` (batches of ``batch`` rows over X; the
        permutation is drawn when a step range starts at 0 and ``shuffle``). Step q of the call
        uses ``oscal[q]`` = (lr or Adam's alpha, lr*weight_decay) and dropout counter ``it0 + q``.
        ``totals[e - e0]`` accumulates the epoch's loss sum like the general path's tracker.
        ``opt_fn`` (0 or ``opt_piece``'s address) with its scratch ``opt_ptrs`` (uintp),
        ``opt_sizes`` (int64, 6 each) and ``opt_scal`` (float64, 3) splits the update over
        the C core's threads.
        ``b0..b2``, ``ocon`` are the optimizer's packed buffers and constants, run by
        ``kernels.optim.opt_apply`` as ``CpuOps.optimizer_step`` runs it.
        Returns the number of steps run, or a negative C error code / -1000 - row for a bad label.
        """
        n = X.shape[0]
        c = dz.shape[1]
        t = params.dtype.type
        empty_w = np.empty(0, params.dtype)
        q = 0
        for e in range(e0, e1):
            if shuffle and s_lo == 0:
                seeded_permutation(seed, e, perm)
            for s_idx in range(s_lo, s_hi):
                s = s_idx * batch
                b = min(batch, n - s)
                if shuffle:
                    xv = _view(xb.reshape(-1), 0, b, X.shape[1])
                    for i in range(b):
                        r = perm[s + i]
                        for j in range(X.shape[1]):
                            xv[i, j] = X[r, j]
                    tv = _view(tb.reshape(-1), 0, 0, c)
                    lab = lb[:0]
                    if loss_kind == SPARSE_XENT:
                        for i in range(b):
                            lb[i] = labels[perm[s + i]]
                        lab = lb[:b]
                    else:
                        tv = _view(tb.reshape(-1), 0, b, c)
                        for i in range(b):
                            r = perm[s + i]
                            for j in range(c):
                                tv[i, j] = targets[r, j]
                else:
                    xv = X[s:s + b]
                    lab = labels[s:s + b] if loss_kind == SPARSE_XENT else lb[:0]
                    tv = targets[s:s + b] if loss_kind != SPARSE_XENT else _view(
                        tb.reshape(-1), 0, 0, c)
                z, rc = forward_stack(xv, params, meta, fparams, ws, b, True, it0 + q, dkeys,
                                      bn, ln, post, drop)
                if rc != 0:
                    return -abs(rc)
                loss = per_row[:b]
                d = _view(dz.reshape(-1), 0, b, c)
                inv = t(1.0 / b)
                if loss_kind == SPARSE_XENT:
                    bad = K_sm.softmax_xent_sparse(z, lab, empty_w, inv, loss, d)
                    if bad:
                        return -1000 - s_idx
                elif loss_kind == XENT:
                    K_sm.softmax_xent(z, tv, empty_w, inv, loss, d)
                elif loss_kind == SIGMOID_BCE:
                    K_sm.sigmoid_bce(z, tv, empty_w, inv, loss, d)
                else:
                    mse(z, tv, empty_w, inv, loss, d)
                totals[e - e0] += sum_f64(loss)
                rc = _backward_stack(xv, params, grads, meta, fparams, ws, b, d, bn, ln, post,
                                     drop)
                if rc != 0:
                    return -abs(rc)
                rc = _opt_update(opt, params, grads, b0, b1, b2, ocon, t(oscal[q, 0]),
                                 t(oscal[q, 1]), n_train, opt_fn, opt_ptrs, opt_sizes,
                                 opt_scal)
                if rc != 0:
                    return -abs(rc)
                q += 1
        return q

    return train_steps


@njit(**NJIT)
def _rescale(a, aux, o, y):
    """``y = a * scale + offset`` per column (``Rescaling``: the product, then the sum)."""
    n = a.shape[1]
    s = aux[o:o + n]
    f = aux[o + n:o + 2 * n]
    for i in range(a.shape[0]):
        for j in range(n):
            y[i, j] = a[i, j] * s[j] + f[j]
    return y


@njit(**NJIT)
def predict_stack(params, meta, fparams, ws, softmax_last, bn, post, aux, ln, x, out):
    """Inference forward of ``x`` (rows = x.shape[0]) into ``out`` (the per-call arguments
    last: the caller keeps the others as one tuple); a last-layer softmax (not
    a C epilogue) runs as the row kernel CpuOps uses. Returns the C error code, -1 for a
    non-finite input (checked with one sum, as ``fit``/``predict`` validate), or 0. ``bn``,
    ``post``: None when no unit has a BatchNormalization / an activation after it; ``aux``:
    the Rescalings' vectors, None when there is none; ``ln``: None when no unit has a
    LayerNormalization. Each step is the kernel the layer's general forward runs
    (``CpuOps.batch_norm``, ``CpuOps.layer_norm``, ``CpuOps.activation``, ``Rescaling``'s
    ``x * scale + offset``), so the bits are the general path's."""
    b = x.shape[0]
    inf = np.inf
    bad = 0
    for i in range(b):
        for j in range(x.shape[1]):
            bad |= np.int64(not abs(x[i, j]) < inf)
    if bad:
        for i in range(b):
            for j in range(x.shape[1]):
                if not np.isfinite(x[i, j]):
                    return -1
    n_layers = meta.shape[0]
    a = x
    for k in range(n_layers):
        ni = meta[k, N_IN]
        no = meta[k, N_OUT]
        if aux is not None:
            if meta[k, PRE] >= 0:
                a = _rescale(a, aux, meta[k, PRE], _view(ws, meta[k, PRE_WS], b, ni))
        w = _view(params, meta[k, W_OFF], ni, no)
        h = out if (k == n_layers - 1 and not softmax_last) else _view(ws, meta[k, WS], b, no)
        bo = meta[k, B_OFF]
        if bo >= 0:
            rc = gemm_into_nb(a, w, h, False, False, 1.0, 0.0, params[bo:bo + no],
                              meta[k, C_ID], fparams[k, 0], True)
        else:  # a Dense without a bias
            rc = gemm_into_nb(a, w, h, False, False, 1.0, 0.0, None, meta[k, C_ID],
                              fparams[k, 0], True)
        if rc != 0:
            return rc
        a = h
        if bn is not None:
            if meta[k, BN_MM] >= 0:
                a = _bn_forward(h, params, meta, fparams, ws, k, b, False)
        if ln is not None:
            if meta[k, LN] >= 0:
                a = _ln_forward(h, params, meta, fparams, ws, k, b)
        if post is not None:
            if meta[k, POST] >= 0:
                a = _post_forward(a, meta, fparams, ws, k, b)
    if softmax_last:
        K_sm.softmax_rows(a, out)
    return 0
