"""The one fit / evaluate / predict loop (Keras semantics), over any batch source and either
step engine.

The loop owns the epochs and batches, History and metric tracking, validation, callbacks,
Ctrl-C (deferred to a step boundary) and ``stop_training``. What it consumes is a batch source
(``epoch(e)`` yielding ``(step, batch)``, ``end_pass()``): checked arrays
(``data.ArrayBatches``), a ``PyDataset``, generator or iterable (``fastff.data_adapters``), or
the compiled engine's own batches. What runs a step is an engine, chosen once per call:
``general.GeneralEngine`` (layer closures through ``ops``, host or device) or
``compiled.CompiledEngine`` (whole steps/epochs of a plain Dense stack as one compiled call,
bit for bit the general engine's numbers). With no batch-level observer (no metrics, no
batch hooks) the compiled engine takes runs of steps, or whole epochs, per call.

The reported loss and metrics are means over the epoch's samples (sample-weighted) and include
regularization penalties.
"""

from __future__ import annotations

import _signal  # signal's C functions: no int <-> enum conversion of handlers (~5 us a fit)
import threading
from typing import Any

import numpy as np

from fastff import _metric_copies, config
from fastff import _validation as V
from fastff import data_adapters as A
from fastff import distribution as distribution_lib
from fastff.callbacks.base import History
from fastff.callbacks.callback_list import CallbackList, sorted_logs
from fastff.distribution.collective import collective
from fastff.layers.base import TRAINABLE_VERSION
from fastff.metrics.compiled import log_value
from fastff.training import compiled
from fastff.training.data import (
    ArrayBatches,
    batch_bounds,
    check_verbose,
    device_resident,
    feature_shape,
    n_batches,
    prepare_x,
    prepare_xy,
    single_array,
    split_validation,
    unpack_validation,
)
from fastff.training.general import (
    GeneralEngine,
    batch_part,
    bind_ops,
    forward,
    forward_backward,
    infer,
    loss_and_pred,
    loss_weights,
    train_step,
)

__all__ = ["fit", "evaluate", "predict", "forward", "forward_backward", "train_on_batch"]


def make_tracker(model: Any, metrics: list) -> Any:
    """The epoch's running logs (per output for a multi-output model)."""
    multi = getattr(model, "_multi", None)
    return Tracker(metrics, model.ops, model.loss) if multi is None else multi.tracker(metrics)


class Tracker:
    """Running loss and metrics over an epoch (sample-weighted means; the metrics as
    ``fastff.metrics.compiled``: only weighted metrics take the sample weights); the
    unweighted loss sum is ``ops.sum_f64``, the one the compiled engine adds into History."""

    def __init__(self, metrics: list, ops: Any, loss: Any = None) -> None:
        self.metrics = metrics
        self.loss = loss  # its reduction says how the weights count (Loss.batch_weights)
        self._sum = ops.sum_f64
        self.names = getattr(metrics, "names", None) or [m.name for m in metrics]
        self.weighted = getattr(metrics, "weighted", None) or [True] * len(metrics)
        self.loss_total = 0.0
        self.weight = 0.0

    def update(self, per_row, penalty, yb, pred, swb, part=None) -> None:
        """Add one batch (``part``: its ``BatchPart`` when it is one rank's rows)."""
        w = per_row.shape[0]  # Keras: the batch's (weighted) loss sum over its rows
        lw = swb if self.loss is None else self.loss.batch_weights(
            swb, w, None if part is None else part.whole)
        if lw is None:
            self.loss_total += self._sum(per_row) + penalty * w
        else:
            self.loss_total += float(np.dot(per_row.astype(np.float64), lw)) + penalty * w
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
                self._old = _signal.signal(_signal.SIGINT, self._handler)
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
            _signal.signal(_signal.SIGINT, self._old)
            self._old = None
        if self.pending and exc_type is None:
            self.pending = False
            raise KeyboardInterrupt


def want_pred(metrics: list, fused: bool) -> bool | str:
    """What the metrics need from a training step: nothing, the output, or (when the loss
    fused a softmax and every metric only takes an argmax) just the logits."""
    if not metrics:
        return False
    if fused and all(getattr(m, "argmax_based", False) for m in metrics):
        return "logits"
    return True


def should_validate(epoch: int, freq: Any) -> bool:
    if isinstance(freq, (int, np.integer)) and not isinstance(freq, bool):
        if freq <= 0:
            raise ValueError(f"validation_freq: expected a positive integer, got {freq}")
        return (epoch + 1) % int(freq) == 0
    if isinstance(freq, (list, tuple, set, range)):
        return (epoch + 1) in freq
    raise TypeError(f"validation_freq: expected an int or a list of epochs, got {freq!r}")


def _check_initial_epoch(initial_epoch: Any) -> None:
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
            or initial_epoch < 0:
        raise ValueError(f"initial_epoch: expected an integer >= 0, got {initial_epoch!r}")


def _batch(model: Any, source: Any, step: int, raw: Any, class_weight: Any, what: str) -> Any:
    """A checked batch of ``source`` (arrays and compiled batches are checked already)."""
    return raw if source.prepared else source.batch(model, step, raw, class_weight, what)


# ---------------------------------------------------------------------------- fit
@collective("fit")
def fit(model: Any, x: Any, y: Any = None, batch_size: int | None = None, epochs: int = 1,
        verbose: Any = "auto", callbacks: Any = None, validation_split: float = 0.0,
        validation_data: Any = None, shuffle: bool = True, class_weight: Any = None,
        sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: Any = None,
        validation_steps: Any = None, validation_batch_size: int | None = None,
        validation_freq: Any = 1) -> Any:
    """Train ``model``; returns its ``History`` (Keras semantics, see the module docstring).
    ``x`` is arrays or a batch source (``fastff.data_adapters``); ``validation_steps``
    applies where ``x`` or ``validation_data`` is a batch source."""
    V.check_compiled(model, "fit")
    if A.uses_batch_sources(x, validation_data):
        return _fit_sources(model, x, y, batch_size, epochs, verbose, callbacks,
                            validation_split, validation_data, shuffle, class_weight,
                            sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                            validation_batch_size, validation_freq)
    batch_size = V.check_positive_int(32 if batch_size is None else batch_size, "batch_size")
    epochs = V.check_positive_int(epochs, "epochs")
    _check_initial_epoch(initial_epoch)
    verbose = check_verbose(verbose)
    val_bs = V.check_positive_int(validation_batch_size or batch_size, "validation_batch_size")
    X, Y, SW = prepare_xy(model, x, y, sample_weight, class_weight)
    val = None
    if validation_data is not None:
        val = unpack_validation(model, validation_data)
    elif validation_split:
        X, Y, SW, val = split_validation(X, Y, SW, float(validation_split))
    n = X.shape[0]
    steps = n_batches(n, batch_size)
    if steps_per_epoch is not None:
        steps = min(steps, V.check_positive_int(steps_per_epoch, "steps_per_epoch"))

    bind_ops(model)
    model._build_optimizer()
    model._fused_flag = model._fused()
    if model._shuffle_seed is None:
        model._shuffle_seed = config.draw_seed()
    # data parallel (fastff.distribution): None in one process; the general engine then
    dist = distribution_lib.get_distribution()
    if dist is not None:
        # every rank must agree on these (an immediate ValueError on every rank, not a
        # watchdog timeout); then weights, optimizer and training state from rank 0
        dist.setup_fit(model, rows=n, batch_size=batch_size, steps=steps, epochs=epochs,
                       initial_epoch=int(initial_epoch), shuffle=bool(shuffle),
                       feature_shape=feature_shape(X), sample_weight=SW is not None,
                       validation_rows=None if val is None else len(val[0]))
    metrics = model._new_metrics()
    cbl = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
        callbacks, model=model, add_history=True,
        add_progbar=verbose != 0 and distribution_lib.is_chief(), verbose=verbose,
        epochs=epochs, steps=steps)
    wp = want_pred(metrics, model._fused_flag)
    model.stop_training = False
    val_source = None if val is None else ArrayBatches(model, *val, val_bs)
    # the engine, once for the call: compiled when every part of the model lowers
    plan = None
    Xc = single_array(X)  # (a functional Model's one input)
    if dist is None and SW is None and compiled.takes(model, Xc) and isinstance(Y, np.ndarray):
        plan = compiled.train_plan(model, batch_size)
    if plan is not None:
        engine: Any = compiled.CompiledEngine(model, plan, Xc, Y, batch_size, bool(shuffle), wp,
                                              steps)
        source: Any = engine
    else:
        engine = GeneralEngine(model, wp, dist, shard=True)
        source = ArrayBatches(model, X, Y, SW, batch_size, steps, bool(shuffle), dist,
                              model.on_device and device_resident(model, X, Y))
    with _StepBoundaryInterrupt() as interrupt:
        cbl.on_train_begin()
        logs = _epochs(model, engine, source, cbl, metrics, epochs, int(initial_epoch),
                       val_source, validation_freq, interrupt, dist=dist)
        cbl.on_train_end(logs)
    return cbl.history if cbl.history is not None else model.history


def _fit_sources(model, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                 validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                 steps_per_epoch, validation_steps, validation_batch_size,
                 validation_freq) -> Any:
    """``fit`` where ``x`` or ``validation_data`` is a batch source: the batches are checked
    one by one, the first one builds the model; the general engine steps them."""
    A.check_single_process("fit")
    epochs = V.check_positive_int(epochs, "epochs")
    _check_initial_epoch(initial_epoch)
    verbose = check_verbose(verbose)
    steps_per_epoch = V.check_positive_int(steps_per_epoch, "steps_per_epoch", allow_none=True)
    validation_steps = V.check_positive_int(validation_steps, "validation_steps",
                                            allow_none=True)
    if model._shuffle_seed is None:
        model._shuffle_seed = config.draw_seed()
    seed = model._shuffle_seed
    val_arrays = None
    if A.is_batch_source(x):
        A.check_no_arrays_args("fit", y=y, sample_weight=sample_weight,
                               validation_split=validation_split)
        source: Any = A.Source(x, steps_per_epoch, bool(shuffle), seed)
    else:  # arrays, with a batch source as validation_data
        batch_size = V.check_positive_int(32 if batch_size is None else batch_size,
                                          "batch_size")
        X, Y, SW = prepare_xy(model, x, y, sample_weight, class_weight)
        if validation_split and validation_data is None:
            X, Y, SW, val_arrays = split_validation(X, Y, SW, float(validation_split))
        source = ArrayBatches(model, X, Y, SW, batch_size, steps_per_epoch, bool(shuffle))
    val: Any = None
    if validation_data is not None:
        if A.is_batch_source(validation_data):
            val = A.Source(validation_data, validation_steps, False, seed)
        else:
            vbs = V.check_positive_int(validation_batch_size or batch_size or 32,
                                       "validation_batch_size")
            val = ArrayBatches(model, *unpack_validation(model, validation_data), vbs,
                               validation_steps)
    elif val_arrays is not None:
        vbs = V.check_positive_int(validation_batch_size or batch_size, "validation_batch_size")
        val = ArrayBatches(model, *val_arrays, vbs, validation_steps)

    # the first batch builds the model (its shapes), before the optimizer and callbacks
    it = source.epoch(int(initial_epoch))
    try:
        first = None
        if not model.built or not source.prepared:
            first = next(it, None)
            if first is None:
                raise ValueError("fit: the dataset or generator gave no batches")
            first = (first[0], _batch(model, source, first[0], first[1], class_weight, "fit"))
        bind_ops(model)
        model._build_optimizer()
        model._fused_flag = model._fused()
        metrics = model._new_metrics()
        cbl = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, model=model, add_history=True, add_progbar=verbose != 0,
            verbose=verbose, epochs=epochs, steps=source.steps)
        engine = GeneralEngine(model, want_pred(metrics, model._fused_flag))
        model.stop_training = False
        with _StepBoundaryInterrupt() as interrupt:
            cbl.on_train_begin()
            logs = _epochs(model, engine, source, cbl, metrics, epochs, int(initial_epoch),
                           val, validation_freq, interrupt, it=it, first=first,
                           class_weight=class_weight)
            cbl.on_train_end(logs)
    except BaseException:  # a Ctrl-C or error at any point still joins the source's workers
        A.close(it)
        raise
    return cbl.history if cbl.history is not None else model.history


def _epochs(model: Any, engine: Any, source: Any, cbl: Any, metrics: list, epochs: int,
            initial_epoch: int, val: Any, validation_freq: Any, interrupt: Any, *,
            dist: Any = None, it: Any = None, first: Any = None,
            class_weight: Any = None) -> dict:
    """The epochs of one ``fit``; returns the last epoch's logs."""
    watched = bool(metrics) or cbl.needs_batch_logs
    chunked = engine.name == "compiled" and not watched  # runs of steps per compiled call
    whole = (chunked and val is None and source.steps <= compiled.CHUNK_STEPS
             and all(type(cb) is History for cb in cbl.callbacks))
    batch_logs = cbl.needs_batch_logs
    sync_stop = dist is not None and dist.needs_step_sync(cbl)
    logs: dict = {}
    epoch = initial_epoch
    try:
        while epoch < epochs:
            if model.stop_training:
                break
            if whole:  # several whole epochs per compiled call
                logs = _whole_epochs(model, engine, cbl, epoch, epochs)
                interrupt.check()
                epoch += compiled.chunk_epochs(engine.steps, epochs - epoch)
                continue
            if chunked:
                cbl.on_epoch_begin(epoch)
                logs = _chunked_epoch(model, engine, epoch, interrupt)
            else:
                if it is None:
                    it = source.epoch(epoch)
                for m in metrics:
                    m.reset_state()
                tracker = make_tracker(model, metrics)
                cbl.on_epoch_begin(epoch)
                seen = 0
                try:
                    while True:
                        if first is not None:
                            batch = first[1]
                            first = None
                        else:
                            item = next(it, None)
                            if item is None:
                                break
                            batch = _batch(model, source, item[0], item[1], class_weight,
                                           "fit")
                        if batch_logs:
                            cbl.on_train_batch_begin(seen)
                        per_row, penalty, pred, yb, swb = engine.train_batch(batch)
                        if per_row is not None:  # (None: no rows for this rank)
                            tracker.update(per_row, penalty, yb, pred, swb, batch_part(batch))
                        seen += 1
                        interrupt.check()
                        if batch_logs:
                            cbl.on_train_batch_end(seen - 1, tracker.logs())
                        if sync_stop:
                            model.stop_training = dist.any(model.stop_training)
                        if model.stop_training:
                            break
                finally:
                    A.close(it)
                    it = None
                source.end_pass()
                if source.can_run_out:
                    short = source.steps is not None and seen < source.steps \
                        and not model.stop_training
                    if seen == 0 or short:
                        A.ran_out("fit", source.steps)
                        model.stop_training = True
                        if seen == 0:
                            break
                if dist is not None:
                    dist.gather_optimizer_state(model)
                logs = sorted_logs(tracker.logs() if dist is None else dist.reduce_logs(tracker))
            if val is not None and should_validate(epoch, validation_freq):
                vlogs = _evaluate(model, val, cbl, "validation_data", epoch)
                if vlogs is not None:  # Keras 3: sorted training keys, then sorted val_ keys
                    logs.update({"val_" + k: v for k, v in sorted_logs(vlogs).items()})
            cbl.on_epoch_end(epoch, logs)
            if dist is not None:  # stop on every rank or on none
                model.stop_training = dist.any(model.stop_training)
            epoch += 1
    finally:
        A.close(it)
    return logs


def _whole_epochs(model: Any, engine: Any, cbl: Any, epoch: int, epochs: int) -> dict:
    """Several whole epochs in one compiled call (only History watches: no batch hooks, no
    metrics, no validation)."""
    k = compiled.chunk_epochs(engine.steps, epochs - epoch)
    rows = batch_bounds(engine.steps - 1, engine.batch, engine.n)[1]
    for e in range(epoch, epoch + k):
        cbl.on_epoch_begin(e)
    totals = np.zeros(k)
    engine(epoch, epoch + k, 0, engine.steps, totals)
    logs: dict = {}
    for i in range(k):
        logs = {"loss": float(totals[i] / rows)}
        cbl.on_epoch_end(epoch + i, logs)
    return logs


def _chunked_epoch(model: Any, engine: Any, epoch: int, interrupt: Any) -> dict:
    """One epoch as runs of steps per compiled call, Ctrl-C and ``stop_training`` checked
    between the runs."""
    totals = np.zeros(1)
    done = 0
    s = 0
    steps = engine.steps
    while s < steps:
        s_hi = compiled.chunk_end(s, steps, model.stop_training)
        engine(epoch, epoch + 1, s, s_hi, totals)
        done += batch_bounds(s_hi - 1, engine.batch, engine.n)[1] - \
            batch_bounds(s, engine.batch, engine.n)[0]
        s = s_hi
        interrupt.check()
        if model.stop_training:
            break
    return {"loss": float(totals[0] / done) if done else 0.0}


# ---------------------------------------------------------------------------- evaluate
def _evaluate(model: Any, source: Any, cbl: Any, what: str = "evaluate",
              epoch: int = 0) -> dict | None:
    """Loss and metrics over one pass of ``source`` (None when a batch source gave no
    batches). The metrics are private copies (concurrent evaluate calls), written back at the
    end: as Keras, the model's metrics then hold this evaluation."""
    shared = model._new_metrics()
    metrics = _metric_copies.private(shared)
    tracker = make_tracker(model, metrics)
    fused = model._fused()
    dist = distribution_lib.get_distribution() if source.kind == "arrays" else None
    if dist is not None:  # data parallel: each rank its rows of each batch, sums combined
        dist.check_evaluation_set(source.X, source.Y, source.SW)
        source = ArrayBatches(model, source.X, source.Y, source.SW, source.batch_size,
                              dist=dist)
    batch_logs = cbl is not None and cbl.needs_test_batch_logs
    if cbl is not None:
        cbl.on_test_begin()
    it = source.epoch(epoch)
    seen = 0
    try:
        for step, raw in it:
            batch = _batch(model, source, step, raw, None, what)
            xb, yb, swb = batch[:3]
            part = batch_part(batch)
            if seen == 0 and not source.prepared:
                bind_ops(model)
            if batch_logs:
                cbl.on_test_batch_begin(seen)
            if xb.shape[0]:  # (data parallel: a short final batch may leave a rank no rows)
                ws = model._predict_workspaces(xb.shape[0])
                per_row, penalty, pred = loss_and_pred(
                    model, xb, yb, loss_weights(model, swb, xb, part), ws, fused)
                tracker.update(per_row, penalty, yb, pred, swb, part)
            seen += 1
            if batch_logs:
                cbl.on_test_batch_end(seen - 1, tracker.logs())
    finally:
        A.close(it)
    source.end_pass()
    if seen == 0 and source.can_run_out:
        A.warn_empty(what)
        return None
    logs = tracker.logs() if dist is None else dist.reduce_logs(tracker)
    _metric_copies.write_back(shared, metrics)
    if cbl is not None:
        cbl.on_test_end(logs)
    return logs


@collective("evaluate")
def evaluate(model: Any, x: Any, y: Any = None, batch_size: int | None = None,
             verbose: Any = "auto", sample_weight: Any = None, steps: Any = None,
             callbacks: Any = None, return_dict: bool = False) -> Any:
    """Loss and metrics on ``(x, y)`` or a batch source: float, ``[loss, *metrics]`` or a
    dict (``steps`` applies to a batch source)."""
    V.check_compiled(model, "evaluate")
    if A.is_batch_source(x):
        A.check_single_process("evaluate")
        A.check_no_arrays_args("evaluate", y=y, sample_weight=sample_weight)
        verbose = check_verbose(verbose)
        steps = V.check_positive_int(steps, "steps", allow_none=True)
        source: Any = A.Source(x, steps, False, None)
        n_steps = source.steps
    else:
        batch_size = V.check_positive_int(32 if batch_size is None else batch_size,
                                          "batch_size")
        verbose = check_verbose(verbose)
        X, Y, SW = prepare_xy(model, x, y, sample_weight)
        bind_ops(model)
        source = ArrayBatches(model, X, Y, SW, batch_size)
        n_steps = n_batches(distribution_lib.local_rows(X.shape[0]), batch_size)
    cbl = None
    if callbacks or verbose:
        cbl = CallbackList(callbacks, model=model,
                           add_progbar=verbose != 0 and distribution_lib.is_chief(),
                           verbose=verbose, epochs=1, steps=n_steps)
    logs = _evaluate(model, source, cbl)
    if logs is None:
        raise ValueError("evaluate: the dataset or generator gave no batches")
    if return_dict:
        return sorted_logs(logs)
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


# ---------------------------------------------------------------------------- predict
def predict(model: Any, x: Any, batch_size: int | None = None, verbose: Any = "auto",
            callbacks: Any = None, single_batch: bool = False, steps: Any = None) -> Any:
    """Model outputs for ``x`` (arrays, in batches; or a batch source, every batch): a new
    array (workspaces are per thread)."""
    st = model._fast_stack
    if (st is not None and compiled.ENABLED and type(x) is np.ndarray
            and type(verbose) is int and verbose == 0 and not callbacks and x.ndim == 2
            and x.dtype == st.dtype and x.shape[0]
            and x.shape[1] == st.n_in and x.flags.c_contiguous
            and (batch_size is None or type(batch_size) is int and batch_size > 0)
            and model._layout_version == TRAINABLE_VERSION[0] and st.key == compiled._key(model)
            and compiled.same_signature(st, model.network.layers)):
        # compiled whole forward of a Dense stack: the cheapest correct checks only
        return compiled.predict_batches(model, st, x, x.shape[0] if single_batch else batch_size)
    if A.is_batch_source(x):
        A.check_single_process("predict")
        verbose = check_verbose(verbose)
        steps = V.check_positive_int(steps, "steps", allow_none=True)
        source: Any = A.Source(x, steps, False, None)
        cbl = CallbackList(callbacks, model=model, add_progbar=verbose != 0, verbose=verbose,
                           epochs=1, steps=source.steps)
        outs = _predict(model, source, cbl, None)
        if not outs:
            raise ValueError("predict: the dataset or generator gave no batches")
        return _concatenate(outs)
    batch_size = V.check_positive_int(
        config.PREDICT_BATCH_SIZE if batch_size is None else batch_size, "batch_size")
    verbose = check_verbose(verbose)
    X = prepare_x(model, x)
    bind_ops(model)
    n = X.shape[0]
    if single_batch:
        batch_size = n
    if n and not callbacks and not verbose and compiled.takes(model, single_array(X)):
        st = compiled.predict_plan(model)
        if st is not None:
            return compiled.predict_batches(model, st, single_array(X), batch_size)
    if n <= batch_size and not callbacks and not verbose:  # one batch
        return infer(model, X, model._predict_workspaces(n)).copy()
    cbl = CallbackList(callbacks, model=model, add_progbar=verbose != 0, verbose=verbose,
                       epochs=1, steps=n_batches(n, batch_size))
    return _predict(model, _XBatches(X, batch_size), cbl, n)


class _XBatches:
    """Inputs alone as a batch source (``predict``), cut by ``batch_bounds``."""

    kind = "arrays"
    prepared = True
    can_run_out = False

    def __init__(self, X: Any, batch_size: int) -> None:
        self.X, self.batch_size, self.n = X, batch_size, X.shape[0]
        self.steps = n_batches(self.n, batch_size)

    def epoch(self, e: int) -> Any:
        for step in range(self.steps):
            s, e_ = batch_bounds(step, self.batch_size, self.n)
            yield step, self.X[s:e_]

    def end_pass(self) -> None:
        pass


def _predict(model: Any, source: Any, cbl: Any, n: int | None) -> Any:
    """The outputs of every batch of ``source``: one array of ``n`` rows when ``n`` is known
    (arrays), else the list of the batches' outputs."""
    batch_logs = cbl.needs_predict_batch_logs
    out: Any = None
    outs: list = []
    s = 0
    cbl.on_predict_begin()
    it = source.epoch(0)
    try:
        for step, raw in it:
            if source.prepared:
                xb = raw
            else:
                xb = source.inputs(model, step, raw, "predict")
                if not outs:
                    bind_ops(model)
            if batch_logs:
                cbl.on_predict_batch_begin(step if n is not None else len(outs))
            if n is None and getattr(model, "_output_kind", None) is not None:
                h = model.predict_on_batch(xb)  # several outputs
            else:
                h = infer(model, xb, model._predict_workspaces(xb.shape[0]))
            if n is None:
                h = h.copy() if isinstance(h, np.ndarray) else h
                outs.append(h)
                shown = h
            else:
                if out is None:
                    out = np.empty((n, *h.shape[1:]), dtype=h.dtype)
                e = s + h.shape[0]
                out[s:e] = h
                shown = out[s:e]
                s = e
                outs.append(None)
            if batch_logs:
                cbl.on_predict_batch_end(len(outs) - 1, {"outputs": shown})
    finally:
        A.close(it)
    source.end_pass()
    cbl.on_predict_end()
    return out if n is not None else outs


def _concatenate(outs: list) -> Any:
    if isinstance(outs[0], dict):
        return {k: np.concatenate([o[k] for o in outs], axis=0) for k in outs[0]}
    if isinstance(outs[0], (list, tuple)):
        return [np.concatenate([o[i] for o in outs], axis=0) for i in range(len(outs[0]))]
    return np.concatenate(outs, axis=0)


# ---------------------------------------------------------------------------- one batch
@collective("train_on_batch")
def train_on_batch(model: Any, x: Any, y: Any, sample_weight: Any = None,
                   class_weight: Any = None, return_dict: bool = False) -> Any:
    """One optimizer step on ``(x, y)``; returns the batch loss (and metrics)."""
    V.check_compiled(model, "train_on_batch")
    X, Y, SW = prepare_xy(model, x, y, sample_weight, class_weight)
    bind_ops(model)
    model._build_optimizer()
    model._fused_flag = model._fused()
    metrics = model._new_metrics()
    tracker = make_tracker(model, metrics)
    dist = distribution_lib.get_distribution()
    part = None
    if dist is not None:  # data parallel: (x, y) is the global batch, this rank takes its rows
        dist.setup_once(model)
        s, e, part = dist.split_batch(0, X.shape[0], SW)
        X, Y, SW = X[s:e], Y[s:e], None if SW is None else SW[s:e]
    per_row, penalty, pred = train_step(model, X, Y, loss_weights(model, SW, X, part),
                                        want_pred(metrics, model._fused_flag), dist,
                                        1.0 if part is None else part.share)
    if X.shape[0]:
        tracker.update(per_row, penalty, Y, pred, SW, part)
    logs = tracker.logs() if dist is None else dist.reduce_logs(tracker)
    if return_dict:
        return sorted_logs(logs)
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
