"""The general step engine: one training step, one inference forward, through each layer's
``forward``/``backprop`` closures and the model's ``ops`` (host or device).

Per batch there is a little Python per layer: each layer's ``forward`` into model-owned
workspaces (one set per batch size, so nothing is allocated per step), the loss (fused with a
softmax/sigmoid output), each layer's ``backprop`` in reverse (``need_dx=False`` for the first
layer with trainable weights; layers before it are skipped), regularizer terms, then one
optimizer call over the flat buffers. The loop (``fastff.training.loop``) drives it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import _call_context
from fastff import distribution as distribution_lib
from fastff.layers.base import is_device_array
from fastff.training.data import prepare_x

__all__ = ["GeneralEngine", "bind_ops", "forward_backward", "train_step", "loss_and_pred",
           "infer", "forward"]


def bind_ops(model: Any) -> Any:
    """Make sure every layer and the optimizer use the model's ops; return them."""
    ops = model.ops
    model.network.bind(ops)
    opt = model.optimizer
    if opt is not None and getattr(opt, "_ops", ops) is not ops:
        opt.ops = ops
    place = getattr(model, "_place", None)
    if place is not None:  # weights, optimizer state, workspaces where ops computes
        place(ops)
    return ops


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
    net = model.network
    ops = model.ops
    if fused is None:
        fused = model._fused()
    with _call_context.collecting() as added, _call_context.activity() as act_losses:
        h, bps = net.run(xb, True, ws, fused)  # (a subclassed model collects its own inside)
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
            pred = ops.activation(net.output_activation, h, out=pbuf)
        else:
            pred = h
    dx = net.backward(bps, dy, 0 if need_dx else model._first_grad, need_dx)
    penalty = sum(act_losses)  # activity regularizers: their gradients are in dx / grads
    for p in model._regularized:
        penalty += p.regularizer(p.value)
        p.regularizer.add_gradient(p.value, p.grad)
    added = getattr(model, "_call_penalty", None)
    if added is not None:  # a subclassed model's add_loss values (their gradient is in)
        penalty += added()
    return per_row, penalty, pred, dx


def loss_weights(model: Any, swb: Any, xb: Any, part: Any = None) -> Any:
    """The per-row weights the model's loss reduces a batch with (``Loss.batch_weights``:
    ``swb`` itself for Keras's default ``sum_over_batch_size``); ``part``: the
    ``BatchPart`` when the batch is one rank's rows of a global batch."""
    loss = model.loss
    if loss is None or getattr(model, "_multi", None) is not None:
        return swb
    n = xb.shape[0] if hasattr(xb, "shape") else len(xb)
    return loss.batch_weights(swb, n, None if part is None else part.whole)


def train_step(model, xb, yb, swb, want_pred, dist=None, share=1.0, yd=None, shard=False):
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


def batch_part(batch: tuple) -> Any:
    """The ``BatchPart`` of a batch source's batch (None outside data parallelism)."""
    return batch[3] if len(batch) > 3 else None


def yd_of(batch: tuple) -> Any:
    """The batch's targets already on the device (None: on the host only)."""
    return batch[4] if len(batch) > 4 else None


class GeneralEngine:
    """The general step engine for one ``fit`` call: ``train_batch`` runs one step on one
    batch of any batch source; ``shard`` as in ``train_step``."""

    name = "general"
    per_batch = True  # the loop walks the batches itself

    def __init__(self, model: Any, want_pred: Any, dist: Any = None,
                 shard: bool = False) -> None:
        self.model, self.want_pred, self.dist, self.shard = model, want_pred, dist, shard

    @staticmethod
    def rows(batch: tuple) -> int:
        """How many rows ``batch`` has (this rank's, under a distribution)."""
        return batch[0].shape[0]

    def train_batch(self, batch: tuple) -> tuple:
        """``(per_row or None, penalty, pred, yb, swb)`` of one step on ``batch``
        (``(x, y, sw[, part, y on the device])``; ``part``: the ``BatchPart`` under a
        distribution, else None)."""
        xb, yb, swb = batch[0], batch[1], batch[2]
        part = batch_part(batch)
        lw = loss_weights(self.model, swb, xb, part)
        per_row, penalty, pred = train_step(self.model, xb, yb, lw, self.want_pred, self.dist,
                                            1.0 if part is None else part.share, yd_of(batch),
                                            self.shard)
        return per_row, penalty, pred, yb, swb


# ---------------------------------------------------------------------------- device steps
def check_device_model(model: Any) -> None:
    """Raise for what the device path does not run yet."""
    if getattr(model, "_multi", None) is not None:
        raise NotImplementedError("models with several outputs train on the CPU only; "
                                  "use device='cpu'")
    if model._regularized:
        raise NotImplementedError("weight regularizers are not supported on a GPU yet; "
                                  "train this model with device='cpu'")
    if any(getattr(layer, "activity_regularizer", None) is not None for layer in model.layers):
        raise NotImplementedError("activity regularizers are not supported on a GPU yet; "
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
    check_device_model(model)
    net = model.network
    fused = model._fused_flag
    h, bps = net.run(_upload(ops, xb), True, ws, fused)
    per_row, dy = _device_loss(model, ops, h, yb, yd, swb, ws, fused)
    pred = None
    if want_pred == "logits":
        pred = h
    elif want_pred:
        pred = ops.activation(net.output_activation, h,
                              out=ws[-1].get("pred", h.shape, h.dtype)) if fused else h
    net.backward(bps, dy, model._first_grad)
    return ops.to_numpy(per_row), 0.0, None if pred is None else ops.to_numpy(pred)


# ---------------------------------------------------------------------------- inference
def loss_and_pred(model, xb, yb, swb, ws, fused):
    """Inference forward plus per-row loss; returns ``(per_row, penalty, y_pred)``."""
    multi = getattr(model, "_multi", None)
    if multi is not None:
        return multi.loss_and_pred(model, xb, yb, swb, ws)
    ops = model.ops
    if not isinstance(model.params, np.ndarray):
        return _device_loss_and_pred(model, ops, xb, yb, swb, ws, fused)
    net = model.network
    with _call_context.activity() as act_losses:
        h, _ = net.run(xb, False, ws, fused)
    dbuf = ws[-1].get("dy", h.shape, h.dtype)
    if fused:
        per_row, _ = model.loss.forward_logits(ops, h, yb, swb, dbuf)
        pred = ops.activation(net.output_activation, h,
                              out=ws[-1].get("pred", h.shape, h.dtype))
    else:
        per_row, _ = model.loss.forward(ops, h, yb, swb, dbuf)
        pred = h
    penalty = sum(p.regularizer(p.value) for p in model._regularized) if model._regularized \
        else 0.0
    penalty += sum(act_losses)  # activity regularizers count in evaluate too, as in Keras
    added = getattr(model, "_call_penalty", None)
    if added is not None:  # add_loss values count in evaluate too, as in Keras
        penalty += added()
    return per_row, penalty, pred


def _device_loss_and_pred(model, ops, xb, yb, swb, ws, fused):
    """``loss_and_pred`` on the device: one upload of the batch, host results."""
    check_device_model(model)
    net = model.network
    h, _ = net.run(_upload(ops, xb), False, ws, fused)
    per_row, _ = _device_loss(model, ops, h, yb, None, swb, ws, fused)
    if fused:
        h = ops.activation(net.output_activation, h,
                           out=ws[-1].get("pred", h.shape, h.dtype))
    return ops.to_numpy(per_row), 0.0, ops.to_numpy(h)


def infer(model: Any, xb: np.ndarray, ws: list) -> np.ndarray:
    """The model's outputs for one batch (inference; workspaces ``ws``)."""
    net = model.network
    if isinstance(model.params, np.ndarray):
        return net.infer(xb, ws)
    if net.mask_flow:
        check_device_model(model)
        return net.infer(xb, ws)
    return model.ops.to_numpy(net.infer(_upload(model.ops, xb), ws))  # one upload, download


def forward(model: Any, x: Any, training: bool = False) -> np.ndarray:
    """``model(x, training=True)``: one forward pass with dropout active (no gradients)."""
    X = prepare_x(model, x)
    bind_ops(model)
    h = X if isinstance(model.params, np.ndarray) else _upload(model.ops, X)
    net = model.network
    if net.mask_flow and not isinstance(model.params, np.ndarray):
        check_device_model(model)
    h, _ = net.run(h, training, None, False)
    for layer in model._step_layers if training else ():
        layer.step += 1
    return np.array(model.ops.to_numpy(h) if is_device_array(h) else h, copy=True)
