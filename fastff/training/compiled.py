"""The compiled step engine of ``fit`` and ``predict`` (DESIGN.md "Two paths, one meaning"):
whole steps or epochs of a lowered stack as one compiled call. The loop
(``fastff.training.loop``) drives it; this module never imports the loop.

A model qualifies when every part declares its compiled form: the network's layers through
``Layer.lower(StackBuilder)`` (``Dense`` with a bias and an activation the C epilogue applies
with its derivative from the output — linear, relu, leaky_relu, elu, tanh, sigmoid — or softmax
on the output unit; ``BatchNormalization`` or ``LayerNormalization`` (trainable, over the
features) on a hidden Dense unit's output, optionally followed by an elementwise built-in
activation layer; ``Dropout`` in front of a Dense; ``Flatten`` of a flat input, ``Input`` and
``Activation('linear')`` as identities; ``Activation('softmax')`` folded into a linear output
unit; for ``predict`` alone also Dense without a bias or with another elementwise activation,
an activation layer right after a hidden unit, Rescaling, frozen layers and regularized
weights: ``StackBuilder``), the loss through ``Loss.lower`` (a fused softmax/sigmoid
cross-entropy, or MSE on the output as computed) and the optimizer through
``Optimizer.packed`` (every built-in; ``clipvalue``, ``weight_decay`` and schedules allowed),
trained on the CPU backend. Its steps
then run in ``kernels.train_step`` — the same kernels in the same order as the general engine,
so weights, optimizer state, dropout masks and History values are bit for bit those of the
general engine (``tests/test_fastpath.py``, ``tests/test_engine_equality.py``). Everything
else stays on the general engine: sample or class weights, regularizers, frozen layers,
clipnorm/global_clipnorm, MAE, Huber and unfused losses, other layers or backends,
data-parallel training. Any batch size.

How much runs per compiled call (the loop decides): with batch-level observers (metrics, a
callback's batch hooks) one step; otherwise a run of steps (``CHUNK_STEPS``, so Ctrl-C still
stops at a step boundary within a fraction of a second), and, when ``History`` is the only
callback and nothing is validated, several whole epochs — the tiny-net case where Python per
epoch dominated. ``FASTFF_FASTPATH=0`` in the environment (or ``ENABLED = False``) turns the
compiled engine off.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from fastff import config
from fastff._threading import get_num_threads
from fastff.backend.spec import EPILOGUE_C_IDS as _C_IDS
from fastff.backend.spec import EPILOGUE_CODES as _CODES
from fastff.backend.spec import NEEDS_INPUT as _NEEDS_INPUT
from fastff.backend.spec import codes as _spec_codes
from fastff.layers.base import SETTINGS_VERSION, TRAINABLE_VERSION, lowers
from fastff.training.data import batch_bounds, n_batches

__all__ = ["StackBuilder", "lowers", "LOSS_KINDS", "takes", "train_plan", "predict_plan",
           "CompiledEngine", "chunk_epochs", "chunk_end", "predict_into", "predict_batches",
           "ENABLED"]

ENABLED = os.environ.get("FASTFF_FASTPATH", "1") != "0"
#: the losses the compiled step computes (``Loss.lower`` names one), as the kernel's codes
LOSS_KINDS = {"sparse_categorical_crossentropy": 0, "categorical_crossentropy": 1,
              "binary_crossentropy": 2, "mean_squared_error": 3}
_LOSS_COMPUTE = ("forward", "forward_logits", "call", "prepare_targets")
#: steps per compiled call when the epoch is long (Ctrl-C latency, stop_training checks)
CHUNK_STEPS = 64
_F = (np.dtype(np.float32), np.dtype(np.float64))
_ACT_CODES = _spec_codes()


def _kernels() -> Any:
    from fastff.backend.kernels import train_step

    return train_step


class _Unit:
    """One lowered GEMM + bias + epilogue step: its weights, activation and the dropout in
    front of it (or None)."""

    __slots__ = ("kernel", "bias", "activation", "drop", "bn", "ln", "post", "pre")

    def __init__(self, kernel: Any, bias: Any, activation: Any, drop: Any, pre: Any) -> None:
        self.kernel, self.bias, self.activation, self.drop = kernel, bias, activation, drop
        self.bn: Any = None  # a BatchNormalization on the unit's output
        self.ln: Any = None  # or a LayerNormalization
        #: an activation layer's function after the unit (predict only) or its normalization
        self.post: Any = None
        self.pre = pre  # a Rescaling's (scale, offset) on the unit's input (predict only)


class StackBuilder:
    """What ``Layer.lower(builder)`` describes itself to: the compiled engine's vocabulary.

    A layer's ``lower`` calls one of ``dense``, ``batch_norm``, ``layer_norm``, ``rescale``,
    ``dropout``, ``activation`` or ``identity`` and returns what it returned (False: the model
    stays on the general engine). The builder checks what the compiled step can run: Dense
    units with a bias and an activation the C epilogue applies (softmax on the output unit
    only), one Batch- or LayerNormalization on a hidden unit's output and an elementwise
    activation layer after it, dropout in front of a Dense unit, trainable weights without
    regularizers. Inference alone (``predict``) also runs Dense units without a bias or with
    another elementwise activation, an elementwise activation layer right after a hidden
    unit, a ``Rescaling`` in front of a unit, frozen layers and regularized weights: a stack
    with any of those has ``train_ok`` False."""

    def __init__(self, allow_dropout: bool = True) -> None:
        self.allow_dropout = allow_dropout
        self.units: list[_Unit] = []
        self.layers: list = []  # every lowered layer (whose settings a predict cache watches)
        self.train_ok = True  # False: what was lowered is for inference only
        self.params: list = []  # the weights ``train_ok`` was judged on (``_plain``)
        self._pending: Any = None
        self._pre: Any = None  # a Rescaling waiting for the next unit
        self._last_is_unit = False
        self._after_norm = False  # the last layer was the last unit's normalization

    def dense(self, layer: Any, kernel: Any, bias: Any, activation: Any) -> bool:
        """``y = activation(x @ kernel + bias)`` as one unit (weights: ``Param``s)."""
        if kernel is None or kernel.sparse or (bias is not None and bias.sparse):
            return False
        fused = _epilogue(activation, softmax=True)
        if not fused and not (activation.builtin and activation.name in _ELEMENTWISE):
            return False
        if self.units and self.units[-1].activation.name == "softmax":
            return False  # softmax on the output unit only
        if self._pre is not None and any(np.shape(v) not in ((), (1,), kernel.shape[:1])
                                         for v in self._pre):
            return False  # a Rescaling whose values do not broadcast over the features
        self.params += [kernel] if bias is None else [kernel, bias]
        if bias is None or not (_plain(kernel) and _plain(bias) and layer.trainable):
            self.train_ok = False
        unit = _Unit(kernel, bias, activation, self._pending, self._pre)
        self.units.append(unit)
        self._pending = self._pre = None
        self.layers.append(layer)
        self._last_is_unit = True
        self._after_norm = False
        if not fused:  # as Dense computes it: the linear unit, then the activation's kernel
            unit.activation, unit.post = _linear(), activation
            self.train_ok = False
            self._last_is_unit = False  # a hidden unit only, nothing after it but a Dense
        return True

    def rescale(self, layer: Any, scale: Any, offset: Any) -> bool:
        """``x * scale + offset`` (scalars or one value per feature, as ``Rescaling``
        computes it) on the input of the next unit; inference only."""
        if self._pre is not None or self._pending is not None:
            return False
        self._pre = (scale, offset)
        self.layers.append(layer)
        self.train_ok = False
        self._last_is_unit = self._after_norm = False
        return True

    def dropout(self, layer: Any, rate: float, seed: Any) -> bool:
        """Inverted dropout of ``rate`` (full mask, hashed from ``seed`` and the step) in
        front of the next unit; rate 0 is the identity."""
        if not self.allow_dropout or self._pending is not None or self._pre is not None:
            return False
        self.layers.append(layer)
        if rate > 0.0:
            if seed is None:
                return False
            self._pending = layer
        self._last_is_unit = self._after_norm = False
        return True

    def activation(self, layer: Any, activation: Any) -> bool:
        """An activation applied to the previous unit's output: ``linear`` is the identity;
        ``softmax`` after a linear output unit folds into it (the general engine computes a
        softmax Dense as exactly that: the linear unit, then the softmax); another
        elementwise built-in after a hidden unit's normalization (Dense -> BatchNormalization
        -> ReLU, Keras's order) runs the activation kernels ``CpuOps`` runs, in training too;
        right after a hidden unit, at inference only."""
        if activation.builtin and activation.is_linear:
            return self.identity(layer)
        if not self.units or not activation.builtin:
            return False
        unit = self.units[-1]
        if self._last_is_unit and unit.activation.is_linear and activation.name == "softmax":
            unit.activation = activation
            self.layers.append(layer)
            return True
        # any other elementwise activation after a hidden unit or its normalization: the
        # activation kernel the layer runs
        if not (self._last_is_unit or self._after_norm) or unit.post is not None \
                or activation.name not in _ELEMENTWISE or unit.activation.name == "softmax":
            return False
        unit.post = activation
        self.layers.append(layer)
        if not self._after_norm:
            self.train_ok = False  # the step trains it after a normalization only
        self._last_is_unit = self._after_norm = False  # a hidden unit: a Dense must follow
        return True

    def batch_norm(self, layer: Any, gamma: Any, beta: Any, moving_mean: Any,
                   moving_variance: Any, epsilon: float, momentum: float) -> bool:
        """A BatchNormalization over the features of the previous unit's (hidden) output:
        batch statistics and the moving update in training, the moving statistics at
        inference (``gamma``/``beta`` may be None: ``scale``/``center`` off)."""
        if not self.units or not self._last_is_unit:
            return False
        unit = self.units[-1]
        if unit.bn is not None or unit.ln is not None or unit.activation.name == "softmax":
            return False
        if any(p is not None and p.sparse for p in (gamma, beta)):
            return False
        self.params += [p for p in (gamma, beta) if p is not None]
        if not layer.trainable or any(p is not None and not _plain(p) for p in (gamma, beta)):
            self.train_ok = False  # inference reads the moving statistics alone
        unit.bn = (gamma, beta, moving_mean, moving_variance, float(epsilon), float(momentum))
        self.layers.append(layer)
        self._last_is_unit = False  # the output unit gives the logits: no BN after it
        self._after_norm = True
        return True

    def layer_norm(self, layer: Any, gamma: Any, beta: Any, epsilon: float,
                   rms_scaling: bool) -> bool:
        """A LayerNormalization over the features of the previous (hidden) unit's output, each
        row by its own mean and variance (``rms_scaling``: ``x·inv·gamma``, Keras's formula), the
        same in training and inference (``gamma``/``beta`` may be None)."""
        if not self.units or not self._last_is_unit:
            return False
        unit = self.units[-1]
        if unit.bn is not None or unit.ln is not None or unit.activation.name == "softmax":
            return False
        if any(p is not None and (p.sparse or p.shape != (unit.kernel.shape[1],))
               for p in (gamma, beta)):
            return False
        if not layer.trainable or any(p is not None and not _plain(p) for p in (gamma, beta)):
            self.train_ok = False
        unit.ln = (gamma, beta, float(epsilon), bool(rms_scaling))
        self.layers.append(layer)
        self._last_is_unit = False  # the output unit gives the logits: no norm after it
        self._after_norm = True
        return True

    def identity(self, layer: Any) -> bool:
        """A layer that passes its 2-D input through unchanged."""
        self.layers.append(layer)
        return True

    def finish(self) -> bool:
        """Whether what was lowered is a whole compiled stack."""
        return bool(self.units) and self._pending is None and self._pre is None \
            and self._last_is_unit


def _plain(p: Any) -> bool:
    """A weight the compiled optimizer step updates like the general one."""
    return p.regularizer is None and not p.sparse and p.trainable


#: activations with an elementwise kernel (what an activation layer after a unit may be)
_ELEMENTWISE = frozenset(n for n in _ACT_CODES if n not in ("linear", "softmax", "log_softmax"))


#: ``train_step.HAS_BN``, ``HAS_LN``, ``HAS_POST``: ``steps_kernel``'s ``norm`` bits (named
#: here so that describing a stack does not load the Numba module)
_HAS_BN, _HAS_LN, _HAS_POST = 1, 2, 4


def _linear() -> Any:
    from fastff import activations

    return activations.linear


def _epilogue(act: Any, softmax: bool = False) -> bool:
    """Does the C epilogue apply ``act`` (derivative from the output)?"""
    name = act.name if act.builtin else None
    return (name in _C_IDS and act.fused) or (softmax and name == "softmax")


class _Stack:
    """Meta arrays describing a lowered stack's layout in the flat buffers."""

    def __init__(self, model: Any, b: StackBuilder, top: list) -> None:
        self.key = _key(model)
        self.layers = list(top)  # the model owns them anyway: no extra lifetime
        self.lowered = list(b.layers)
        self.settings = settings(self.lowered)
        self.settings_version = SETTINGS_VERSION[0]
        self.predict_entry: Any = None  # predict_stack's compiled overload (predict_into)
        self.dtype = model.dtype
        units = b.units
        self.n_in = units[0].kernel.shape[0]
        self.n_out = units[-1].kernel.shape[1]
        base = model.params.ctypes.data
        item = model.dtype.itemsize
        rows = []
        fparams = []
        dkeys = []
        aux: list = []
        for u in units:
            act, drop = u.activation, u.drop
            ni, no = u.kernel.shape
            w_off = (u.kernel.value.ctypes.data - base) // item
            b_off = -1 if u.bias is None else (u.bias.value.ctypes.data - base) // item
            thresh, scale, dkey = -1, 1.0, 0
            if drop is not None:
                from fastff.backend.numpy_ops import _splitmix64_int, dropout_threshold

                thresh = dropout_threshold(drop.rate)
                scale = 1.0 / (1.0 - drop.rate)
                dkey = _splitmix64_int(int(drop._mask_seed) & ((1 << 64) - 1))
            bn = [-1, -1, -1, -1, 0]
            eps = mom = 0.0
            if u.bn is not None:
                gamma, beta, mm, mv, eps, mom = u.bn
                bn = [-1 if p is None else (p.value.ctypes.data - base) // item
                      for p in (gamma, beta, mm, mv)] + [0]
            ln = [-1, -1, -1, 0]
            if u.ln is not None:
                lg, lb, eps, rms = u.ln
                ln = [int(rms)] + [-1 if p is None else (p.value.ctypes.data - base) // item
                                   for p in (lg, lb)] + [0]
            post, post_x, post_p = -1, 0, 0.0
            if u.post is not None:
                post, post_p = _ACT_CODES[u.post.name], float(u.post.param)
                post_x = int(u.post.name in _NEEDS_INPUT)  # its derivative reads the input
            pre = -1
            if u.pre is not None:
                pre = len(aux)
                aux.append(u.pre)
            rows.append([ni, no, w_off, b_off, _C_IDS.get(act.name, 0), _CODES.get(act.name, 0),
                         thresh, 0, *bn, post, 0, pre, 0, *ln, post_x])
            fparams.append([act.param, scale, eps, mom, 1.0 - mom, post_p])
            dkeys.append(dkey)
        self.meta = np.array(rows, np.int64)
        # the Rescalings' per-feature scale and offset, in the model dtype as the layer
        # computes them (None: no unit has one); meta's PRE column indexes it
        self.aux = _rescalings(aux, self.meta, self.dtype) if aux else None
        self.output_meta = self.meta.copy()  # every activation applied (MSE training)
        self.fparams = np.array(fparams, np.float64)
        self.dkeys = np.array(dkeys, np.uint64)
        self.drops = [u.drop for u in units if u.drop is not None]
        #: what the units use, as ``steps_kernel``'s ``norm`` bits
        self.norm = ((_HAS_BN if any(u.bn is not None for u in units) else 0)
                     | (_HAS_LN if any(u.ln is not None for u in units) else 0)
                     | (_HAS_POST if any(u.post is not None for u in units) else 0))
        # the stack kernels' ``bn`` / ``ln`` / ``post`` arguments (None: that code is pruned)
        self.bn_arg = 1 if self.norm & _HAS_BN else None
        self.ln_arg = 1 if self.norm & _HAS_LN else None
        self.post_arg = 1 if self.norm & _HAS_POST else None
        last = units[-1].activation.name
        self.last_activation = last
        self.output_activation = last if last in ("softmax", "sigmoid") else None
        self.softmax_last = last == "softmax"
        if self.softmax_last or last == "sigmoid":
            self.meta[-1, 4] = 0  # logits; the loss (train) or softmax_rows (predict) follow
            self.meta[-1, 5] = 0
            if last == "sigmoid":
                self.meta[-1, 4] = _C_IDS["sigmoid"]
        self.logits_meta = self.meta.copy()
        self.logits_meta[-1, 4] = 0
        self.logits_meta[-1, 5] = 0
        self._ws: dict[int, tuple] = {}

    def workspace(self, batch: int, fused: bool) -> tuple:
        """(meta with workspace offsets, flat workspace) for training on ``batch`` rows, the
        last layer giving logits (``fused`` loss) or its activated output."""
        key = (batch, fused)
        got = self._ws.get(key)
        if got is None:
            if len(self._ws) >= 8:
                self._ws.clear()
            meta, size = _kernels().ws_layout(
                (self.logits_meta if fused else self.output_meta).copy(), batch)
            got = self._ws[key] = (meta, np.empty(max(size, 1), self.dtype))
        return got


def _rescalings(pairs: list, meta: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The (scale, offset) pairs as rows ``[scale * n_in, offset * n_in]`` of one flat
    array; writes each unit's offset into it in ``meta[:, PRE]``."""
    k = _kernels()
    parts = []
    off = 0
    for row in meta:
        i = int(row[k.PRE])
        if i < 0:
            continue
        n = int(row[k.N_IN])
        for v in pairs[i]:
            parts.append(np.broadcast_to(np.asarray(v, dtype=dtype), (n,)))
        row[k.PRE] = off
        off += 2 * n
    return np.ascontiguousarray(np.concatenate(parts))


def settings(layers: list) -> tuple:
    """What of the layers' settings the stack description bakes in: each layer's activation,
    dropout rate and mask seed, a normalization's epsilon (and momentum, rms_scaling), a
    Rescaling's scale and offset (instance attributes; ``layers.base._WATCHED`` names them)."""
    return tuple((id(d.get("activation")), d.get("rate"), d.get("_mask_seed"),
                  d.get("epsilon"), d.get("momentum"), d.get("rms_scaling"),
                  _frozen(d.get("scale")),
                  _frozen(d.get("offset")))
                 for la in layers for d in (la.__dict__,))


def _frozen(v: Any) -> Any:
    """A settings value compared by value (a list as a tuple, an array as its dtype, shape
    and bytes; others as they are)."""
    if isinstance(v, np.ndarray):
        return v.dtype.str, v.shape, v.tobytes()
    return tuple(_frozen(e) for e in v) if isinstance(v, (list, tuple)) else v


def same_signature(st: _Stack, layers: list) -> bool:
    """Whether ``st`` still describes ``layers``: the same layer objects and settings. Checked
    on every compiled ``predict``; the settings are re-read only when some layer setting was
    assigned since the last check (``SETTINGS_VERSION``: one integer comparison instead of a
    walk over the layers, which cost ~0.8 us of a ~9 us single-row predict)."""
    if st.layers != layers:  # identity of each element, compared in C
        return False
    if st.settings_version != SETTINGS_VERSION[0]:
        if st.settings != settings(st.lowered):
            return False
        st.settings_version = SETTINGS_VERSION[0]
    return True


def _key(model: Any) -> tuple:
    """What a cached stack description depends on (layout, buffers, backend)."""
    return (model._layout, model._layout_version, id(model.params), model.dtype,
            id(model._ops))


def takes(model: Any, X: Any) -> bool:
    """Whether the compiled kernels can read ``X``: a 2-D array of the model's dtype."""
    return isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == model.dtype


def _stack(model: Any, allow_dropout: bool) -> _Stack | None:
    """The compiled-stack description of ``model`` when every layer lowers, else None."""
    if not ENABLED or not model.built or model.dtype not in _F or model.params is None:
        return None
    ops = model.ops
    from fastff.backend.cpu_ops import CpuOps

    if type(ops) is not CpuOps:
        return None
    net = model.network
    top = net.layers
    cached = getattr(model, "_fast_stack", None)
    if cached is not None and current(model, cached, top):
        st = cached  # what lowering would describe again (see ``current``)
    else:
        b = StackBuilder(allow_dropout)
        if not net.lower(b) or not b.finish():
            return None
        st = cached if cached is not None and cached.key == _key(model) else None
        if st is None or not same_signature(st, top):
            st = _Stack(model, b, top)
            model._fast_stack = st
        st.train_base = b.train_ok
        st.watched, st.plain = b.params, _plain_state(b.params)
    st.train_ok = st.train_base and model.trainable
    return st


def current(model: Any, st: _Stack, top: list) -> bool:
    """Whether ``st`` is still what lowering ``model`` gives, by the checks compiled
    ``predict`` trusts its cached stack on (the layout, the layer objects and their
    settings), plus what ``train_ok`` reads off the lowered weights (regularizer,
    sparseness, trainability)."""
    return (model._layout_version == TRAINABLE_VERSION[0] and st.key == _key(model)
            and same_signature(st, top) and st.plain == _plain_state(st.watched))


def _plain_state(params: list) -> tuple:
    """What ``_plain`` reads off each weight (``train_ok`` depends on it)."""
    return tuple((p.regularizer, p.sparse, p.trainable) for p in params)


# ------------------------------------------------------------------------------ training
class _Train:
    """What one fit needs beyond the stack: loss kind, optimizer code and buffers."""

    def __init__(self, st: _Stack, loss_kind: int, opt_code: int, bufs: tuple,
                 ocon: np.ndarray) -> None:
        self.st, self.loss_kind, self.opt_code, self.bufs, self.ocon = (
            st, loss_kind, opt_code, bufs, ocon)


def train_plan(model: Any, batch_size: int) -> _Train | None:
    """A compiled-training plan for ``model`` or None (then the general path runs)."""
    st = _stack(model, allow_dropout=True)
    if st is None or not st.train_ok:
        return None
    loss = model.loss
    if getattr(loss, "reduction", None) == "sum":  # weights of n per row: the general engine
        return None
    lowered = loss.lower() if loss is not None and lowers(loss, _LOSS_COMPUTE) else None
    if lowered is None or lowered[0] not in LOSS_KINDS:
        return None
    kind, output = LOSS_KINDS[lowered[0]], lowered[1]
    if output is None:  # the output unit keeps its activation, then CpuOps.mse's kernel
        if st.last_activation not in _C_IDS:
            return None
    elif output != st.last_activation or not model._fused_flag:
        return None
    opt = model.optimizer
    if opt is None or not opt.elementwise or model._sparse:
        return None
    if opt.n_params != model.n_trainable or opt.dtype != model.dtype:
        return None
    packed = opt.packed()  # the optimizer's own compiled form, or None
    if packed is None:
        return None
    code, bufs, consts = packed
    empty = np.empty(0, model.dtype)
    return _Train(st, kind, code, tuple(empty if b is None else b for b in bufs), consts)


def _step_scalars(opt: Any, it0: int, k: int) -> np.ndarray:
    """Per-step (rate, lr*weight_decay) from the optimizer (``Optimizer.step_scalars``)."""
    if k <= 0:
        return np.zeros((1, 2), np.float64)
    return opt.step_scalars_range(it0, k)


class CompiledEngine:
    """The compiled step engine for one ``fit`` call: its buffers, and whole steps or epochs
    as one compiled call (``__call__``). As a batch source (``epoch``/``train_batch``) it
    runs one compiled step per batch for a loop that watches each batch (metrics, batch
    hooks); it shuffles and cuts batches inside the compiled call, by ``data.batch_bounds``'s
    rule."""

    name = "compiled"
    kind = "compiled"
    prepared = True
    can_run_out = False

    def __init__(self, model: Any, plan: _Train, X: np.ndarray, Y: np.ndarray, batch: int,
                 shuffle: bool, want_pred: Any = False, steps: int | None = None) -> None:
        st = plan.st
        self.want_pred = want_pred
        self.model, self.plan, self.X, self.Y, self.batch = model, plan, X, Y, batch
        self.shuffle = shuffle
        dt = model.dtype
        self.meta, self.ws = st.workspace(batch, plan.loss_kind != 3)
        n_out = st.n_out
        self.perm = np.empty(X.shape[0], np.int64)
        rows = batch if shuffle else 0
        self.xb = np.empty((rows, X.shape[1]), dt)
        self.lb = np.empty(batch, np.int64)
        self.tb = np.empty((rows, n_out), dt)
        self.per_row = np.empty(batch, dt)
        self.dz = np.empty((batch, n_out), dt)
        sparse = plan.loss_kind == 0
        self.labels = Y if sparse else np.empty(0, np.int64)
        self.targets = Y if not sparse else np.empty((0, n_out), dt)
        self.n = X.shape[0]
        self.steps = n_batches(self.n, batch) if steps is None else steps
        self._dummy = np.zeros(1)
        self._steps = _kernels().steps_kernel(plan.opt_code, plan.loss_kind, st.norm,
                                              bool(st.drops))
        # the optimizer update split over the C core's threads (same bits; see opt_piece)
        self.opt_fn = 0
        if model.n_trainable >= _kernels().OPT_PAR_MIN and get_num_threads() > 1:
            self.opt_fn = _kernels().opt_piece(plan.opt_code, dt)
        self.opt_ptrs = np.zeros(6, np.uintp)
        self.opt_sizes = np.zeros(6, np.int64)
        self.opt_scal = np.zeros(3, np.float64)

    def __call__(self, e0: int, e1: int, s_lo: int, s_hi: int, totals: np.ndarray) -> int:
        model, plan = self.model, self.plan
        opt = model.optimizer
        it0 = int(opt.iterations)  # a plain int: Numba types it in C, not by typeof_pyval
        k = (e1 - e0) * (s_hi - s_lo)
        oscal = _step_scalars(opt, it0, k)
        b0, b1, b2 = plan.bufs
        st = plan.st
        q = self._steps(
            self.X, self.labels, self.targets, self.perm, self.xb, self.lb, self.tb,
            model.params, model.grads, model.n_trainable, self.meta,
            st.fparams, st.dkeys, self.ws, b0, b1, b2, plan.ocon, oscal, it0,
            model._shuffle_seed, self.shuffle, e0, e1, s_lo, s_hi, self.batch, totals,
            self.per_row, self.dz, self.opt_fn, self.opt_ptrs, self.opt_sizes, self.opt_scal)
        if q > 0:
            opt.iterations = it0 + q
            for d in st.drops:
                d.step = it0 + q - 1
        if q != k:
            _raise(q, st)
        return q


    def epoch(self, e: int) -> Any:
        """The batches of epoch ``e`` as ``(step, (e, step))`` (run by ``train_batch``)."""
        return ((step, (e, step)) for step in range(self.steps))

    def end_pass(self) -> None:
        pass

    def rows(self, batch: tuple) -> int:
        """How many rows the batch ``(epoch, step)`` has."""
        s, e = batch_bounds(batch[1], self.batch, self.n)
        return e - s

    def train_batch(self, batch: tuple) -> tuple:
        """One compiled step: ``(per_row, 0.0, pred or None, yb, None)`` like the general
        engine's (``pred`` the logits when the metrics only need those, or when the output
        layer kept its activation for MSE)."""
        epoch, step = batch
        self(epoch, epoch + 1, step, step + 1, self._dummy)
        s, e = batch_bounds(step, self.batch, self.n)
        b = e - s
        yb = self.Y[self.perm[s:e]] if self.shuffle else self.Y[s:e]
        pred = None
        want = self.want_pred
        if want:
            st = self.plan.st
            o = int(self.meta[-1, 7])
            logits = self.ws[o:o + b * st.n_out].reshape(b, st.n_out)
            if want == "logits" or self.plan.loss_kind == 3:
                pred = logits  # (MSE: the activated output)
            else:
                model = self.model
                ws = model._workspaces(b)
                pred = model.ops.activation(self.plan.st.output_activation, logits,
                                            out=ws[-1].get("pred", logits.shape, logits.dtype))
        return self.per_row[:b], 0.0, pred, yb, None


def _raise(code: int, st: _Stack) -> None:
    if code <= -1000:
        raise ValueError(f"label(s) outside [0, {st.n_out}) in sparse cross-entropy")
    from fastff.linalg import GemmError

    raise GemmError(-code)


def chunk_epochs(steps: int, epochs_left: int) -> int:
    """Whole epochs per compiled call when nothing watches single epochs' insides: enough to
    make about ``CHUNK_STEPS`` steps (at least one epoch)."""
    return min(epochs_left, max(1, CHUNK_STEPS // steps))


def chunk_end(s: int, steps: int, stop: bool) -> int:
    """The end of the run of steps starting at ``s`` one compiled call makes (one step once
    ``stop_training`` is set, as the general loop stops after the step that set it)."""
    return s + 1 if stop else min(steps, s + CHUNK_STEPS)


# ------------------------------------------------------------------------------ predict
def predict_plan(model: Any) -> _Stack | None:
    """The Dense-stack description for compiled inference, or None."""
    return _stack(model, allow_dropout=True)


def predict_into(model: Any, st: _Stack, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = model(x)`` with per-thread workspaces (``x`` C-contiguous, model dtype)."""
    local = model._local
    try:
        cache = local.fast
    except AttributeError:
        cache = local.fast = {}
    b = x.shape[0]
    got = cache.get((id(st), b))
    if got is None:
        if len(cache) >= 4:
            cache.clear()
        meta, size = _kernels().ws_layout(st.meta.copy(), b)
        # every argument but x and out, made once per thread, stack and batch size (the
        # cached ``st`` also keeps its id from being reused while the entry lives)
        head = (model.params, meta, st.fparams, np.empty(max(size, 1), st.dtype),
                st.softmax_last, st.bn_arg, st.post_arg, st.aux, st.ln_arg)
        got = cache[(id(st), b)] = (head, st)
    flags = x.flags
    entry = st.predict_entry
    if entry is not None and flags.writeable and flags.aligned:
        rc = entry(*got[0], x, out)  # the argument types the entry was taken for
    else:
        args = (*got[0], x, out)
        rc = _predict_kernel(*args)
        if flags.writeable and flags.aligned:
            st.predict_entry = _entry_point(_predict_kernel, args)
    if rc:
        _predict_error(rc, x)
    return out


def _entry_point(dispatcher: Any, args: tuple) -> Any:
    """The compiled overload for exactly the Numba types of ``args``, callable without the
    dispatcher's per-call type resolution (~0.3 us of a ~8 us single-row predict). Valid for
    later calls whose arguments have the same types: ``predict_into`` guarantees it for a
    given stack (the same parameter, workspace and output arrays' kinds; ``x`` 2-D,
    C-contiguous, of the model dtype, writeable and aligned). None when Numba does not
    expose it."""
    try:
        from numba import typeof

        cres = dispatcher.overloads.get(tuple(typeof(a) for a in args))
        return None if cres is None else cres.entry_point
    except Exception:  # noqa: BLE001 - an internal of Numba's; the dispatcher still works
        return None


def predict_batches(model: Any, st: _Stack, X: np.ndarray, batch_size: int | None) -> np.ndarray:
    """``predict`` on the compiled path, batch by batch like the general loop (the same
    batches give the same GEMM calls, hence the same bits)."""
    n = X.shape[0]
    out = np.empty((n, st.n_out), st.dtype)
    if n <= (config.PREDICT_BATCH_SIZE if batch_size is None else batch_size):
        return predict_into(model, st, X, out)
    bs = config.PREDICT_BATCH_SIZE if batch_size is None else batch_size
    for s in range(0, n, bs):
        predict_into(model, st, X[s:s + bs], out[s:s + bs])
    return out


def _predict_kernel(*args: Any) -> int:
    """First call: bind the compiled kernel in place of this stub (Numba imports lazily)."""
    global _predict_kernel
    _predict_kernel = _kernels().predict_stack
    return _predict_kernel(*args)


def _predict_error(rc: int, x: np.ndarray) -> None:
    if rc == -1:
        from fastff import _validation as V

        V._check_finite(x, "x")
    from fastff.linalg import GemmError

    raise GemmError(rc)
