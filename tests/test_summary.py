"""``model.summary()``: Keras's layout, exact text for known models."""

from __future__ import annotations

import fastff
from fastff import layers
from fastff.summary import format_bytes, summary

MLP = """\
Model: "mnist_mlp"
______________________________________________________________________
 Layer (type)                    Output Shape                  Param #
======================================================================
 hidden (Dense)                  (None, 256)                   200,960
 drop (Dropout)                  (None, 256)                         0
 output_with_a_really_l… (Dense) (None, 10)                      2,570
======================================================================
 Total params: 203,530 (795.04 KB)
 Trainable params: 203,530 (795.04 KB)
 Non-trainable params: 0 (0.00 B)
______________________________________________________________________"""


def _mlp(dtype=None):
    return fastff.Sequential([
        layers.Input((784,)),
        layers.Dense(256, activation="relu", name="hidden"),
        layers.Dropout(0.2, name="drop"),
        layers.Dense(10, activation="softmax", name="output_with_a_really_long_name"),
    ], name="mnist_mlp", dtype=dtype)


def test_exact_text_via_print_fn():
    lines: list[str] = []
    _mlp().summary(print_fn=lines.append)
    assert "\n".join(lines) == MLP


def test_default_prints_to_stdout(capsys):
    _mlp().summary()
    assert capsys.readouterr().out == MLP + "\n"


def test_frozen_layer_float64_and_line_length():
    model = _mlp(dtype="float64")
    model.layers[0].trainable = False
    lines: list[str] = []
    summary(model, print_fn=lines.append, line_length=50)
    assert lines[1] == "_" * 50
    assert lines[2] == " Layer (type)           Output Shape       Param #"
    assert lines[4] == " hidden (Dense)         (None, 256)        200,960"
    assert lines[-4:-1] == [" Total params: 203,530 (1.55 MB)",
                            " Trainable params: 2,570 (20.08 KB)",
                            " Non-trainable params: 200,960 (1.53 MB)"]


def test_unbuilt_model():
    model = fastff.Sequential([layers.Dense(4, name="a"), layers.Dense(2, name="b")], name="u")
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert lines[4] == " a (Dense)                       ?                         0 (unbuilt)"
    assert lines[-4] == " Total params: 0 (0.00 B)"


def test_format_bytes():
    assert [format_bytes(n) for n in (0, 1023, 1024, 9640, 5 << 20, 3 << 30)] == [
        "0.00 B", "1023.00 B", "1.00 KB", "9.41 KB", "5.00 MB", "3.00 GB"]
