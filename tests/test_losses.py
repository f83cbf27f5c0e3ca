"""Losses: values against formulas written out in NumPy, fused == unfused, from_logits,
sample weights, names; gradient checks of every loss through a model."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import layers as L
from fastff import losses
from fastff.testing import check_grads

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((6, 4))
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
LABELS = np.array([0, 3, 1, 2, 3, 0])
ONEHOT = np.eye(4)[LABELS]


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_categorical_crossentropy_values():
    expected = -np.log(PROBS[np.arange(6), LABELS])
    np.testing.assert_allclose(losses.categorical_crossentropy(ONEHOT, PROBS), expected, rtol=1e-6)
    np.testing.assert_allclose(
        losses.categorical_crossentropy(ONEHOT, LOGITS, from_logits=True), expected, rtol=1e-10)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(LABELS, PROBS), expected,
                               rtol=1e-6)
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(LABELS, LOGITS, from_logits=True), expected,
        rtol=1e-10)
    assert losses.CategoricalCrossentropy()(ONEHOT, PROBS) == pytest.approx(expected.mean())


def test_binary_crossentropy_values():
    t = RNG.integers(0, 2, (6, 4)).astype(float)
    p = _sigmoid(LOGITS)
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p), axis=1)
    np.testing.assert_allclose(losses.binary_crossentropy(t, p), expected, rtol=1e-6)
    np.testing.assert_allclose(losses.binary_crossentropy(t, LOGITS, from_logits=True), expected,
                               rtol=1e-10)


def test_regression_losses_values():
    t = RNG.standard_normal((6, 4))
    e = LOGITS - t
    np.testing.assert_allclose(losses.mean_squared_error(t, LOGITS), np.mean(e**2, 1))
    np.testing.assert_allclose(losses.mean_absolute_error(t, LOGITS), np.mean(np.abs(e), 1))
    a = np.abs(e)
    hub = np.where(a <= 1, 0.5 * e**2, a - 0.5)
    np.testing.assert_allclose(losses.huber(t, LOGITS), hub.mean(1))
    np.testing.assert_allclose(losses.Huber(delta=0.5).call(t, LOGITS),
                               np.where(a <= 0.5, 0.5 * e**2, 0.5 * (a - 0.25)).mean(1))


def test_probabilities_are_clipped_like_keras():
    p = np.array([[1.0, 0.0]])
    val = losses.categorical_crossentropy(np.array([[0.0, 1.0]]), p)
    assert np.isfinite(val).all() and val[0] == pytest.approx(-np.log(1e-7), rel=1e-6)


def test_fused_gradient_is_softmax_minus_onehot():
    """The lecture's err(root) = P(y|x) − e_y (divided by the batch size for the mean)."""
    ops = fastff.backend.get_ops("numpy")
    per_row, g = losses.SparseCategoricalCrossentropy().forward_logits(ops, LOGITS, LABELS)
    np.testing.assert_allclose(g, (PROBS - ONEHOT) / 6, rtol=1e-10)
    np.testing.assert_allclose(per_row, -np.log(PROBS[np.arange(6), LABELS]), rtol=1e-10)


def test_fused_matches_unfused_in_float64():
    ops = fastff.backend.get_ops()
    lo = losses.CategoricalCrossentropy()
    r1, g1 = lo.forward_logits(ops, LOGITS, ONEHOT)
    r2, _ = lo.forward(ops, PROBS, ONEHOT)
    np.testing.assert_allclose(r1, r2, rtol=1e-7)
    # chain rule through softmax: dL/dz = J_softmaxᵀ dL/dp
    _, gp = lo.forward(ops, PROBS, ONEHOT)
    gz = PROBS * (gp - np.sum(gp * PROBS, axis=1, keepdims=True))
    np.testing.assert_allclose(gz, g1, atol=1e-10)


def test_sample_weight_sum_over_batch_size():
    w = np.array([1.0, 2.0, 0.0, 1.0, 1.0, 3.0])
    ops = fastff.backend.get_ops("numpy")
    lo = losses.MeanSquaredError()
    t = np.zeros((6, 4))
    per_row, g = lo.forward(ops, LOGITS, t, w)
    np.testing.assert_allclose(g, 2 * LOGITS / 4 * (w / 6)[:, None])  # Keras: Σ w l / n
    assert lo(t, LOGITS, sample_weight=w) == pytest.approx(np.sum(per_row * w) / 6)


@pytest.mark.parametrize("name,cls", [
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
    ("binary_crossentropy", losses.BinaryCrossentropy),
    ("mse", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError),
    ("mae", losses.MeanAbsoluteError), ("huber", losses.Huber),
])
def test_get_by_name_and_roundtrip(name, cls):
    lo = losses.get(name)
    assert isinstance(lo, cls)
    assert isinstance(losses.deserialize(losses.serialize(lo)), cls)


def test_get_by_keras_function_and_unknown():
    assert isinstance(losses.get(losses.mean_squared_error), losses.MeanSquaredError)
    with pytest.raises(ValueError, match="Did you mean 'mse'"):
        losses.get("mes")


def test_from_logits_roundtrip():
    lo = losses.deserialize(losses.serialize(losses.BinaryCrossentropy(from_logits=True)))
    assert lo.from_logits and lo.fuses_with is None
    assert losses.BinaryCrossentropy().fuses_with == "sigmoid"


CASES = [
    ("sparse_categorical_crossentropy", lambda r: r.integers(0, 3, 5), "softmax"),
    ("categorical_crossentropy", lambda r: np.eye(3)[r.integers(0, 3, 5)], "softmax"),
    ("binary_crossentropy", lambda r: r.integers(0, 2, (5, 3)).astype(float), "sigmoid"),
    ("mean_squared_error", lambda r: r.standard_normal((5, 3)), None),
    ("mean_absolute_error", lambda r: r.standard_normal((5, 3)), None),
    ("huber", lambda r: 2 * r.standard_normal((5, 3)), None),
]


GRAD_CASES = [(name, make_y, act, mode) for name, make_y, act in CASES
              for mode in (["fused", "from_logits", "unfused"] if act else ["fused"])]


@pytest.mark.parametrize("name,make_y,act,mode", GRAD_CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in GRAD_CASES])
def test_loss_grads_through_model(name, make_y, act, mode):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 4)), make_y(rng)
    loss = losses.get(name)
    out_act = act
    if mode == "from_logits":
        loss, out_act = type(loss)(from_logits=True), None
    layers = [L.Input((4,)), L.Dense(6, activation="tanh"), L.Dense(3, activation=out_act)]
    if mode == "unfused":  # probabilities from an output the loss does not fuse with
        layers[-1] = L.Dense(3, activation="sigmoid" if act == "softmax" else "softplus")
        layers.append(L.Activation("tanh" if act == "sigmoid" else "linear"))
    model = fastff.Sequential(layers)
    model.compile("sgd", loss)
    assert model._fused() == (mode == "fused" and act is not None)
    assert check_grads(model, x, y) < 1e-6
