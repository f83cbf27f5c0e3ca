"""Functional models with several outputs (fastff.multi_output) and shared layers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import fastff
import fastff.training.data
import fastff.training.general
from fastff import layers, training

ROOT = Path(__file__).resolve().parents[1]


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x, rng.integers(0, 3, n), rng.normal(size=(n, 1))


def _two_out(dtype="float32", dict_out=False, seed=1):
    fastff.utils.set_random_seed(seed)
    inp = fastff.Input((4,), name="x")
    h = layers.Dense(5, activation="tanh", name="trunk")(inp)
    a = layers.Dense(3, activation="softmax", name="cls")(h)
    b = layers.Dense(1, name="reg")(h)
    outs = {"b": b, "a": a} if dict_out else [a, b]
    return fastff.Model(inp, outs, dtype=dtype)


def _softmax_ce(p, y):
    return -np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))


def test_history_keys_and_values_match_a_hand_computation_with_loss_weights():
    x, y1, y2 = _data()
    m = _two_out("float64")
    m.compile(optimizer=fastff.optimizers.SGD(learning_rate=0.0),
              loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[0.3, 2.0],
              metrics=[["accuracy"], ["mae"]])
    xv, yv1, yv2 = _data(16, seed=5)
    h = m.fit(x, [y1, y2], batch_size=16, epochs=1, verbose=0,
              validation_data=(xv, [yv1, yv2])).history
    assert set(h) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae",  # Keras 3.15
                      "val_loss", "val_cls_loss", "val_reg_loss", "val_cls_accuracy",
                      "val_reg_mae"}
    for pre, (xx, t1, t2) in (("", (x, y1, y2)), ("val_", (xv, yv1, yv2))):
        p1, p2 = m.predict(xx, verbose=0)  # weights did not move (lr = 0)
        l1 = _softmax_ce(p1, t1).mean()
        l2 = ((p2 - t2) ** 2).mean()
        assert h[pre + "cls_loss"][0] == pytest.approx(l1, rel=1e-10)
        assert h[pre + "reg_loss"][0] == pytest.approx(l2, rel=1e-10)
        assert h[pre + "loss"][0] == pytest.approx(0.3 * l1 + 2.0 * l2, rel=1e-10)
        assert h[pre + "cls_accuracy"][0] == pytest.approx(np.mean(p1.argmax(1) == t1))
        assert h[pre + "reg_mae"][0] == pytest.approx(np.abs(p2 - t2).mean(), rel=1e-10)


def _total_loss(m, x, ys, sw=None):
    return m.evaluate(x, ys, batch_size=len(x), verbose=0, sample_weight=sw,
                      return_dict=True)["loss"]


def _grads(m, x, ys, sw=None):
    X, Y, SW = training.data.prepare_xy(m, x, ys, sw)
    training.general.bind_ops(m)
    m._build_optimizer()
    training.forward_backward(m, X, Y, SW)
    return [p.grad.copy() for p in m.trainable_weights]


def _numeric(m, x, ys, sw=None, eps=1e-6):
    out = []
    for p in m.trainable_weights:
        g = np.zeros(p.shape)
        flat = p.value.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            fp = _total_loss(m, x, ys, sw)
            flat[i] = old - eps
            fm = _total_loss(m, x, ys, sw)
            flat[i] = old
            g.reshape(-1)[i] = (fp - fm) / (2 * eps)
        out.append(g)
    return out


def _assert_close(a, n, tol=1e-6):
    for ga, gn in zip(a, n):
        scale = max(np.abs(gn).max(), 1e-3)
        assert np.abs(ga - gn).max() / scale < tol


def test_gradients_follow_loss_weights_and_sample_weights_float64():
    x, y1, y2 = _data(12)
    m = _two_out("float64")
    m.compile(optimizer="sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
              loss_weights={"cls": 0.7, "reg": 1.5})
    sw = {"cls": np.linspace(0.5, 2.0, 12), "reg": np.linspace(2.0, 0.1, 12)}
    _assert_close(_grads(m, x, [y1, y2], sw), _numeric(m, x, [y1, y2], sw))


def _shared_model(dtype="float64"):
    fastff.utils.set_random_seed(3)
    a = fastff.Input((3,), name="a")
    b = fastff.Input((3,), name="b")
    sh = layers.Dense(3, activation="tanh", name="shared")
    ha, hb = sh(a), sh(b)  # two branches through one layer
    hh = sh(ha)  # and the layer applied to its own output
    cat = layers.Concatenate(name="cat")([hh, hb])
    o1 = layers.Dense(2, activation="softmax", name="o1")(cat)
    o2 = layers.Dense(1, name="o2")(hb)
    return fastff.Model([a, b], [o1, o2], dtype=dtype)


def test_shared_layer_gradient_is_the_sum_over_its_calls_float64():
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    ys = [rng.integers(0, 2, 10), rng.normal(size=(10, 1))]
    m = _shared_model()
    assert [la.name for la in m.layers] == ["a", "b", "shared", "cat", "o1", "o2"]
    assert len(m.trainable_weights) == 6  # one kernel and bias for the shared layer
    m.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"],
              loss_weights=[1.0, 0.5])
    _assert_close(_grads(m, [xa, xb], ys), _numeric(m, [xa, xb], ys))


def test_shared_layer_gradient_equals_the_sum_of_two_unshared_copies():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3))
    y = rng.normal(size=(8, 3))
    fastff.utils.set_random_seed(0)
    inp = fastff.Input((3,))
    sh = layers.Dense(3, activation="tanh")
    m = fastff.Model(inp, sh(sh(inp)), dtype="float64")
    c1, c2 = layers.Dense(3, activation="tanh"), layers.Dense(3, activation="tanh")
    inp2 = fastff.Input((3,))
    m2 = fastff.Model(inp2, c2(c1(inp2)), dtype="float64")
    c1.set_weights(sh.get_weights())
    c2.set_weights(sh.get_weights())
    for mm in (m, m2):
        mm.compile(optimizer="sgd", loss="mse")
    g = _grads(m, x, y)
    g2 = _grads(m2, x, y)
    np.testing.assert_allclose(g[0], g2[0] + g2[2], rtol=1e-12)
    np.testing.assert_allclose(g[1], g2[1] + g2[3], rtol=1e-12)


def test_dict_outputs_predict_evaluate_and_order():
    x, y1, y2 = _data()
    m = _two_out(dict_out=True)
    assert m.output_names == ["cls", "reg"]  # layer names, in the dict's sorted-key order
    m.compile(optimizer="adam", loss={"a": "sparse_categorical_crossentropy", "b": "mse"},
              metrics={"a": ["accuracy"], "b": ["mae", "mse"]})
    h = m.fit(x, {"a": y1, "b": y2}, epochs=2, batch_size=16, verbose=0).history
    assert set(h) == {"loss", "a_loss", "b_loss", "a_accuracy", "b_mae", "b_mse"}
    p = m.predict(x, verbose=0)
    assert isinstance(p, dict) and p["a"].shape == (48, 3) and p["b"].shape == (48, 1)
    d = m.evaluate(x, {"a": y1, "b": y2}, verbose=0, return_dict=True)
    values = m.evaluate(x, {"a": y1, "b": y2}, verbose=0)
    assert m.metrics_names == ["loss", "compile_metrics", "a_loss", "b_loss"]  # Keras 3's
    assert values == [d[k] for k in ["loss", "a_loss", "b_loss", "a_accuracy", "b_mae", "b_mse"]]
    assert d["loss"] == pytest.approx(d["a_loss"] + d["b_loss"])
    np.testing.assert_allclose(d["b_mse"], np.mean((p["b"] - y2) ** 2), rtol=1e-5)
    assert isinstance(m(x[:3]), dict)


def test_list_outputs_predict_structure_and_one_loss_for_all():
    x, _, y2 = _data()
    fastff.utils.set_random_seed(0)
    inp = fastff.Input((4,))
    o1 = layers.Dense(1, name="first")(inp)
    o2 = layers.Dense(1, name="second")(inp)
    m = fastff.Model(inp, [o1, o2])
    m.compile(optimizer="sgd", loss="mse")
    h = m.fit(x, [y2, 2 * y2], epochs=1, verbose=0).history
    assert set(h) == {"loss", "first_loss", "second_loss"}
    p = m.predict(x, verbose=0)
    assert isinstance(p, list) and len(p) == 2
    r = m.evaluate(x, [y2, 2 * y2], verbose=0, return_dict=True)
    l1, l2 = (np.mean((p[0] - y2) ** 2), np.mean((p[1] - 2 * y2) ** 2))
    assert r["first_loss"] == pytest.approx(l1, rel=1e-5)
    assert r["loss"] == pytest.approx(l1 + l2, rel=1e-5)


def test_output_without_loss_is_not_trained_and_not_logged():
    x, y1, _ = _data()
    m = _two_out()
    reg = m.get_layer("reg")
    before = [w.copy() for w in reg.get_weights()]
    m.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", None])
    h = m.fit(x, [y1, None], epochs=2, verbose=0).history
    assert set(h) == {"loss"}  # one loss: no per-output entries, as Keras
    for a, b in zip(before, reg.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_one_sample_weight_applies_to_every_output():
    x, y1, y2 = _data()
    sw = np.linspace(0.1, 3.0, len(x))
    m = _two_out("float64")
    m.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    d = m.evaluate(x, [y1, y2], sample_weight=sw, verbose=0, return_dict=True)
    p1, p2 = m.predict(x, verbose=0)
    l1 = np.dot(_softmax_ce(p1, y1), sw) / len(sw)  # Keras: Σ w l / n
    l2 = np.dot(((p2 - y2) ** 2).ravel(), sw) / len(sw)
    assert d["cls_loss"] == pytest.approx(l1, rel=1e-10)
    assert d["reg_loss"] == pytest.approx(l2, rel=1e-10)


def test_structure_errors_name_the_outputs():
    x, y1, y2 = _data()
    m = _two_out()
    with pytest.raises(ValueError, match=r"loss is a list of 3.*\['cls', 'reg'\]"):
        m.compile(loss=["mse", "mse", "mse"])
    with pytest.raises(ValueError, match=r"'nope'.*\['cls', 'reg'\]"):
        m.compile(loss={"nope": "mse"})
    with pytest.raises(ValueError, match="loss_weights"):
        m.compile(loss="mse", loss_weights=0.5)
    with pytest.raises(ValueError, match="metrics"):  # Keras 3: one entry per output
        m.compile(loss="mse", metrics=["mae", "mse", "mape"])
    m.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match=r"2 outputs \['cls', 'reg'\]"):
        m.fit(x, y1, verbose=0)
    with pytest.raises(ValueError, match=r"list of 1 arrays.*\['cls', 'reg'\]"):
        m.fit(x, [y1], verbose=0)
    with pytest.raises(ValueError, match=r"'regg'.*\['cls', 'reg'\]"):
        m.fit(x, {"cls": y1, "regg": y2}, verbose=0)
    with pytest.raises(ValueError, match=r"y\['reg'\]: targets are required"):
        m.fit(x, {"cls": y1}, verbose=0)
    with pytest.raises(ValueError, match=r"y\['reg'\]: expected 48 samples"):
        m.evaluate(x, [y1, y2[:5]], verbose=0)
    with pytest.raises(ValueError, match="class_weight"):
        m.fit(x, [y1, y2], class_weight={0: 1.0}, verbose=0)


def test_save_load_round_trip_keeps_outputs_shared_layers_and_compile():
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    ys = [rng.integers(0, 2, 10), rng.normal(size=(10, 1))]
    m = _shared_model("float32")
    m.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"],
              loss_weights=[1.0, 0.25], metrics=[["accuracy"], []])
    m.fit([xa, xb], ys, epochs=1, verbose=0)
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.fastff")
        m.save(path)
        m2 = fastff.models.load_model(path)
    for p, q in zip(m.predict([xa, xb], verbose=0), m2.predict([xa, xb], verbose=0)):
        np.testing.assert_array_equal(p, q)
    assert len(m2.trainable_weights) == 6
    assert m2.evaluate([xa, xb], ys, verbose=0) == m.evaluate([xa, xb], ys, verbose=0)


def test_single_output_loss_weights_scale_loss_and_gradient():
    x, _, y2 = _data()

    def run(w, lr):
        fastff.utils.set_random_seed(0)
        m = fastff.Sequential([fastff.Input((4,)), layers.Dense(1)])
        m.compile(optimizer=fastff.optimizers.SGD(learning_rate=lr), loss="mse",
                  loss_weights=w)
        return m, m.fit(x, y2, epochs=2, batch_size=16, verbose=0, shuffle=False).history

    m1, h1 = run(None, 0.02)
    m2, h2 = run(2.0, 0.01)  # twice the gradient at half the rate: the same steps
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    m3, _ = run(None, 0.01)
    e = m3.evaluate(x, y2, verbose=0)
    m3.compile(optimizer="sgd", loss="mse", loss_weights=[3.0])
    assert m3.evaluate(x, y2, verbose=0) == pytest.approx(3 * e, rel=1e-6)


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_client_two_output_digits_with_loss_weights():
    result = _load_example("two_output_digits").main(["--epochs", "3", "--rows", "600"])
    assert set(result["history"]) >= {"loss", "digit_loss", "parity_loss",
                                      "digit_accuracy", "parity_accuracy"}
    h = result["history"]
    assert h["loss"][-1] < h["loss"][0]
    assert h["loss"][-1] == pytest.approx(h["digit_loss"][-1] + 0.5 * h["parity_loss"][-1],
                                          rel=1e-6)
    assert result["parity_accuracy"] > 0.6


def test_dict_inputs_validation_split_train_on_batch_and_predict_callbacks():
    rng = np.random.default_rng(2)
    fastff.utils.set_random_seed(0)
    a, b = fastff.Input((2,), name="a"), fastff.Input((3,), name="b")
    h = layers.Concatenate()([a, b])
    o1 = layers.Dense(2, activation="softmax", name="o1")(h)
    o2 = layers.Dense(1, name="o2")(h)
    m = fastff.Model([a, b], [o1, o2])
    m.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"],
              metrics=[["accuracy"], ["mae"]])
    x = {"a": rng.normal(size=(40, 2)), "b": rng.normal(size=(40, 3))}
    ys = [rng.integers(0, 2, 40), rng.normal(size=(40, 1))]
    h = m.fit(x, ys, epochs=1, batch_size=8, validation_split=0.25, verbose=0).history
    assert {"val_loss", "val_o1_loss", "val_o2_loss", "val_o1_accuracy",
            "val_o2_mae"} <= set(h)
    r = m.evaluate({"a": x["a"][30:], "b": x["b"][30:]}, [ys[0][30:], ys[1][30:]],
                   verbose=0, return_dict=True)
    for k, v in r.items():  # the validation split is the last quarter, as Keras
        assert h["val_" + k][0] == pytest.approx(v, rel=1e-6)
    logs = m.train_on_batch(x, ys, return_dict=True)
    assert set(logs) == {"loss", "o1_loss", "o2_loss", "o1_accuracy", "o2_mae"}
    seen = []

    class Spy(fastff.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(len(logs["outputs"]))

    p = m.predict(x, batch_size=16, verbose=0, callbacks=[Spy()])
    assert seen == [2, 2, 2] and p[0].shape == (40, 2) and p[1].shape == (40, 1)
    np.testing.assert_allclose(p[1], m.predict_on_batch(x)[1], rtol=1e-6)


def test_call_training_mode_and_test_on_batch_with_two_inputs():
    rng = np.random.default_rng(4)
    fastff.utils.set_random_seed(0)
    a, b = fastff.Input((2,), name="a"), fastff.Input((2,), name="b")
    h = layers.Dropout(0.5, seed=1)(layers.Concatenate()([a, b]))
    m = fastff.Model([a, b], [layers.Dense(1, name="u")(h), layers.Dense(1, name="v")(h)])
    m.compile(optimizer="sgd", loss="mse")
    x = [rng.normal(size=(6, 2)), rng.normal(size=(6, 2))]
    ys = [rng.normal(size=(6, 1)), rng.normal(size=(6, 1))]
    inf, train = m(x), m(x, training=True)
    assert isinstance(train, list) and not np.array_equal(inf[0], train[0])
    np.testing.assert_allclose(inf[0], m.predict(x, verbose=0)[0], rtol=1e-6)
    assert m.test_on_batch(x, ys) == m.evaluate(x, ys, verbose=0)


def test_single_output_functional_takes_per_output_compile_arguments():
    x, y1, _ = _data()
    fastff.utils.set_random_seed(0)
    inp = fastff.Input((4,))
    m = fastff.Model(inp, layers.Dense(3, activation="softmax", name="probs")(inp))
    m.compile(optimizer="sgd", loss={"probs": "sparse_categorical_crossentropy"},
              metrics={"probs": ["accuracy"]}, loss_weights={"probs": 2.0})
    d = m.evaluate(x, y1, verbose=0, return_dict=True)
    assert set(d) == {"loss", "accuracy"}
    m.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy"], metrics=[["accuracy"]])
    assert m.evaluate(x, y1, verbose=0, return_dict=True)["loss"] == pytest.approx(
        d["loss"] / 2, rel=1e-6)
    with pytest.raises(ValueError, match=r"'other'.*\['probs'\]"):
        m.compile(loss={"other": "mse"})


def test_shared_dropout_draws_a_new_mask_per_call():
    fastff.utils.set_random_seed(0)
    inp = fastff.Input((64,))
    drop = layers.Dropout(0.5, seed=3)
    m = fastff.Model(inp, [drop(inp), drop(inp)])
    x = np.ones((4, 64), np.float32)
    a, b = m(x, training=True)
    assert not np.array_equal(a == 0, b == 0)
    assert drop._mask_seed == 3  # the layer's own seed is left as it was
    a2, b2 = m(x)
    np.testing.assert_array_equal(a2, x)


@pytest.mark.parametrize("name", ["m.fastff", "m.keras"])
def test_single_output_loss_weights_survive_save_and_load(tmp_path, name):
    x, _, y2 = _data()
    fastff.utils.set_random_seed(0)
    m = fastff.Sequential([fastff.Input((4,)), layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse", loss_weights=2.5)
    m.save(tmp_path / name)
    m2 = fastff.models.load_model(tmp_path / name)
    assert m2.loss.weight == 2.5
    assert m2.evaluate(x, y2, verbose=0) == pytest.approx(m.evaluate(x, y2, verbose=0))


def test_each_output_loss_reduces_as_its_reduction_says():
    """Per-output ``reduction``: ``sum`` and ``mean_with_sample_weight`` as Keras reduces them
    (evaluate against a hand computation; training: ``sum`` over a batch of n rows is the
    default reduction with loss weight n)."""
    from fastff import losses
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3))
    y1, y2 = rng.normal(size=(10, 1)), rng.normal(size=(10, 2))
    sw = rng.uniform(0.5, 2.0, size=10)

    def build(loss, loss_weights=None):
        fastff.config.set_seed(3)
        inp = layers.Input((3,))
        m = fastff.Model(inp, [layers.Dense(1, name="a")(inp), layers.Dense(2, name="b")(inp)],
                         dtype="float64")
        m.compile("sgd", loss, loss_weights=loss_weights)
        return m

    m = build([losses.MeanSquaredError(reduction="sum"),
               losses.MeanSquaredError(reduction="mean_with_sample_weight")])
    pa, pb = m.predict(x, verbose=0)
    ev = m.evaluate(x, [y1, y2], sample_weight=sw, batch_size=10, verbose=0, return_dict=True)
    want_a = np.sum(sw * ((pa - y1) ** 2).mean(1))
    want_b = np.sum(sw * ((pb - y2) ** 2).mean(1)) / sw.sum()
    assert ev["a_loss"] == pytest.approx(want_a, rel=1e-12)
    assert ev["b_loss"] == pytest.approx(want_b, rel=1e-12)
    assert ev["loss"] == pytest.approx(want_a + want_b, rel=1e-12)

    summed = build([losses.MeanSquaredError(reduction="sum"), "mse"])
    scaled = build(["mse", "mse"], loss_weights=[10.0, 1.0])
    for m in (summed, scaled):
        m.fit(x, [y1, y2], batch_size=10, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(summed.params, scaled.params, rtol=1e-12, atol=1e-14)
