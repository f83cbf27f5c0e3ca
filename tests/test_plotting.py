"""``plot_history``: a PNG of loss and metrics, train vs validation; matplotlib optional."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fastff import utils
from fastff.plotting import plot_history

pytest.importorskip("matplotlib")

HISTORY = {"loss": [1.0, 0.5, 0.3, 0.2], "val_loss": [1.1, 0.7, 0.5, 0.45],
           "accuracy": [0.5, 0.8, 0.9, 0.95], "val_accuracy": [0.45, 0.7, 0.8, 0.85],
           "learning_rate": [0.1, 0.1, 0.05, 0.05]}


def test_png_written_without_touching_pyplot(tmp_path):
    had_pyplot = "matplotlib.pyplot" in sys.modules
    path = tmp_path / "curves.png"
    assert plot_history(HISTORY, path, title="t") == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


def test_panels_and_series():
    fig = plot_history(HISTORY)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy"]  # loss first; learning_rate is not a curve
    loss_ax = fig.axes[0]
    assert [ln.get_label() for ln in loss_ax.get_lines()] == ["train", "validation"]
    x, y = loss_ax.get_lines()[1].get_data()
    assert list(x) == [1, 2, 3, 4] and np.allclose(y, HISTORY["val_loss"])


def test_history_object_and_sparse_validation(tmp_path):
    class History:
        history = {"loss": [3, 2, 1, 0.5], "val_loss": [2.5, 0.7]}  # validation_freq=2
        epoch = [0, 1, 2, 3]

    fig = plot_history(History())
    x, _ = fig.axes[0].get_lines()[1].get_data()
    assert list(x) == [2, 4]
    assert utils.plot_history(History(), tmp_path / "u.png") == str(tmp_path / "u.png")


def test_bad_inputs():
    with pytest.raises(TypeError, match="History"):
        plot_history([1, 2, 3])
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_history({"loss": []})


def test_missing_matplotlib_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r"fastff\[plot\]"):
        plot_history(HISTORY, "never.png")
