"""Several outputs of a functional ``Model``: per-output losses, loss weights and metrics.

``Model(inputs, [a, b])`` or ``Model(inputs, {"a": a, "b": b})`` compiles with one loss for
every output, a list (in output order) or a dict keyed by output name (``None``: no loss for
that output); ``loss_weights`` a list or dict; ``metrics`` a list with one entry (a metric or a
list of them) per output or a dict. As in Keras 3: output names are the output layers' names
(the keys for dict outputs, taken in sorted order); the total ``loss`` is ``Σ wₖ lₖ`` plus the
regularization penalties, ``<name>_loss`` is output k's *unweighted* loss (logged when more
than one output has a loss), a metric logs as ``<name>_<metric>``; ``evaluate`` returns
``[loss, *per-output losses, *metrics sorted by name]``. ``y`` and ``sample_weight`` come as a
list or a dict (one ``sample_weight`` array applies to every output); ``predict`` returns a list
or a dict like the outputs.

Where fastff differs: per-output losses are sample-weighted means over the epoch (fastff's
convention, see ``fastff.models``); ``class_weight`` is refused (Keras refuses it too for
several outputs); training runs on the CPU and in one process.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastff import _call_context
from fastff import _validation as V
from fastff.loss_base import Loss

__all__ = ["output_structure", "output_names", "MultiSpec", "ScaledLoss", "single_loss_weight",
           "unwrap_single"]


class Arrays:
    """One array (or None) per output, cut and shuffled together (the loops' ``Y``/``SW``)."""

    def __init__(self, arrays: list[np.ndarray | None]):
        self.arrays = arrays
        n = next(a.shape[0] for a in arrays if a is not None)
        self.shape = (n,)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, s: slice) -> Arrays:
        return Arrays([None if a is None else a[s] for a in self.arrays])

    def empty_like(self) -> Arrays:
        return Arrays([None if a is None else np.empty_like(a) for a in self.arrays])

    def take_into(self, perm: np.ndarray, out: Arrays) -> None:
        for a, o in zip(self.arrays, out.arrays):
            if a is not None:
                np.take(a, perm, axis=0, out=o)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays if a is not None)


# ---------------------------------------------------------------------------- structure
def output_structure(outputs: Any) -> tuple[Any, list[str] | None, str | None]:
    """``(what the graph takes, dict keys or None, "list" | "dict" | None)`` for ``outputs``:
    one tensor (or a list of one) stays a single output."""
    if isinstance(outputs, dict):
        if not outputs:
            raise ValueError("Model: outputs is an empty dict")
        for k in outputs:
            if not isinstance(k, str):
                raise TypeError(f"Model: output dict keys must be strings, got {k!r}")
        keys = sorted(outputs)
        return [outputs[k] for k in keys], keys, "dict"
    if isinstance(outputs, (list, tuple)):
        if not outputs:
            raise ValueError("Model: outputs is an empty list")
        if len(outputs) == 1:
            return outputs[0], None, None
        return list(outputs), None, "list"
    return outputs, None, None


def output_names(keys: list[str] | None, layer_names: list[str]) -> list[str]:
    """The dict keys, else the output layers' names (repeats numbered ``name_1``, as Keras)."""
    if keys is not None:
        return list(keys)
    out: list[str] = []
    for n in layer_names:
        name, i = n, 0
        while name in out:
            i += 1
            name = f"{n}_{i}"
        out.append(name)
    return out


def _per_output(arg: Any, names: list[str], what: str, default: Any, scalar_ok: bool) -> list:
    """``arg`` (one value for all outputs, a list in output order or a dict by name) as a
    list in output order."""
    if isinstance(arg, dict):
        unknown = [k for k in arg if k not in names]
        if unknown:
            raise ValueError(f"compile: {what} has key(s) {unknown} that are not outputs of "
                             f"the model; its outputs are {names}")
        return [arg.get(n, default) for n in names]
    if isinstance(arg, (list, tuple)):
        if len(arg) != len(names):
            raise ValueError(f"compile: {what} is a list of {len(arg)} but the model has "
                             f"{len(names)} outputs {names}; give one entry per output or a "
                             "dict keyed by output name")
        return list(arg)
    if not scalar_ok:
        raise ValueError(f"compile: for a model with {len(names)} outputs {names}, {what} "
                         f"must be a list or a dict keyed by output name, got {arg!r}")
    return [arg] * len(names)


def _weight(w: Any, name: str) -> float:
    if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(w)):
        raise ValueError(f"compile: loss_weights[{name!r}] must be a finite number, got {w!r}")
    return float(w)


# ---------------------------------------------------------------------------- compile
class MultiSpec:
    """A multi-output model's compiled losses, weights and metrics, and its training hooks
    (``fastff.training`` calls these when ``model._multi`` is set)."""

    def __init__(self, model: Any, loss: Any, loss_weights: Any, metrics: Any):
        from fastff import losses
        from fastff import metrics as metrics_mod

        self.names: list[str] = list(model._output_names)
        self.kind: str = model._output_kind
        names = self.names
        raw = _per_output(loss, names, "loss", None, scalar_ok=True)
        self.losses: list[Loss | None] = [None if lo is None else losses.get(lo) for lo in raw]
        if all(lo is None for lo in self.losses):
            raise ValueError(f"compile: no output of {names} has a loss")
        self.weights = [1.0 if w is None else _weight(w, n) for w, n in zip(
            _per_output(loss_weights, names, "loss_weights", 1.0, scalar_ok=False)
            if loss_weights is not None else [1.0] * len(names), names)]
        self.n_losses = sum(lo is not None for lo in self.losses)
        if metrics is None:
            mets: list = [[] for _ in names]
        else:
            mets = _per_output(metrics, names, "metrics", [], scalar_ok=False)
        self.metric_ids: list[tuple[int, Any]] = []
        for k, m in enumerate(mets):
            for one in (m if isinstance(m, (list, tuple)) else [m]):
                if one is not None:
                    self.metric_ids.append((k, one))
        # resolve now so unknown names fail at compile time, as in Keras
        self.metric_names = self._log_names(
            [metrics_mod.get(m, self.losses[k]) for k, m in self.metric_ids])
        graph = model._graph
        self.graph = graph
        acts = graph.output_activations()
        self.fused = [lo is not None and lo.fused_with(a) for lo, a in zip(self.losses, acts)]
        self.acts = acts
        self.args = (loss, loss_weights, metrics)

    def _log_names(self, metrics: list) -> list[str]:
        out: list[str] = []
        for (k, _), m in zip(self.metric_ids, metrics):
            name, i = f"{self.names[k]}_{m.name}", 0
            base = name
            while name in out:
                i += 1
                name = f"{base}_{i}"
            out.append(name)
        return out

    def new_metrics(self) -> list:
        from fastff import metrics as metrics_mod

        out = []
        for k, m in self.metric_ids:
            metric = metrics_mod.get(m, self.losses[k])
            if metric is m and hasattr(m, "reset_state"):
                m.reset_state()
            out.append(metric)
        return out

    @property
    def metrics_names(self) -> list[str]:
        """Keras 3's after a fit/evaluate: ``"loss"``, ``"compile_metrics"`` when metrics
        were compiled, then each output's loss tracker when there are several losses."""
        loss_names = [f"{n}_loss" for n, lo in zip(self.names, self.losses) if lo is not None]
        return ["loss", *(["compile_metrics"] if self.metric_names else []),
                *(loss_names if self.n_losses > 1 else [])]

    def pack(self, values: list) -> Any:
        """Per-output values as the model's outputs are structured (list or dict)."""
        return dict(zip(self.names, values)) if self.kind == "dict" else list(values)

    # ---- data ------------------------------------------------------------------------
    def _split(self, arg: Any, what: str, one_for_all: bool) -> list:
        names = self.names
        if isinstance(arg, dict):
            unknown = [k for k in arg if k not in names]
            if unknown:
                raise ValueError(f"{what}: key(s) {unknown} are not outputs of the model; its "
                                 f"outputs are {names}")
            return [arg.get(n) for n in names]
        if isinstance(arg, (list, tuple)):
            if len(arg) != len(names):
                raise ValueError(f"{what}: got a list of {len(arg)} arrays but the model has "
                                 f"{len(names)} outputs {names}; pass one array per output "
                                 "or a dict keyed by output name")
            return list(arg)
        if one_for_all:
            return [arg] * len(names)
        raise ValueError(f"{what}: the model has {len(names)} outputs {names}; pass a list of "
                         f"{len(names)} arrays or a dict keyed by output name, got "
                         f"{type(arg).__name__}")

    def prepare_xy(self, model: Any, x: Any, y: Any, sample_weight: Any, class_weight: Any,
                   prefix: str) -> tuple[Any, Arrays, Arrays | None]:
        from fastff import distribution as distribution_lib
        from fastff.training.data import prepare_x

        if distribution_lib.get_distribution() is not None:
            raise NotImplementedError("models with several outputs train in one process; "
                                      "data-parallel training is not supported for them")
        if class_weight is not None:
            raise ValueError("class_weight is only supported for models with a single output; "
                             "use sample_weight (a list or dict per output)")
        if y is None:
            raise ValueError(f"{prefix}y: targets are required")
        X = prepare_x(model, x, prefix + "x")
        n = X.shape[0]
        ys = self._split(y, prefix + "y", one_for_all=False)
        shapes = self.graph.out_shapes
        Y: list = []
        for k, (name, yk, lo) in enumerate(zip(self.names, ys, self.losses)):
            label = f"{prefix}y[{name!r}]"
            if yk is None:
                if lo is not None or any(j == k for j, _ in self.metric_ids):
                    raise ValueError(f"{label}: targets are required for output {name!r} "
                                     f"(it has a loss or metrics); outputs: {self.names}")
                Y.append(None)
                continue
            V.check_lengths(n, yk, label, prefix + "x")
            n_out = shapes[k][-1] if shapes[k] else 1
            if lo is None:
                Y.append(V.as_features(yk, model.dtype, label, 1))
            else:
                Y.append(V.prepare_targets(yk, lo, n_out, model.dtype, label))
        SW = None
        if sample_weight is not None:
            sws = self._split(sample_weight, prefix + "sample_weight", one_for_all=True)
            SW = Arrays([None if s is None else V.prepare_sample_weight(
                s, n, model.dtype, f"{prefix}sample_weight[{name!r}]")
                for s, name in zip(sws, self.names)])
            if all(a is None for a in SW.arrays):
                SW = None
        return X, Arrays(Y), SW

    # ---- steps -----------------------------------------------------------------------
    def _losses(self, ops: Any, outs: list, yb: Arrays, swb: Arrays | None, ws: list | None,
                want_pred: Any, grad: bool) -> tuple[list, list, list]:
        per_rows, dys, preds = [], [], []
        for k, (h, lo) in enumerate(zip(outs, self.losses)):
            fused = self.fused[k]
            if lo is None:
                per_rows.append(None)
                dys.append(None)
            else:
                dbuf = None if ws is None else ws[-1].get(f"dy{k}", h.shape, h.dtype)
                swk = lo.batch_weights(None if swb is None else swb.arrays[k], h.shape[0])
                if fused:
                    pr, dy = lo.forward_logits(ops, h, yb.arrays[k], swk, dbuf)
                else:
                    pr, dy = lo.forward(ops, h, yb.arrays[k], swk, dbuf)
                w = self.weights[k]
                if grad and w != 1.0:
                    dy *= w
                per_rows.append(pr)
                dys.append(dy)
            if want_pred and fused:
                pbuf = None if ws is None else ws[-1].get(f"pred{k}", h.shape, h.dtype)
                preds.append(ops.activation(self.acts[k], h, out=pbuf))
            else:
                preds.append(h if want_pred else None)
        return per_rows, dys, preds

    def forward_backward(self, model: Any, xb: Any, yb: Arrays, swb: Arrays | None,
                         ws: list | None, need_dx: bool, want_pred: Any) -> tuple:
        """``fastff.training.general.forward_backward`` for several outputs."""
        ops = model.ops
        with _call_context.activity() as act_losses:
            outs, bp = self.graph.forward_outputs(xb, True, None if ws is None else ws[0],
                                                  self.fused)
        per_rows, dys, preds = self._losses(ops, outs, yb, swb, ws, want_pred, True)
        if model._first_grad is not None:
            bp(dys, need_dx)
        penalty = sum(act_losses)
        for p in model._regularized:
            penalty += p.regularizer(p.value)
            p.regularizer.add_gradient(p.value, p.grad)
        return per_rows, penalty, preds, None

    def loss_and_pred(self, model: Any, xb: Any, yb: Arrays, swb: Arrays | None,
                      ws: list) -> tuple:
        """``fastff.training.general.loss_and_pred`` for several outputs."""
        if not isinstance(model.params, np.ndarray):
            raise NotImplementedError("models with several outputs are evaluated on the CPU; "
                                      "use device='cpu'")
        with _call_context.activity() as act_losses:
            outs, _ = self.graph.forward_outputs(xb, False, ws[0], self.fused)
        per_rows, _, preds = self._losses(model.ops, outs, yb, swb, ws, True, False)
        penalty = sum(p.regularizer(p.value) for p in model._regularized) \
            if model._regularized else 0.0
        penalty += sum(act_losses)
        return per_rows, penalty, preds

    def tracker(self, metrics: list) -> Tracker:
        return Tracker(self, metrics)


class Tracker:
    """Running per-output losses and metrics over an epoch (``training.loop.Tracker``'s job)."""

    def __init__(self, spec: MultiSpec, metrics: list) -> None:
        self.spec = spec
        self.metrics = metrics
        self.outs = [k for k, _ in spec.metric_ids]
        self.log_names = spec._log_names(metrics)
        n = len(spec.names)
        self.totals = [0.0] * n
        self.weights = [0.0] * n
        self.rows = 0
        self.penalty = 0.0

    def update(self, per_rows: list, penalty: float, yb: Arrays, preds: list,
               swb: Arrays | None, part: Any = None) -> None:
        """Add one batch (``part`` is always None: these models train in one process)."""
        n = len(yb)
        self.rows += n
        self.penalty += penalty * n
        for k, pr in enumerate(per_rows):
            if pr is None:
                continue
            swk = self.spec.losses[k].batch_weights(None if swb is None else swb.arrays[k], n)
            if swk is None:
                self.totals[k] += float(pr.sum(dtype=np.float64))
                self.weights[k] += n
            else:
                self.totals[k] += float(np.dot(pr.astype(np.float64), swk))
                self.weights[k] += n  # Keras: the weighted sum over the rows
        for m, k in zip(self.metrics, self.outs):
            m.update_state(yb.arrays[k], preds[k],
                           None if swb is None else swb.arrays[k])

    def logs(self, prefix: str = "") -> dict:
        spec = self.spec
        means = [t / w if w else 0.0 for t, w in zip(self.totals, self.weights)]
        total = sum(wk * mk for wk, mk, lo in zip(spec.weights, means, spec.losses)
                    if lo is not None)
        out = {prefix + "loss": total + (self.penalty / self.rows if self.rows else 0.0)}
        if spec.n_losses > 1:
            for name, mk, lo in zip(spec.names, means, spec.losses):
                if lo is not None:
                    out[f"{prefix}{name}_loss"] = mk
        mets = sorted(zip(self.log_names, self.metrics), key=lambda t: t[0])
        for name, m in mets:
            out[prefix + name] = float(m.result())
        return out


# ---------------------------------------------------------------------------- inference
def predict(model: Any, x: Any, batch_size: int | None, verbose: Any, callbacks: Any,
            single_batch: bool = False, training: bool = False) -> Any:
    """Every output for ``x`` in batches, as a list or dict like the model's outputs."""
    from fastff import config
    from fastff.callbacks.callback_list import CallbackList
    from fastff.training import data as tr_data
    from fastff.training import general as tr

    batch_size = V.check_positive_int(
        config.PREDICT_BATCH_SIZE if batch_size is None else batch_size, "batch_size")
    verbose = tr_data.check_verbose(verbose)
    X = tr_data.prepare_x(model, x)
    ops = tr.bind_ops(model)
    graph = model._graph
    n = X.shape[0]
    if single_batch or n == 0:
        batch_size = max(n, 1)
    steps = -(-n // batch_size)
    cbl = CallbackList(callbacks, model=model, add_progbar=verbose != 0, verbose=verbose,
                       epochs=1, steps=steps) if (callbacks or verbose) else None
    outs: list | None = None
    if cbl is not None:
        cbl.on_predict_begin()
    host = isinstance(model.params, np.ndarray)
    n_out = len(graph.out_refs)
    for step in range(steps):
        s, e = step * batch_size, min((step + 1) * batch_size, n)
        if cbl is not None:
            cbl.on_predict_batch_begin(step)
        xb = X[s:e] if host else tr._upload(ops, X[s:e])
        ws = None if training else model._predict_workspaces(e - s)[0]
        hs, _ = graph.forward_outputs(xb, training, ws, [False] * n_out)
        if training:
            for la in graph.layers:
                if hasattr(la, "step"):
                    la.step += 1
        if not host:
            hs = [ops.to_numpy(h) for h in hs]
        if outs is None:
            outs = [np.empty((n, *h.shape[1:]), dtype=h.dtype) for h in hs]
        for o, h in zip(outs, hs):
            o[s:e] = h
        if cbl is not None:
            cbl.on_predict_batch_end(step, {"outputs": [o[s:e] for o in outs]})
    if cbl is not None:
        cbl.on_predict_end()
    if outs is None:
        outs = [np.empty((0, *shape), dtype=model.dtype) for shape in graph.out_shapes]
    if model._output_kind == "dict":
        return dict(zip(model._output_names, outs))
    return outs


# ---------------------------------------------------------------------------- one output
class ScaledLoss(Loss):
    """``weight × loss`` for a single-output model compiled with ``loss_weights`` (Keras
    scales the loss value and its gradient). The compiled path does not take it, so it
    trains on the general path."""

    def __init__(self, base: Loss, weight: float):
        super().__init__(name=base.name, reduction=base.reduction)
        self.base = base
        self.weight = float(weight)
        self.fuses_with = base.fuses_with
        self.target_kind = base.target_kind

    def _scale(self, out: tuple) -> tuple:
        per_row, dy = out
        if not isinstance(dy, np.ndarray):
            raise NotImplementedError("loss_weights are not supported on a GPU yet; train "
                                      "this model with device='cpu'")
        return per_row * self.weight, np.multiply(dy, self.weight, out=dy)

    def forward(self, ops: Any, y_pred: Any, y_true: Any, sample_weight: Any = None,
                dy: Any = None) -> tuple:
        return self._scale(self.base.forward(ops, y_pred, y_true, sample_weight, dy))

    def forward_logits(self, ops: Any, logits: Any, y_true: Any, sample_weight: Any = None,
                       dlogits: Any = None) -> tuple:
        return self._scale(self.base.forward_logits(ops, logits, y_true, sample_weight,
                                                    dlogits))

    def fused_with(self, output_activation: str | None) -> bool:
        return self.base.fused_with(output_activation)

    def prepare_targets(self, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return self.base.prepare_targets(y, dtype)

    def call(self, y_true: Any, y_pred: Any) -> np.ndarray:
        return self.base.call(y_true, y_pred) * self.weight

    def get_config(self) -> dict:
        return self.base.get_config()


def unwrap_single(arg: Any, names: list[str], what: str) -> Any:
    """A single-output model's ``loss``/``metrics`` given per output (a list of one, or a
    dict keyed by the output's name), as the plain value."""
    if isinstance(arg, dict) and "class_name" not in arg:  # not a serialized object
        unknown = [k for k in arg if k not in names]
        if unknown:
            raise ValueError(f"compile: {what} has key(s) {unknown} but the model's one output "
                             f"is {names}")
        return next(iter(arg.values()), None)
    if isinstance(arg, (list, tuple)):
        if what == "loss":
            if len(arg) != 1:
                raise ValueError(f"compile: loss is a list of {len(arg)} but the model has "
                                 f"one output {names}")
            return arg[0]
        if any(isinstance(m, (list, tuple)) for m in arg):  # Keras flattens them
            return [one for m in arg for one in (m if isinstance(m, (list, tuple)) else [m])]
    return arg


def single_loss_weight(loss_weights: Any, names: list[str]) -> float:
    """The one weight of a single-output model: a number, a list of one, or a dict of one
    keyed by the output name."""
    if isinstance(loss_weights, dict):
        unknown = [k for k in loss_weights if k not in names]
        if unknown or len(loss_weights) != 1:
            raise ValueError(f"compile: loss_weights has keys {sorted(loss_weights)} but the "
                             f"model has one output {names}")
        return _weight(next(iter(loss_weights.values())), names[0])
    if isinstance(loss_weights, (list, tuple)):
        if len(loss_weights) != 1:
            raise ValueError(f"compile: loss_weights has {len(loss_weights)} entries but the "
                             "model has one output")
        return _weight(loss_weights[0], names[0])
    return _weight(loss_weights, names[0])
