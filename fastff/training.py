"""The fit / evaluate / predict loops of ``Sequential`` (the general path).

Per batch there is a little Python per layer: each layer's ``forward`` into model-owned
workspaces (one set per batch size, so nothing is allocated per step), the loss (fused with a
softmax/sigmoid output), each layer's ``backprop`` in reverse (``need_dx=False`` for the first
layer with trainable weights; layers before it are skipped), regularizer terms, then one
optimizer call over the flat buffers.

Semantics follow Keras: ``validation_split`` takes the *last* fraction of the samples before any
shuffling; shuffling permutes the training samples every epoch with a generator derived from
the model's shuffle seed and the epoch number (so a run resumed at ``initial_epoch`` sees the
same order as an uninterrupted one); the reported loss and metrics are means over the epoch's
samples (sample-weighted) and include regularization penalties.
"""

from __future__ import annotations

import math
import signal
import threading
from typing import Any

import numpy as np

from fastff import _call_context, _metric_copies, config
from fastff import _validation as V
from fastff import distribution as distribution_lib
from fastff.callbacks.callback_list import CallbackList
from fastff.distribution.collective import collective
from fastff.fastpath import _key as _fast_key
from fastff.fastpath import predict_batches as _predict_batches
from fastff.fastpath import same_signature as _same_signature
from fastff.layers.base import TRAINABLE_VERSION, is_device_array
from fastff.layers.masking import forward_chain
from fastff.metrics.compiled import log_value

__all__ = ["fit", "evaluate", "predict", "forward_backward", "train_on_batch"]


def _verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or verbose < 0:
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _bind_ops(model: Any) -> Any:
    """Make sure every layer and the optimizer use the model's ops; return them."""
    ops = model.ops
    for layer in model._layers:
        if layer._ops is not ops:
            layer.ops = ops
    opt = model.optimizer
    if opt is not None and getattr(opt, "_ops", ops) is not ops:
        opt.ops = ops
    place = getattr(model, "_place", None)
    if place is not None:  # weights, optimizer state, workspaces where ops computes
        place(ops)
    return ops


# ---------------------------------------------------------------------------- preparing data
def _prepare_x(model: Any, x: Any, name: str = "x") -> np.ndarray:
    if not model._layers:
        raise ValueError("the model has no layers; add some with model.add(...)")
    prepare = getattr(model, "_prepare_inputs", None)
    if prepare is not None:  # functional Model: several inputs, cut and shuffled together
        return prepare(x, name)
    # a first layer may take other inputs than (samples, features) floats (e.g. integer ids)
    first = model._layers[0]
    dtype = getattr(first, "input_dtype", None) or model.dtype
    if np.dtype(dtype).kind == "O":  # strings for a first StringLookup-style layer
        X = V.as_tokens(x, name)
    else:
        X = V.as_features(x, dtype, name, getattr(first, "min_input_ndim", 2))
    model._maybe_build(X.shape[1:])
    V.check_feature_shape(X, model._input_shape, name)
    return X


def _prepare_xy(model: Any, x: Any, y: Any, sample_weight: Any = None, class_weight: Any = None,
                prefix: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    multi = getattr(model, "_multi", None)
    if multi is not None:  # several outputs: y and sample_weight per output
        return multi.prepare_xy(model, x, y, sample_weight, class_weight, prefix)
    if y is None:
        raise ValueError(f"{prefix}y: targets are required")
    X = _prepare_x(model, x, prefix + "x")
    V.check_lengths(X.shape[0], y, prefix + "y", prefix + "x")
    n_out = model.output_shape[-1]
    Y = V.prepare_targets(y, model.loss, n_out, model.dtype, prefix + "y")
    SW = V.prepare_sample_weight(sample_weight, X.shape[0], model.dtype, prefix + "sample_weight")
    if class_weight is not None:
        cw = _class_weights(class_weight, Y, model.loss, n_out, model.dtype)
        SW = cw if SW is None else SW * cw
    return X, Y, SW


def _class_weights(class_weight: Any, Y: np.ndarray, loss: Any, n_out: int,
                   dtype: np.dtype) -> np.ndarray:
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight: expected a dict {{class id: weight}}, got "
                        f"{type(class_weight).__name__}")
    if Y.ndim == 1:
        ids = Y.astype(np.int64)
    elif Y.shape[1] == 1:
        ids = (Y[:, 0] > 0.5).astype(np.int64)
    else:
        ids = np.argmax(Y, axis=1)
    n_classes = max(n_out, 2)
    table = np.ones(n_classes, dtype=dtype)
    for k, w in class_weight.items():
        if not isinstance(k, (int, np.integer)) or not 0 <= k < n_classes:
            raise ValueError(f"class_weight: keys must be class ids in [0, {n_classes}), got {k!r}")
        table[int(k)] = w
    return table[ids]


def _split_validation(X, Y, SW, validation_split: float):
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split: expected a float in [0, 1), got {validation_split}")
    n = X.shape[0]
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"validation_split={validation_split} leaves "
                         f"{'no training' if split_at == 0 else 'no validation'} samples "
                         f"out of {n}")
    val = (X[split_at:], Y[split_at:], None if SW is None else SW[split_at:])
    return X[:split_at], Y[:split_at], None if SW is None else SW[:split_at], val


def _unpack_validation(model: Any, validation_data: Any):
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data: expected a tuple (x_val, y_val) or "
                         "(x_val, y_val, sample_weight_val)")
    xv, yv = validation_data[0], validation_data[1]
    swv = validation_data[2] if len(validation_data) == 3 else None
    return _prepare_xy(model, xv, yv, swv, prefix="validation_data: ")


# ---------------------------------------------------------------------------- one step
def forward_backward(model: Any, xb: np.ndarray, yb: np.ndarray, swb: np.ndarray | None,
                     ws: list | None = None, need_dx: bool = False, want_pred: bool = False,
                     fused: bool | None = None):
    """Forward and backward over one batch: fills ``model.grads`` (with regularizer terms).

    Returns ``(per_row_loss, penalty, y_pred or None, dx or None)`` where ``y_pred`` is the
    model output (probabilities when the loss fused the output activation); with several
    outputs (``fastff.multi_output``) the first three are lists.
    """
    multi = getattr(model, "_multi", None)
    if multi is not None:
        return multi.forward_backward(model, xb, yb, swb, ws, need_dx, want_pred)
    layers = model._layers
    ops = model.ops
    if fused is None:
        fused = model._fused()
    last = len(layers) - 1
    bps = [None] * len(layers)
    h = xb
    with _call_context.collecting() as added:  # a subclassed model collects its own inside
        if model._mask_flow:  # masks from Embedding(mask_zero)/Masking threaded to consumers
            h, bps = forward_chain(layers, xb, True, ws, fused)
        for i, layer in enumerate(layers if not model._mask_flow else ()):
            w = None if ws is None else ws[i]
            if i == last and fused:
                h, bps[i] = layer.forward_logits(h, True, w)
            else:
                h, bps[i] = layer.forward(h, True, w)
    if added:
        raise NotImplementedError(
            f"a layer called add_loss() while {type(model).__name__} {model.name!r} trained: "
            "add_loss is trained inside a subclassed fastff.Model's call; here use a "
            "kernel_regularizer, or wrap the layers in a subclassed Model")
    dbuf = None if ws is None else ws[-1].get("dy", h.shape, h.dtype)
    if fused:
        per_row, dy = model.loss.forward_logits(ops, h, yb, swb, dbuf)
    else:
        per_row, dy = model.loss.forward(ops, h, yb, swb, dbuf)
    pred = None
    if want_pred == "logits":  # the metrics only need the argmax: skip the activation
        pred = h
    elif want_pred:
        if fused:
            pbuf = None if ws is None else ws[-1].get("pred", h.shape, h.dtype)
            pred = ops.activation(layers[-1].output_activation, h, out=pbuf)
        else:
            pred = h
    first = 0 if need_dx else model._first_grad
    dx = None
    if first is not None:
        for i in range(last, first - 1, -1):
            dy = bps[i](dy, i > first or need_dx)
        dx = dy if need_dx else None
    penalty = 0.0
    for p in model._regularized:
        penalty += p.regularizer(p.value)
        p.regularizer.add_gradient(p.value, p.grad)
    added = getattr(model, "_call_penalty", None)
    if added is not None:  # a subclassed model's add_loss values (their gradient is in)
        penalty += added()
    return per_row, penalty, pred, dx


def _train_step(model, xb, yb, swb, want_pred, dist=None, share=1.0, yd=None, shard=False):
    """One step; with a distribution, ``shard`` lets each rank update one slice of the
    weights (``fit`` gathers the optimizer state back at every epoch's end)."""
    ws = model._workspaces(xb.shape[0])
    opt = model.optimizer
    for layer in model._step_layers:
        layer.step = opt.iterations
    if not isinstance(model.params, np.ndarray):  # weights on a device (fastff.backend.cuda)
        per_row, penalty, pred = _device_forward_backward(model, xb, yb, swb, ws, want_pred, yd)
    elif dist is None or xb.shape[0]:
        per_row, penalty, pred, _ = forward_backward(model, xb, yb, swb, ws, False, want_pred,
                                                     model._fused_flag)
    else:  # data parallel: no rows for this rank in a short final batch
        per_row, penalty, pred = None, 0.0, None
    if dist is not None:  # data parallel: sum the share-weighted grads over the ranks
        if shard and dist.can_shard(model):
            dist.sharded_update(model, share)  # the optimizer step included
            return per_row, penalty, pred
        dist.sync_gradients(model, share)
    if model._n_trainable:
        sparse = model._sparse if getattr(model.ops, "device", "cpu") == "cpu" else None
        if sparse:  # row updates of embedding tables, then the dense pass before them
            for p, off in sparse:
                opt.apply_rows(model.params, model.grads, off, p.shape, p.rows)
            opt.apply(model.params, model.grads, model._n_dense)
        else:
            opt.apply(model.params, model.grads)
    return per_row, penalty, pred


# ---------------------------------------------------------------------------- device steps
def _check_device_model(model: Any) -> None:
    if getattr(model, "_multi", None) is not None:
        raise NotImplementedError("models with several outputs train on the CPU only; "
                                  "use device='cpu'")
    if model._regularized:
        raise NotImplementedError("weight regularizers are not supported on a GPU yet; "
                                  "train this model with device='cpu'")
    if distribution_lib.get_distribution() is not None:
        raise NotImplementedError("data-parallel training runs on the CPU only")
    if model._mask_flow:
        raise NotImplementedError("masks (Embedding(mask_zero=True), Masking) are not threaded "
                                  "on a GPU yet; use device='cpu'")


def _upload(ops: Any, a: Any) -> Any:
    """The one host-to-device copy of a batch (device arrays pass through); a functional
    Model's several inputs go up as a list."""
    if a is None or is_device_array(a):
        return a
    if hasattr(a, "arrays"):
        return [_upload(ops, x) for x in a.arrays]
    return ops.to_device(np.ascontiguousarray(a))


def _device_loss(model, ops, h, yb, yd, swb, ws, fused):
    """Per-row loss (device or host) and the device gradient w.r.t. ``h``."""
    dbuf = ws[-1].get("dy", h.shape, h.dtype)
    if fused:  # fused softmax/sigmoid cross-entropy: a device kernel
        return model.loss.forward_logits(ops, h, _upload(ops, yb) if yd is None else yd,
                                         swb, dbuf)
    # a loss without a device kernel: the (batch-sized) output comes down, its gradient goes up
    from fastff.backend import get_ops

    per_row, g = model.loss.forward(get_ops("numpy"), ops.to_numpy(h), yb, swb, None)
    dbuf.copy_to_device(np.ascontiguousarray(g, dtype=h.dtype))
    return per_row, dbuf


def _device_forward_backward(model, xb, yb, swb, ws, want_pred, yd=None):
    """``forward_backward`` on device buffers: ``xb`` is uploaded unless already on the device;
    returns host ``(per_row, penalty, pred)`` (one small download each per batch)."""
    ops = model.ops
    _check_device_model(model)
    layers = model._layers
    fused = model._fused_flag
    last = len(layers) - 1
    bps = [None] * len(layers)
    h = _upload(ops, xb)
    for i, layer in enumerate(layers):
        if i == last and fused:
            h, bps[i] = layer.forward_logits(h, True, ws[i])
        else:
            h, bps[i] = layer.forward(h, True, ws[i])
    per_row, dy = _device_loss(model, ops, h, yb, yd, swb, ws, fused)
    pred = None
    if want_pred == "logits":
        pred = h
    elif want_pred:
        pred = ops.activation(layers[-1].output_activation, h,
                              out=ws[-1].get("pred", h.shape, h.dtype)) if fused else h
    first = model._first_grad
    if first is not None:
        for i in range(last, first - 1, -1):
            dy = bps[i](dy, i > first)
    return ops.to_numpy(per_row), 0.0, None if pred is None else ops.to_numpy(pred)


def _device_resident(model: Any, X: Any, Y: Any) -> bool:
    """Does the whole training set fit on the device beside what is there (with a margin)?"""
    free_memory = getattr(model.ops, "free_memory", None)
    free = free_memory() if free_memory is not None else None
    if free is None or not isinstance(X, np.ndarray):
        return False
    need = X.nbytes + Y.nbytes
    return need + max(256 << 20, free // 10) <= free


def _tracker(model: Any, metrics: list) -> Any:
    """The epoch's running logs (per output for a multi-output model)."""
    multi = getattr(model, "_multi", None)
    return _Tracker(metrics, model.ops) if multi is None else multi.tracker(metrics)


class _Tracker:
    """Running loss and metrics over an epoch (sample-weighted means; the metrics as
    ``fastff.metrics.compiled``: only weighted metrics take the sample weights); the
    unweighted loss sum is ``ops.sum_f64``, the one the compiled path adds into History too."""

    def __init__(self, metrics: list, ops: Any) -> None:
        self.metrics = metrics
        self._sum = ops.sum_f64
        self.names = getattr(metrics, "names", None) or [m.name for m in metrics]
        self.weighted = getattr(metrics, "weighted", None) or [True] * len(metrics)
        self.loss_total = 0.0
        self.weight = 0.0

    def update(self, per_row, penalty, yb, pred, swb) -> None:
        if swb is None:
            w = per_row.shape[0]
            self.loss_total += self._sum(per_row) + penalty * w
        else:
            w = per_row.shape[0]  # Keras: the batch's weighted loss sum over its rows
            self.loss_total += float(np.dot(per_row.astype(np.float64), swb)) + penalty * w
        self.weight += w
        for m, weighted in zip(self.metrics, self.weighted):
            m.update_state(yb, pred, swb if weighted else None)

    def logs(self, prefix: str = "") -> dict:
        out = {prefix + "loss": self.loss_total / self.weight if self.weight else 0.0}
        for m, name in zip(self.metrics, self.names):
            out[prefix + name] = log_value(m.result())
        return out


# ---------------------------------------------------------------------------- Ctrl-C
class _StepBoundaryInterrupt:
    """Defer SIGINT to the end of the current step (main thread only), then raise it.

    A Ctrl-C that arrives after the last step's check (during the last epoch's validation or
    callbacks, or ``on_train_end``) is raised on leaving the block, once the previous handler
    is back: it is never swallowed."""

    def __init__(self) -> None:
        self.pending = False
        self._old: Any = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._handler)
            except ValueError:
                self._old = None
        return self

    def _handler(self, signum, frame) -> None:
        if self.pending:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.pending = True

    def check(self) -> None:
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
        if self.pending and exc_type is None:
            self.pending = False
            raise KeyboardInterrupt


# ---------------------------------------------------------------------------- fit
@collective("fit")
def fit(model: Any, x: Any, y: Any, batch_size: int | None = None, epochs: int = 1,
        verbose: Any = "auto", callbacks: Any = None, validation_split: float = 0.0,
        validation_data: Any = None, shuffle: bool = True, class_weight: Any = None,
        sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: Any = None,
        validation_batch_size: int | None = None, validation_freq: Any = 1) -> Any:
    """Train ``model``; returns its ``History`` (Keras semantics, see the module docstring)."""
    V.check_compiled(model, "fit")
    batch_size = V.check_positive_int(32 if batch_size is None else batch_size, "batch_size")
    epochs = V.check_positive_int(epochs, "epochs")
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
            or initial_epoch < 0:
        raise ValueError(f"initial_epoch: expected an integer >= 0, got {initial_epoch!r}")
    verbose = _verbose(verbose)
    val_bs = V.check_positive_int(validation_batch_size or batch_size, "validation_batch_size")
    X, Y, SW = _prepare_xy(model, x, y, sample_weight, class_weight)
    val = None
    if validation_data is not None:
        val = _unpack_validation(model, validation_data)
    elif validation_split:
        X, Y, SW, val = _split_validation(X, Y, SW, float(validation_split))
    n = X.shape[0]
    steps = -(-n // batch_size)
    if steps_per_epoch is not None:
        steps = min(steps, V.check_positive_int(steps_per_epoch, "steps_per_epoch"))

    _bind_ops(model)
    model._build_optimizer()
    model._fused_flag = model._fused()
    if model._shuffle_seed is None:
        model._shuffle_seed = config.draw_seed()
    # data parallel (fastff.distribution): None in one process. A compiled fast path must
    # leave the steps to the general path below when it is set.
    dist = distribution_lib.get_distribution()
    if dist is not None:
        # every rank must agree on these (an immediate ValueError on every rank, not a
        # watchdog timeout); then weights, optimizer and training state from rank 0
        dist.setup_fit(model, rows=n, batch_size=batch_size, steps=steps, epochs=epochs,
                       initial_epoch=int(initial_epoch), shuffle=bool(shuffle),
                       feature_shape=_feature_shape(X), sample_weight=SW is not None,
                       validation_rows=None if val is None else len(val[0]))
    metrics = model._new_metrics()
    cbl = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
        callbacks, model=model, add_history=True,
        add_progbar=verbose != 0 and distribution_lib.is_chief(), verbose=verbose,
        epochs=epochs, steps=steps)
    want_pred = _want_pred(metrics, model._fused_flag)
    batch_logs = cbl.needs_batch_logs
    sync_stop = dist is not None and dist.needs_step_sync(cbl)
    model.stop_training = False
    plan = None
    if dist is None and SW is None and isinstance(X, np.ndarray):
        from fastff import fastpath  # the compiled path: same numbers, less Python

        plan = fastpath.train_plan(model, batch_size)
    if plan is not None:
        with _StepBoundaryInterrupt() as interrupt:
            cbl.on_train_begin()
            logs = fastpath.fit_loop(
                model, plan, X, Y, batch_size=batch_size, epochs=epochs,
                initial_epoch=initial_epoch, steps=steps, shuffle=bool(shuffle), cbl=cbl,
                metrics=metrics, want_pred=want_pred, val=val, val_bs=val_bs,
                validation_freq=validation_freq, interrupt=interrupt)
            cbl.on_train_end(logs)
        return cbl.history if cbl.history is not None else model.history
    if shuffle:
        Xs, Ys = _empty_like(X), _empty_like(Y)
        SWs = None if SW is None else _empty_like(SW)
    # weights on a device: the training set goes up whole when it fits (once, or once an epoch
    # when shuffled), else each batch goes up once; rows of device arrays are views
    resident = model.on_device and _device_resident(model, X, Y)
    Xd = Yd = None
    logs: dict = {}
    with _StepBoundaryInterrupt() as interrupt:
        cbl.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            if model.stop_training:
                break
            for m in metrics:
                m.reset_state()
            tracker = _tracker(model, metrics)
            cbl.on_epoch_begin(epoch)
            if shuffle:
                perm = model.ops.permutation(model._shuffle_seed, epoch, n)
                _take(X, perm, Xs)
                _take(Y, perm, Ys)
                if SW is not None:
                    _take(SW, perm, SWs)
            else:
                Xs, Ys, SWs = X, Y, SW
            if resident and (shuffle or Xd is None):
                Xd = Yd = None  # free the last epoch's copy first
                Xd, Yd = model.ops.to_device(Xs), model.ops.to_device(Ys)
            for step in range(steps):
                s = step * batch_size
                e = min(s + batch_size, n)
                share = 1.0
                if dist is not None:  # this rank's rows of the global batch
                    s, e, share = dist.split_batch(s, e, SWs)
                if batch_logs:
                    cbl.on_train_batch_begin(step, {"batch": step, "size": e - s})
                swb = None if SWs is None else SWs[s:e]
                yb = Ys[s:e]
                if Xd is None:
                    per_row, penalty, pred = _train_step(model, Xs[s:e], yb, swb, want_pred,
                                                         dist, share, shard=True)
                else:
                    per_row, penalty, pred = _train_step(model, Xd[s:e], yb, swb, want_pred,
                                                         dist, share, Yd[s:e])
                if e > s:
                    tracker.update(per_row, penalty, yb, pred, swb)
                interrupt.check()
                if batch_logs:
                    cbl.on_train_batch_end(step, tracker.logs())
                if sync_stop:
                    model.stop_training = dist.any(model.stop_training)
                if model.stop_training:
                    break
            if dist is not None:
                dist.gather_optimizer_state(model)
            logs = tracker.logs() if dist is None else dist.reduce_logs(tracker)
            if val is not None and _should_validate(epoch, validation_freq):
                vlogs = _evaluate_arrays(model, *val, val_bs, cbl)
                logs.update({"val_" + k: v for k, v in vlogs.items()})
            cbl.on_epoch_end(epoch, logs)
            if dist is not None:  # stop on every rank or on none
                model.stop_training = dist.any(model.stop_training)
        cbl.on_train_end(logs)
    return cbl.history if cbl.history is not None else model.history


def _feature_shape(X: Any) -> tuple:
    """The shape of one sample (of each input, for a functional Model's several inputs)."""
    arrays = getattr(X, "arrays", None)
    if arrays is not None:
        return tuple(tuple(a.shape[1:]) for a in arrays)
    return tuple(X.shape[1:])


def _want_pred(metrics: list, fused: bool) -> bool | str:
    """What the metrics need from a training step: nothing, the output, or (when the loss
    fused a softmax and every metric only takes an argmax) just the logits."""
    if not metrics:
        return False
    if fused and all(getattr(m, "argmax_based", False) for m in metrics):
        return "logits"
    return True


def _empty_like(X: Any) -> Any:
    return X.empty_like() if hasattr(X, "empty_like") else np.empty_like(X)


def _take(X: Any, perm: np.ndarray, out: Any) -> None:
    """``out = X[perm]`` for an array or a functional Model's several inputs."""
    if hasattr(X, "take_into"):
        X.take_into(perm, out)
    else:
        np.take(X, perm, axis=0, out=out)


def _should_validate(epoch: int, freq: Any) -> bool:
    if isinstance(freq, (int, np.integer)) and not isinstance(freq, bool):
        if freq <= 0:
            raise ValueError(f"validation_freq: expected a positive integer, got {freq}")
        return (epoch + 1) % int(freq) == 0
    if isinstance(freq, (list, tuple, set, range)):
        return (epoch + 1) in freq
    raise TypeError(f"validation_freq: expected an int or a list of epochs, got {freq!r}")


# ---------------------------------------------------------------------------- evaluate
def _loss_and_pred(model, xb, yb, swb, ws, fused):
    """Inference forward plus per-row loss; returns ``(per_row, penalty, y_pred)``."""
    multi = getattr(model, "_multi", None)
    if multi is not None:
        return multi.loss_and_pred(model, xb, yb, swb, ws)
    ops = model.ops
    layers = model._layers
    last = len(layers) - 1
    if not isinstance(model.params, np.ndarray):
        return _device_loss_and_pred(model, ops, xb, yb, swb, ws, fused)
    h = xb
    if model._mask_flow:
        h, _ = forward_chain(layers, xb, False, ws, fused)
    for i, layer in enumerate(layers if not model._mask_flow else ()):
        if i == last and fused:
            h, _ = layer.forward_logits(h, False, ws[i])
        else:
            h, _ = layer.forward(h, False, ws[i])
    dbuf = ws[-1].get("dy", h.shape, h.dtype)
    if fused:
        per_row, _ = model.loss.forward_logits(ops, h, yb, swb, dbuf)
        pred = ops.activation(layers[-1].output_activation, h,
                              out=ws[-1].get("pred", h.shape, h.dtype))
    else:
        per_row, _ = model.loss.forward(ops, h, yb, swb, dbuf)
        pred = h
    penalty = sum(p.regularizer(p.value) for p in model._regularized) if model._regularized \
        else 0.0
    added = getattr(model, "_call_penalty", None)
    if added is not None:  # add_loss values count in evaluate too, as in Keras
        penalty += added()
    return per_row, penalty, pred


def _device_loss_and_pred(model, ops, xb, yb, swb, ws, fused):
    """``_loss_and_pred`` on the device: one upload of the batch, host results."""
    _check_device_model(model)
    layers = model._layers
    last = len(layers) - 1
    h = _upload(ops, xb)
    for i, layer in enumerate(layers):
        if i == last and fused:
            h, _ = layer.forward_logits(h, False, ws[i])
        else:
            h, _ = layer.forward(h, False, ws[i])
    per_row, _ = _device_loss(model, ops, h, yb, None, swb, ws, fused)
    if fused:
        h = ops.activation(layers[-1].output_activation, h,
                           out=ws[-1].get("pred", h.shape, h.dtype))
    return ops.to_numpy(per_row), 0.0, ops.to_numpy(h)


def _evaluate_arrays(model, X, Y, SW, batch_size, cbl) -> dict:
    shared = model._new_metrics()
    metrics = _metric_copies.private(shared)  # concurrent evaluate calls: state per call
    tracker = _tracker(model, metrics)
    fused = model._fused()
    dist = distribution_lib.get_distribution()
    if dist is not None:  # data parallel: each rank evaluates its shard, sums combined below
        X, Y, SW = dist.shard(X, Y, SW)
    n = X.shape[0]
    batch_logs = cbl is not None and cbl.needs_test_batch_logs
    if cbl is not None:
        cbl.on_test_begin()
    for step in range(-(-n // batch_size)):
        s, e = step * batch_size, min((step + 1) * batch_size, n)
        if batch_logs:
            cbl.on_test_batch_begin(step)
        ws = model._predict_workspaces(e - s)
        swb = None if SW is None else SW[s:e]
        per_row, penalty, pred = _loss_and_pred(model, X[s:e], Y[s:e], swb, ws, fused)
        tracker.update(per_row, penalty, Y[s:e], pred, swb)
        if batch_logs:
            cbl.on_test_batch_end(step, tracker.logs())
    logs = tracker.logs() if dist is None else dist.reduce_logs(tracker)
    _metric_copies.write_back(shared, metrics)  # as Keras: the metrics hold this evaluation
    if cbl is not None:
        cbl.on_test_end(logs)
    return logs


@collective("evaluate")
def evaluate(model: Any, x: Any, y: Any, batch_size: int | None = None, verbose: Any = "auto",
             sample_weight: Any = None, callbacks: Any = None, return_dict: bool = False) -> Any:
    """Loss and metrics on ``(x, y)``: float, ``[loss, *metrics]`` or a dict."""
    V.check_compiled(model, "evaluate")
    batch_size = V.check_positive_int(32 if batch_size is None else batch_size, "batch_size")
    verbose = _verbose(verbose)
    X, Y, SW = _prepare_xy(model, x, y, sample_weight)
    _bind_ops(model)
    cbl = None
    if callbacks or verbose:
        cbl = CallbackList(callbacks, model=model,
                           add_progbar=verbose != 0 and distribution_lib.is_chief(),
                           verbose=verbose, epochs=1,
                           steps=-(-distribution_lib.local_rows(X.shape[0]) // batch_size))
    logs = _evaluate_arrays(model, X, Y, SW, batch_size, cbl)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


# ---------------------------------------------------------------------------- predict
def _infer(model: Any, xb: np.ndarray, ws: list) -> np.ndarray:
    if model._mask_flow:
        if not isinstance(model.params, np.ndarray):
            _check_device_model(model)
        return forward_chain(model._layers, xb, False, ws, False)[0]
    if not isinstance(model.params, np.ndarray):  # on a device: one upload, one download
        h = _upload(model.ops, xb)
        for i, layer in enumerate(model._layers):
            h, _ = layer.forward(h, False, ws[i])
        return model.ops.to_numpy(h)
    h = xb
    for i, layer in enumerate(model._layers):
        h, _ = layer.forward(h, False, ws[i])
    return h


def predict(model: Any, x: Any, batch_size: int | None = None, verbose: Any = "auto",
            callbacks: Any = None, single_batch: bool = False) -> np.ndarray:
    """Model outputs for ``x`` in batches (a new array; workspaces are per thread)."""
    st = model._fast_stack
    if (st is not None and type(x) is np.ndarray and type(verbose) is int and verbose == 0
            and not callbacks and x.ndim == 2 and x.dtype == st.dtype and x.shape[0]
            and x.shape[1] == st.n_in and x.flags.c_contiguous
            and (batch_size is None or type(batch_size) is int and batch_size > 0)
            and model._layout_version == TRAINABLE_VERSION[0] and st.key == _fast_key(model)
            and _same_signature(st, model._layers)):
        # compiled whole forward of a Dense stack: the cheapest correct checks only
        return _predict_batches(model, st, x, x.shape[0] if single_batch else batch_size)
    batch_size = V.check_positive_int(
        config.PREDICT_BATCH_SIZE if batch_size is None else batch_size, "batch_size")
    verbose = _verbose(verbose)
    X = _prepare_x(model, x)
    _bind_ops(model)
    n = X.shape[0]
    if single_batch:
        batch_size = n
    if n and not callbacks and not verbose:
        from fastff import fastpath

        st = fastpath.predict_plan(model)
        if st is not None:
            return _predict_batches(model, st, X, batch_size)
    if n <= batch_size and not callbacks and not verbose:  # fast path: one batch
        return _infer(model, X, model._predict_workspaces(n)).copy()
    steps = -(-n // batch_size)
    cbl = CallbackList(callbacks, model=model, add_progbar=verbose != 0, verbose=verbose,
                       epochs=1, steps=steps)
    batch_logs = cbl.needs_predict_batch_logs
    out = None
    cbl.on_predict_begin()
    for step in range(steps):
        s, e = step * batch_size, min((step + 1) * batch_size, n)
        if batch_logs:
            cbl.on_predict_batch_begin(step)
        h = _infer(model, X[s:e], model._predict_workspaces(e - s))
        if out is None:
            out = np.empty((n, *h.shape[1:]), dtype=h.dtype)
        out[s:e] = h
        if batch_logs:
            cbl.on_predict_batch_end(step, {"outputs": out[s:e]})
    cbl.on_predict_end()
    return out


def forward(model: Any, x: Any, training: bool = False) -> np.ndarray:
    """``model(x, training=True)``: one forward pass with dropout active (no gradients)."""
    X = _prepare_x(model, x)
    _bind_ops(model)
    h = X if isinstance(model.params, np.ndarray) else _upload(model.ops, X)
    if model._mask_flow:
        if not isinstance(model.params, np.ndarray):
            _check_device_model(model)
        h, _ = forward_chain(model._layers, h, training, None, False)
    for layer in model._layers if not model._mask_flow else ():
        h, _ = layer.forward(h, training, None)
        if training and hasattr(layer, "step"):
            layer.step += 1
    if model._mask_flow and training:
        for layer in model._step_layers:
            layer.step += 1
    return np.array(model.ops.to_numpy(h) if is_device_array(h) else h, copy=True)


@collective("train_on_batch")
def train_on_batch(model: Any, x: Any, y: Any, sample_weight: Any = None,
                   class_weight: Any = None, return_dict: bool = False) -> Any:
    """One optimizer step on ``(x, y)``; returns the batch loss (and metrics)."""
    V.check_compiled(model, "train_on_batch")
    X, Y, SW = _prepare_xy(model, x, y, sample_weight, class_weight)
    _bind_ops(model)
    model._build_optimizer()
    model._fused_flag = model._fused()
    metrics = model._new_metrics()
    tracker = _tracker(model, metrics)
    dist = distribution_lib.get_distribution()
    share = 1.0
    if dist is not None:  # data parallel: (x, y) is the global batch, this rank takes its rows
        dist.setup_once(model)
        s, e, share = dist.split_batch(0, X.shape[0], SW)
        X, Y, SW = X[s:e], Y[s:e], None if SW is None else SW[s:e]
    per_row, penalty, pred = _train_step(model, X, Y, SW,
                                         _want_pred(metrics, model._fused_flag), dist, share)
    if X.shape[0]:
        tracker.update(per_row, penalty, Y, pred, SW)
    logs = tracker.logs() if dist is None else dist.reduce_logs(tracker)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
