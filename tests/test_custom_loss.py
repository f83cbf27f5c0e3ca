"""Custom losses and metrics: functions written with fastff.ops, Loss and Metric subclasses,
their reduction with sample/class weights, gradients from the tape, History names, saving."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import layers, losses, metrics, ops
from fastff.saving import FormatError
from fastff.testing import check_grads


def huber_like(y_true, y_pred):
    """Keras-style: per-sample values written with ops (delta = 1)."""
    err = ops.subtract(y_pred, y_true)
    a = ops.abs(err)
    quad = ops.minimum(a, 1.0)
    return ops.mean(0.5 * ops.square(quad) + (a - quad), axis=-1)


def my_mse(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true), axis=-1)


def scalar_mse(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true))


def _linear(dtype="float64", n_in=3, n_out=2, seed=0, **dense):
    fastff.utils.set_random_seed(seed)
    m = fastff.Sequential([layers.Dense(n_out, **dense)], dtype=dtype)
    m.build((None, n_in))
    return m


def _data(n=12, d=3, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), 2 * rng.standard_normal((n, k))


def _huber_np(y, p):
    a = np.abs(p - y)
    q = np.minimum(a, 1.0)
    return np.mean(0.5 * q ** 2 + (a - q), axis=-1)


# ------------------------------------------------------------------ functions
def test_function_loss_history_and_metric_names_against_hand_computation():
    x, y = _data()
    m = _linear()
    k, b = m.layers[0].kernel.numpy(), m.layers[0].bias.numpy()
    sw = np.linspace(0.5, 2.0, len(x))
    m.compile(fastff.optimizers.SGD(0.0), loss=huber_like, metrics=[huber_like, "mae"])
    hist = m.fit(x, y, epochs=1, batch_size=5, verbose=0, shuffle=False, sample_weight=sw)
    assert set(hist.history) == {"loss", "huber_like", "mae"}  # named as Keras names them
    per = _huber_np(y, x @ k + b)
    # Keras's sum_over_batch_size (Σ w l / n, the built-in losses' reduction) over the epoch
    np.testing.assert_allclose(hist.history["loss"][0], np.sum(sw * per) / len(per),
                               rtol=1e-12)
    # metrics= ignore sample weights (Keras 3; weighted_metrics= take them)
    np.testing.assert_allclose(hist.history["huber_like"][0], per.mean(), rtol=1e-12)
    ev = m.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(ev["loss"], per.mean(), rtol=1e-12)


def test_function_loss_gradient_check_grads():
    x, y = _data(5)
    m = _linear(activation="tanh")
    m.compile("sgd", loss=huber_like)
    assert check_grads(m, x, y) < 1e-6
    m.compile("sgd", loss=scalar_mse)  # a scalar batch loss
    assert check_grads(m, x, y) < 1e-6


def test_function_loss_trains_like_builtin_with_sample_and_class_weight():
    """my_mse through the tape vs the MSE kernel: within float rounding (different
    summation order), with sample weights and class weights reduced alike."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 3))
    y = (rng.random((20, 1)) > 0.5).astype(float)
    sw = rng.random(20) + 0.5
    out = []
    for loss in (my_mse, "mse"):
        m = _linear(n_out=1, activation="sigmoid", seed=4)
        m.compile(fastff.optimizers.SGD(0.3), loss=loss)
        h = m.fit(x, y, epochs=3, batch_size=6, verbose=0, shuffle=False, sample_weight=sw,
                  class_weight={0: 1.0, 1: 3.0})
        out.append((h.history["loss"], m.get_weights()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-12)
    for a, b in zip(out[0][1], out[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_scalar_loss_equals_per_sample_loss_without_weights():
    x, y = _data()
    ws = []
    for loss in (scalar_mse, my_mse):
        m = _linear(seed=1)
        m.compile(fastff.optimizers.SGD(0.1), loss=loss)
        m.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
        ws.append(m.get_weights())
    for a, b in zip(*ws):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_loss_on_sparse_labels_written_with_ops():
    """Targets reach a user loss as given: integer labels for a softmax output."""
    def sparse_nll(y_true, y_pred):
        idx = ops.cast(ops.expand_dims(y_true, -1), "int64")
        return -ops.log(ops.squeeze(ops.take_along_axis(y_pred, idx, axis=-1), -1))

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 3)), rng.integers(0, 4, 10)
    m = _linear(n_out=4, activation="softmax")
    p = m.predict(x, verbose=0)
    m.compile(fastff.optimizers.SGD(0.0), loss=sparse_nll)
    h = m.fit(x, y, epochs=1, batch_size=10, verbose=0)
    np.testing.assert_allclose(h.history["loss"][0], -np.mean(np.log(p[np.arange(10), y])),
                               rtol=1e-10)
    ref = _linear(n_out=4, activation="softmax")
    ref.compile(fastff.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    m.compile(fastff.optimizers.SGD(0.5), loss=sparse_nll)
    ref.fit(x, y, epochs=2, batch_size=5, verbose=0, shuffle=False)
    m.fit(x, y, epochs=2, batch_size=5, verbose=0, shuffle=False)
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ Loss subclasses
class ScaledHuber(losses.Loss):
    def __init__(self, delta=1.0, scale=2.0, name="scaled_huber", reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        self.delta, self.scale = delta, scale

    def call(self, y_true, y_pred):
        a = ops.abs(y_pred - y_true)
        q = ops.minimum(a, self.delta)
        return self.scale * ops.mean(0.5 * ops.square(q) + self.delta * (a - q), axis=-1)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta, "scale": self.scale}


def test_loss_subclass_call_reduction_name_and_gradient():
    x, y = _data()
    p = np.random.default_rng(9).standard_normal(y.shape)
    loss = ScaledHuber()
    per = 2 * _huber_np(y, p)
    np.testing.assert_allclose(loss.call(y, p), per)
    np.testing.assert_allclose(loss(y, p), per.mean())
    w = np.arange(1.0, 13.0)
    np.testing.assert_allclose(loss(y, p, sample_weight=w), np.sum(per * w) / 12)  # Keras
    np.testing.assert_allclose(ScaledHuber(reduction="sum")(y, p), per.sum())
    np.testing.assert_allclose(ScaledHuber(reduction="none")(y, p), per)
    m = _linear()
    m.compile("sgd", loss=ScaledHuber(delta=0.5))
    assert check_grads(m, x[:4], y[:4]) < 1e-6
    h = m.fit(x, y, epochs=1, verbose=0)
    assert list(h.history) == ["loss"]


def test_loss_subclass_without_call_is_refused():
    class Empty(losses.Loss):
        pass

    m = _linear()
    m.compile("sgd", loss=Empty())
    with pytest.raises(NotImplementedError, match="must define call"):
        m.fit(*_data(), epochs=1, verbose=0)


def test_bad_loss_outputs_are_named():
    def wrong_rows(y_true, y_pred):
        return ops.sum(y_pred, axis=0)

    m = _linear()
    m.compile("sgd", loss=wrong_rows)
    with pytest.raises(ValueError, match="wrong_rows.*shape \\(2,\\).*first axis 12"):
        m.fit(*_data(), epochs=1, batch_size=12, verbose=0)
    with pytest.raises(TypeError, match="fn\\(y_true, y_pred\\)"):
        m.compile("sgd", loss=42)


# ------------------------------------------------------------------ metrics
class PositiveRate(metrics.Metric):
    """Keras 3 style: state in add_variable, sample-weighted."""

    def __init__(self, name="positive_rate", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.total = self.add_weight(name="total", shape=())

    def update_state(self, y_true, y_pred, sample_weight=None):
        w = np.ones(len(y_pred)) if sample_weight is None else np.asarray(sample_weight)
        self.hits.assign_add(np.sum(w * (np.asarray(y_pred)[:, 0] > 0)))
        self.total.assign_add(np.sum(w))

    def result(self):
        return self.hits / self.total


def test_metric_subclass_with_variables_against_hand_computation():
    x, y = _data()
    m = _linear()
    m.compile(fastff.optimizers.SGD(0.0), "mse", weighted_metrics=[PositiveRate()])
    sw = np.linspace(1, 2, 12)
    h = m.fit(x, y, epochs=2, batch_size=5, verbose=0, sample_weight=sw)
    pred = m.predict(x, verbose=0)
    expect = np.sum(sw * (pred[:, 0] > 0)) / np.sum(sw)
    np.testing.assert_allclose(h.history["positive_rate"], [expect, expect], rtol=1e-6)
    metric = PositiveRate()
    metric.update_state(y, pred)
    assert float(metric.result()) == pytest.approx(np.mean(pred[:, 0] > 0), rel=1e-6)  # float32
    metric.reset_state()
    assert float(metric.hits) == 0 and [v.name for v in metric.variables] == ["hits", "total"]


def test_scalar_metric_function_with_and_without_sample_weight():
    """A metric returning one value per batch counts once per (weighted) sample, as Keras;
    this raised in the metrics code before."""
    def batch_max_error(y_true, y_pred):
        return np.max(np.abs(y_true - y_pred))

    x, y = _data()
    m = _linear()
    m.compile(fastff.optimizers.SGD(0.0), "mse", weighted_metrics=[batch_max_error])
    sw = np.array([1.0] * 6 + [3.0] * 6)
    h = m.fit(x, y, epochs=1, batch_size=6, verbose=0, shuffle=False, sample_weight=sw)
    err = np.abs(y - m.predict(x, verbose=0))
    b1, b2 = err[:6].max(), err[6:].max()
    np.testing.assert_allclose(h.history["batch_max_error"][0], (6 * b1 + 18 * b2) / 24,
                               rtol=1e-6)
    ev = m.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    np.testing.assert_allclose(ev["batch_max_error"], (b1 + b2) / 2, rtol=1e-6)


# ------------------------------------------------------------------ saving
def test_save_load_model_with_custom_loss_and_metric(tmp_path):
    x, y = _data()
    m = _linear()
    m.compile(fastff.optimizers.Adam(0.01), loss=huber_like, metrics=[huber_like])
    m.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.fastff"
    m.save(path)
    with pytest.raises(FormatError, match="huber_like.*custom_objects"):
        fastff.models.load_model(path)
    loaded = fastff.models.load_model(path, custom_objects={"huber_like": huber_like})
    assert loaded.loss.name == "huber_like" and loaded.compiled_metrics == ["huber_like"]
    m.fit(x, y, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(m.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)

    m2 = _linear()
    m2.compile("sgd", loss=ScaledHuber(scale=3.0), metrics=[PositiveRate()])
    m2.save(tmp_path / "m2.fastff")
    again = fastff.models.load_model(tmp_path / "m2.fastff", custom_objects={
        "ScaledHuber": ScaledHuber, "PositiveRate": PositiveRate})
    assert isinstance(again.loss, ScaledHuber) and again.loss.scale == 3.0
    assert again.compiled_metrics == ["positive_rate"]


def test_registered_loss_function_loads_without_custom_objects(tmp_path):
    @fastff.saving.register_keras_serializable(package="tests")
    def registered_l1(y_true, y_pred):
        return ops.mean(ops.abs(y_pred - y_true), axis=-1)

    m = _linear()
    m.compile("sgd", loss=registered_l1)
    m.save(tmp_path / "r.fastff")
    loaded = fastff.models.load_model(tmp_path / "r.fastff")
    assert loaded.loss.fn is registered_l1


# ------------------------------------------------------------------ client script
def test_client_script_custom_huber_loss_regression():
    """Keras-style script: a Huber-like loss with ops on noisy linear data with outliers;
    it trains and beats MSE on the clean targets' fit (robust to the outliers)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 4)).astype("float32")
    w_true = np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
    y = x @ w_true + 0.1 * rng.standard_normal((400, 1)).astype("float32")
    y[::20] += 40.0  # outliers

    def huber(y_true, y_pred, delta=1.0):
        error = y_true - y_pred
        small = ops.abs(error) <= delta
        squared = 0.5 * ops.square(error)
        linear = delta * (ops.abs(error) - 0.5 * delta)
        return ops.mean(ops.where(small, squared, linear), axis=-1)

    found = {}
    for name, loss in (("huber", huber), ("mse", "mse")):
        fastff.utils.set_random_seed(0)
        model = fastff.Sequential([fastff.Input((4,)), layers.Dense(1)])
        model.compile(optimizer=fastff.optimizers.Adam(0.05), loss=loss, metrics=["mae"])
        hist = model.fit(x, y, epochs=30, batch_size=32, verbose=0)
        assert hist.history["loss"][-1] < hist.history["loss"][0]
        found[name] = np.abs(model.layers[0].kernel.numpy() - w_true).max()
    assert found["huber"] < 0.2 < found["mse"] or found["huber"] < found["mse"] / 2
