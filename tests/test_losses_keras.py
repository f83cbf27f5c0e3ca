"""Keras 3's further losses and label smoothing: values against the formulas written out in
NumPy (and Keras's documented examples), central-difference gradients in float64 (given
probabilities and, where fused, logits), names, configs and saving of compiled models."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import layers as L
from fastff import losses
from fastff.backend import get_ops
from fastff.testing import check_grads

EPS = 1e-7
RNG = np.random.default_rng(3)
Z = RNG.standard_normal((6, 4))
P = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
S = 1 / (1 + np.exp(-Z))
ONEHOT = np.eye(4)[[0, 3, 1, 2, 3, 0]]
BITS = RNG.integers(0, 2, (6, 4)).astype(float)
REAL = RNG.standard_normal((6, 4))
POS_T = RNG.random((6, 4)) + 0.2
POS_P = RNG.random((6, 4)) + 0.2


def _bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def test_label_smoothing_values():
    t = ONEHOT * 0.8 + 0.2 / 4
    want = -np.sum(t * np.log(P), 1)
    np.testing.assert_allclose(losses.categorical_crossentropy(ONEHOT, P, label_smoothing=0.2),
                               want, rtol=1e-6)
    np.testing.assert_allclose(
        losses.categorical_crossentropy(ONEHOT, Z, from_logits=True, label_smoothing=0.2), want,
        rtol=1e-10)
    tb = BITS * 0.9 + 0.05
    np.testing.assert_allclose(losses.binary_crossentropy(BITS, S, label_smoothing=0.1),
                               _bce(tb, S).mean(1), rtol=1e-6)
    np.testing.assert_allclose(
        losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1).call(BITS, Z),
        _bce(tb, S).mean(1), rtol=1e-8)
    with pytest.raises(TypeError):
        losses.SparseCategoricalCrossentropy(label_smoothing=0.1)  # not in Keras 3 either
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)


def _focal_binary(t, p, gamma, alpha=None, ls=0.0):
    t = t * (1 - ls) + 0.5 * ls
    pt = t * p + (1 - t) * (1 - p)
    out = (1 - pt) ** gamma * _bce(t, p)
    if alpha is not None:
        out = out * (t * alpha + (1 - t) * (1 - alpha))
    return out.mean(1)


def _focal_cat(t, p, gamma, alpha=0.25, ls=0.0):
    t = t * (1 - ls) + ls / t.shape[1]
    q = np.clip(p / p.sum(1, keepdims=True), EPS, 1 - EPS)
    return np.sum(alpha * (1 - q) ** gamma * -t * np.log(q), 1)


def test_focal_values_and_keras_examples():
    np.testing.assert_allclose(losses.binary_focal_crossentropy(BITS, S, gamma=2.0),
                               _focal_binary(BITS, S, 2.0), rtol=1e-6)
    np.testing.assert_allclose(
        losses.binary_focal_crossentropy(BITS, Z, apply_class_balancing=True, alpha=0.3,
                                         gamma=3.0, from_logits=True, label_smoothing=0.1),
        _focal_binary(BITS, S, 3.0, 0.3, 0.1), rtol=1e-8)
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(ONEHOT, P, gamma=1.5),
                               _focal_cat(ONEHOT, P, 1.5), rtol=1e-6)
    np.testing.assert_allclose(
        losses.categorical_focal_crossentropy(ONEHOT, Z, alpha=[0.1, 0.2, 0.3, 0.4],
                                              from_logits=True, label_smoothing=0.1),
        _focal_cat(ONEHOT, P, 2.0, np.array([0.1, 0.2, 0.3, 0.4]), 0.1), rtol=1e-8)
    # values from Keras's docstrings
    yt, yp = np.array([0, 1, 0, 0.0]), np.array([-18.6, 0.51, 2.94, -12.8])
    assert losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)(yt, yp) == \
        pytest.approx(0.691, abs=5e-4)
    assert losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=2.0,
                                          from_logits=True)(yt, yp) == pytest.approx(0.51, abs=5e-3)
    np.testing.assert_allclose(
        losses.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], gamma=2.0),
        [0.330, 0.206], atol=5e-4)
    np.testing.assert_allclose(
        losses.categorical_focal_crossentropy([[0, 1, 0], [0, 0, 1]],
                                              [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]]),
        [2.63401289e-04, 6.75912094e-01], rtol=1e-6)


def test_other_loss_values():
    tc, pc = np.clip(P[::-1], EPS, 1), np.clip(P, EPS, 1)
    np.testing.assert_allclose(losses.kl_divergence(P[::-1], P), np.sum(tc * np.log(tc / pc), 1))
    np.testing.assert_allclose(losses.poisson(POS_T, POS_P),
                               np.mean(POS_P - POS_T * np.log(POS_P + EPS), 1))
    np.testing.assert_allclose(losses.log_cosh(REAL, Z), np.mean(np.log(np.cosh(Z - REAL)), 1))
    s = 2 * BITS - 1
    np.testing.assert_allclose(losses.hinge(BITS, Z), np.mean(np.maximum(1 - s * Z, 0), 1))
    np.testing.assert_allclose(losses.hinge(s, Z), np.mean(np.maximum(1 - s * Z, 0), 1))
    np.testing.assert_allclose(losses.squared_hinge(BITS, Z),
                               np.mean(np.maximum(1 - s * Z, 0) ** 2, 1))
    pos = np.sum(ONEHOT * Z, 1)
    neg = np.max((1 - ONEHOT) * Z, 1)
    np.testing.assert_allclose(losses.categorical_hinge(ONEHOT, Z), np.maximum(neg - pos + 1, 0))
    nt = REAL / np.linalg.norm(REAL, axis=1, keepdims=True)
    nz = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    np.testing.assert_allclose(losses.cosine_similarity(REAL, Z), -np.sum(nt * nz, 1))
    np.testing.assert_allclose(
        losses.mean_squared_logarithmic_error(POS_T, POS_P),
        np.mean((np.log(POS_P + 1) - np.log(POS_T + 1)) ** 2, 1))
    np.testing.assert_allclose(losses.mean_absolute_percentage_error(POS_T, POS_P),
                               100 * np.mean(np.abs(POS_T - POS_P) / POS_T, 1))
    np.testing.assert_allclose(losses.cosine_similarity([[0., 1.], [1., 1.], [1., 1.]],
                                                        [[1., 0.], [1., 1.], [-1., -1.]]),
                               [0, -1, 1], atol=1e-12)
    assert losses.kld is losses.kl_divergence and losses.MAPE is losses.mape


# (loss, targets, predictions in the loss's domain) for the gradient checks
GRAD_CASES = [
    ("cce_smooth", lambda: losses.CategoricalCrossentropy(label_smoothing=0.2), ONEHOT, P),
    ("bce_smooth", lambda: losses.BinaryCrossentropy(label_smoothing=0.1), BITS, S),
    ("bfocal", lambda: losses.BinaryFocalCrossentropy(gamma=2.0), BITS, S),
    ("bfocal_bal", lambda: losses.BinaryFocalCrossentropy(True, 0.3, 1.5, label_smoothing=0.1),
     BITS, S),
    ("cfocal", lambda: losses.CategoricalFocalCrossentropy(gamma=2.0, label_smoothing=0.1),
     ONEHOT, P),
    ("cfocal_alpha", lambda: losses.CategoricalFocalCrossentropy([0.1, 0.2, 0.3, 0.4], 0.5),
     ONEHOT, P * 3),
    ("kld", losses.KLDivergence, P[::-1], P),
    ("poisson", losses.Poisson, POS_T, POS_P),
    ("log_cosh", losses.LogCosh, REAL, Z),
    ("hinge", losses.Hinge, BITS, Z * 3),
    ("squared_hinge", losses.SquaredHinge, BITS, Z),
    ("categorical_hinge", losses.CategoricalHinge, ONEHOT, Z),
    ("cosine", losses.CosineSimilarity, REAL, Z),
    ("msle", losses.MeanSquaredLogarithmicError, POS_T, POS_P),
    ("mape", losses.MeanAbsolutePercentageError, POS_T, POS_P),
]


def _numeric_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


@pytest.mark.parametrize("name,make,t,p", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_by_central_differences(name, make, t, p):
    ops = get_ops("numpy")
    loss = make()
    w = np.linspace(0.5, 2.0, t.shape[0])
    tt = loss.prepare_targets(t, np.dtype(np.float64))

    def mean(fn, x):
        per_row, _ = fn(ops, x, tt, w)
        return float(np.dot(per_row, w) / len(w))

    _, g = loss.forward(ops, p.copy(), tt, w)
    np.testing.assert_allclose(g, _numeric_grad(lambda x: mean(loss.forward, x), p),
                               atol=1e-7, rtol=1e-5)
    if loss.fuses_with is not None:  # the fused form, given logits
        _, gz = loss.forward_logits(ops, Z.copy(), tt, w)
        np.testing.assert_allclose(gz, _numeric_grad(lambda x: mean(loss.forward_logits, x), Z),
                                   atol=1e-7, rtol=1e-5)
        act = S if loss.fuses_with == "sigmoid" else P
        per_fused, _ = loss.forward_logits(ops, Z.copy(), tt, None)
        per_probs, _ = loss.forward(ops, act, tt, None)
        np.testing.assert_allclose(per_fused, per_probs, rtol=1e-6)


MODEL_CASES = [
    (lambda: losses.CategoricalCrossentropy(label_smoothing=0.1), "softmax", "onehot"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=0.2), "sigmoid", "bits"),
    (lambda: losses.BinaryFocalCrossentropy(apply_class_balancing=True), "sigmoid", "bits"),
    (lambda: losses.CategoricalFocalCrossentropy(), "softmax", "onehot"),
    (losses.KLDivergence, "softmax", "probs"),
    (losses.Poisson, "softplus", "pos"),
    (losses.CosineSimilarity, None, "real"),
    (losses.LogCosh, None, "real"),
]


def _targets(kind, rng, n=5, k=3):
    if kind == "onehot":
        return np.eye(k)[rng.integers(0, k, n)]
    if kind == "bits":
        return rng.integers(0, 2, (n, k)).astype(float)
    if kind == "probs":
        q = rng.random((n, k)) + 0.1
        return q / q.sum(1, keepdims=True)
    if kind == "pos":
        return rng.random((n, k)) * 3
    return rng.standard_normal((n, k))


@pytest.mark.parametrize("make,act,kind", MODEL_CASES, ids=[f"{c[1]}-{c[2]}-{i}" for i, c in
                                                            enumerate(MODEL_CASES)])
def test_gradients_through_a_model(make, act, kind):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 4)), _targets(kind, rng)
    model = fastff.Sequential([L.Input((4,)), L.Dense(6, activation="tanh"),
                               L.Dense(3, activation=act)])
    model.compile("sgd", make())
    assert model._fused() == (act in ("softmax", "sigmoid"))
    assert check_grads(model, x, y) < 1e-6


def test_smoothed_losses_fuse_and_train_as_the_formula():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 4))
    y = np.eye(3)[rng.integers(0, 3, 40)]
    model = fastff.Sequential([L.Input((4,)), L.Dense(3, activation="softmax")])
    model.compile(fastff.optimizers.SGD(0.0), losses.CategoricalCrossentropy(label_smoothing=0.3),
                  metrics=["accuracy"])
    assert model._fused()
    hist = model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    p = model.predict(x, verbose=0)
    t = y * 0.7 + 0.1
    assert hist.history["loss"][0] == pytest.approx(np.mean(-np.sum(t * np.log(p), 1)), rel=1e-5)
    # the metric sees the user's one-hot labels
    assert hist.history["accuracy"][0] == pytest.approx(np.mean(p.argmax(1) == y.argmax(1)))


NAMES = ["binary_focal_crossentropy", "categorical_focal_crossentropy", "kl_divergence", "kld",
         "poisson", "log_cosh", "logcosh", "hinge", "squared_hinge", "categorical_hinge",
         "cosine_similarity", "mean_squared_logarithmic_error", "msle",
         "mean_absolute_percentage_error", "mape", "KLDivergence", "BinaryFocalCrossentropy"]


@pytest.mark.parametrize("name", NAMES)
def test_by_name_in_compile_and_fit(name):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 4))
    y = np.eye(3)[rng.integers(0, 3, 24)]
    model = fastff.Sequential([L.Input((4,)), L.Dense(3, activation="softmax")])
    model.compile("adam", name)
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert losses.get(name).name == type(losses.get(name))().name


CONFIGS = [
    losses.CategoricalCrossentropy(label_smoothing=0.1, from_logits=True),
    losses.BinaryCrossentropy(label_smoothing=0.2),
    losses.BinaryFocalCrossentropy(True, 0.4, 3.0, True, 0.1),
    losses.CategoricalFocalCrossentropy([0.2, 0.3, 0.5], 1.0, label_smoothing=0.05),
    losses.KLDivergence(), losses.Poisson(name="p"), losses.LogCosh(), losses.Hinge(),
    losses.SquaredHinge(), losses.CategoricalHinge(), losses.CosineSimilarity(axis=-1),
    losses.MeanSquaredLogarithmicError(), losses.MeanAbsolutePercentageError(reduction="sum"),
]


@pytest.mark.parametrize("loss", CONFIGS, ids=[type(c).__name__ + str(i)
                                               for i, c in enumerate(CONFIGS)])
def test_config_roundtrip_and_save_load(loss, tmp_path):
    clone = losses.deserialize(losses.serialize(loss))
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 4))
    y = np.eye(3)[rng.integers(0, 3, 12)]
    model = fastff.Sequential([L.Input((4,)), L.Dense(3, activation="softmax")])
    model.compile("adam", loss)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "m.fastff"
    model.save(path)
    back = fastff.models.load_model(path)
    assert type(back.loss) is type(loss) and back.loss.get_config() == loss.get_config()
    assert back.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))
