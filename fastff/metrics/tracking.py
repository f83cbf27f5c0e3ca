"""``model.metrics``: Keras 3's list of metric objects — the loss tracker (a ``Mean`` named
``loss``) first, then the compiled metrics in one ``CompileMetrics`` container — holding the
values of the last ``fit``/``evaluate`` loop the model ran (after a ``fit`` that validated:
the validation pass, as in Keras, whose evaluate resets the same objects)."""

from __future__ import annotations

from typing import Any

from fastff.metrics.base import Mean, Metric

__all__ = ["CompileMetrics", "model_metrics", "note_loss"]


class CompileMetrics(Metric):
    """The compiled metrics as one metric (Keras 3's ``compile_metrics``): ``metrics`` is the
    list, ``result()`` a dict of log name → value, ``reset_state`` resets every one."""

    def __init__(self, metrics: list, names: list[str] | None = None,
                 name: str = "compile_metrics") -> None:
        super().__init__(name)  # before the list: wrapping the metrics does not reset them
        self.metrics = list(metrics)
        self._names = list(names) if names is not None else [m.name for m in self.metrics]

    def reset_state(self) -> None:
        Metric.reset_state(self)
        for m in self.__dict__.get("metrics", []):
            m.reset_state()

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        for m in self.metrics:
            m.update_state(y_true, y_pred, sample_weight)

    def result(self) -> dict:
        from fastff.metrics.compiled import log_value

        return {n: log_value(m.result()) for n, m in zip(self._names, self.metrics)}


def _loss_value(result: Any, prefer_val: bool) -> float | None:
    """The loss in what a loop returned: a History, a float, a list or a dict of logs."""
    hist = getattr(result, "history", None)
    if isinstance(hist, dict):
        key = "val_loss" if prefer_val and hist.get("val_loss") else "loss"
        values = hist.get(key) or []
        return float(values[-1]) if values else None
    if isinstance(result, dict):
        return float(result["loss"]) if "loss" in result else None
    if isinstance(result, (list, tuple)):
        return float(result[0]) if result else None
    try:
        return float(result)
    except (TypeError, ValueError):
        return None


def note_loss(model: Any, result: Any, prefer_val: bool = False) -> Any:
    """Set the model's loss tracker to the loss ``result`` reports; returns ``result``."""
    value = _loss_value(result, prefer_val)
    if value is not None:
        tracker = _loss_tracker(model)
        tracker.reset_state()
        tracker.total, tracker.count = value, 1.0
    return result


def _loss_tracker(model: Any) -> Mean:
    tracker = model.__dict__.get("_loss_tracker")
    if tracker is None:
        tracker = model.__dict__["_loss_tracker"] = Mean(name="loss")
    return tracker


def model_metrics(model: Any) -> list:
    """``[loss tracker, CompileMetrics]`` (just the tracker without compiled metrics; empty
    before ``compile``)."""
    if getattr(model, "optimizer", None) is None and getattr(model, "loss", None) is None:
        return []
    last = model.__dict__.get("_last_metrics")
    if last is None:
        last = model.__dict__["_last_metrics"] = model._new_metrics()
    out: list = [_loss_tracker(model)]
    if len(last):
        out.append(CompileMetrics(last, getattr(last, "names", None)))
    return out
