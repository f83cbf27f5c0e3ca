"""Sequential: building, the flat buffer, weights, compile/fit/evaluate/predict semantics, and
a Keras-style script that runs with only ``import fastff as keras``."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import fastff
from fastff import layers as L


def _mlp(dtype=None, **kw):
    return fastff.Sequential([L.Input((4,)), L.Dense(5, activation="relu"),
                              L.Dense(3, activation="softmax")], dtype=dtype, **kw)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    return x, y


def test_build_and_flat_buffer():
    model = _mlp()
    assert model.built and model.input_shape == (None, 4) and model.output_shape == (None, 3)
    assert len(model.layers) == 2  # Input is not a layer, as in Keras
    assert model.count_params() == 4 * 5 + 5 + 5 * 3 + 3
    for p in model.weights:
        assert np.shares_memory(p.value, model.params)
        assert np.shares_memory(p.grad, model.grads)
        assert p.value.ctypes.data % 64 == 0
    assert model.params.dtype == np.float32
    assert model.n_trainable >= model.count_params()


def test_trainable_params_come_first():
    model = _mlp()
    model.layers[0].trainable = False
    model.compile("sgd", "sparse_categorical_crossentropy")
    train = model.trainable_weights
    assert [p.path for p in train] == [p.path for p in model.layers[1].params]
    assert all(p.value.ctypes.data < model.params.ctypes.data + model.n_trainable * 4
               for p in train)
    frozen = model.layers[0].get_weights()
    x, y = _data()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_build_variants():
    m1 = fastff.Sequential([L.Dense(3, input_shape=(4,))])
    assert m1.built and m1.input_shape == (None, 4)
    m2 = fastff.Sequential([L.Dense(3)])
    assert not m2.built
    m2.build((None, 7))
    assert m2.layers[0].kernel.shape == (7, 3)
    m3 = fastff.Sequential()
    m3.add(L.Dense(2))
    m3.predict(np.zeros((1, 5)), verbose=0)  # built from the first batch
    assert m3.input_shape == (None, 5)
    m4 = fastff.Sequential([L.Input((2, 3)), L.Flatten(), L.Dense(2)])
    assert m4.output_shape == (None, 2)


def test_get_set_weights():
    model = _mlp()
    w = model.get_weights()
    assert [a.shape for a in w] == [(4, 5), (5,), (5, 3), (3,)]
    new = [np.full_like(a, i) for i, a in enumerate(w)]
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    assert model.params[: model.n_trainable].sum() > 0  # written into the flat buffer
    with pytest.raises(ValueError, match="4 weight arrays"):
        model.set_weights(new[:2])


def test_history_keys_and_validation():
    x, y = _data(60)
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in h.history.values())
    assert h.epoch == [0, 1, 2] and model.history is h
    assert model.metrics_names == ["loss", "compile_metrics"]  # Keras 3's


def test_validation_split_takes_the_last_samples():
    """With a zero learning rate the weights never move: val_loss must equal the loss on the
    *last* 25% of the samples, and loss the loss on the first 75% (shuffled or not)."""
    x, y = _data(40)
    model = _mlp()
    model.compile(fastff.optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, epochs=1, batch_size=7, validation_split=0.25, shuffle=True, verbose=0)
    val = model.evaluate(x[30:], y[30:], verbose=0, return_dict=True)
    train = model.evaluate(x[:30], y[:30], verbose=0, return_dict=True)
    assert h.history["val_loss"][0] == pytest.approx(val["loss"], rel=1e-6)
    assert h.history["val_accuracy"][0] == pytest.approx(val["accuracy"])
    assert h.history["loss"][0] == pytest.approx(train["loss"], rel=1e-5)


def test_validation_data_and_initial_epoch():
    x, y = _data(32)
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    h = model.fit(x, y, epochs=4, initial_epoch=2, validation_data=(x[:8], y[:8]), verbose=0)
    assert h.epoch == [2, 3] and len(h.history["val_loss"]) == 2


def test_evaluate_and_predict_shapes():
    x, y = _data(50)
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.evaluate(x, y, batch_size=16, verbose=0)
    assert 0 <= acc <= 1 and loss > 0
    assert isinstance(model.evaluate(x, y, verbose=0, return_dict=True), dict)
    p = model.predict(x, batch_size=16, verbose=0)
    assert p.shape == (50, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(model(x), p, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), p[:1], rtol=1e-6)
    only_loss = fastff.Sequential([L.Input((4,)), L.Dense(1)])
    only_loss.compile("sgd", "mse")
    assert isinstance(only_loss.evaluate(x, x[:, :1], verbose=0), float)


def test_fit_continues_and_learns():
    x, y = _data(80)
    model = _mlp()
    model.compile(fastff.optimizers.Adam(0.05), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h1 = model.fit(x, y, epochs=5, verbose=0)
    it = model.optimizer.iterations
    h2 = model.fit(x, y, epochs=5, verbose=0)
    assert model.optimizer.iterations == 2 * it  # optimizer state kept
    assert h2.history["loss"][-1] < h1.history["loss"][0]


def test_float64_model():
    model = _mlp(dtype="float64")
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    assert model.params.dtype == np.float64 and model.predict(x, verbose=0).dtype == np.float64


def test_user_arrays_not_modified():
    x, y = _data(30)
    x64 = x.astype(np.float64)
    xc, yc = x64.copy(), y.copy()
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x64, y, epochs=2, verbose=0, validation_split=0.2)
    model.predict(x64, verbose=0)
    np.testing.assert_array_equal(x64, xc)
    np.testing.assert_array_equal(y, yc)


def test_config_roundtrip():
    model = fastff.Sequential([L.Input((4,)), L.Dense(5, activation="elu",
                                                       kernel_regularizer="l2"),
                               L.Dropout(0.2, seed=1), L.Dense(2, activation="sigmoid")])
    clone = fastff.Sequential.from_config(model.get_config())
    assert clone.built and [type(la) for la in clone.layers] == [L.Dense, L.Dropout, L.Dense]
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    cfg = model.get_compile_config()
    clone.compile_from_config(cfg)
    assert type(clone.optimizer) is type(model.optimizer) and clone.compiled_metrics == ["accuracy"]


def test_sample_and_class_weight():
    x, y = _data(40)
    model = _mlp()
    model.compile(fastff.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    h = model.fit(x, y, epochs=1, sample_weight=np.ones(40), verbose=0)
    h2 = model.fit(x, y, epochs=1, class_weight={0: 1.0, 1: 1.0, 2: 1.0}, verbose=0)
    assert h.history["loss"][0] == pytest.approx(h2.history["loss"][0], rel=1e-6)
    w = (y == 1).astype(float)
    h3 = model.fit(x, y, epochs=1, sample_weight=w, verbose=0)
    only = model.evaluate(x[y == 1], y[y == 1], verbose=0)
    # Keras: Σ w l / n, so 0/1 weights give the kept rows' mean times their share
    assert h3.history["loss"][0] == pytest.approx(only * w.sum() / len(w), rel=1e-5)


def test_stop_training_from_callback():
    class Stop(fastff.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    x, y = _data(64)
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    h = model.fit(x, y, epochs=5, batch_size=8, callbacks=[Stop()], verbose=0)
    assert model.optimizer.iterations == 2 and len(h.epoch) == 1


def test_callback_hooks_and_logs():
    seen = []

    class Rec(fastff.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append("train_begin")

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch, sorted(logs)))

        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch", batch, sorted(logs)))

        def on_test_begin(self, logs=None):
            seen.append("test_begin")

    x, y = _data(16)
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["acc"])
    model.fit(x, y, epochs=1, batch_size=8, validation_data=(x, y), callbacks=[Rec()], verbose=0)
    assert seen[0] == "train_begin"
    assert ("batch", 1, ["acc", "loss"]) in seen and "test_begin" in seen
    assert seen[-1] == ("epoch", 0, ["acc", "loss", "val_acc", "val_loss"])


def test_concurrent_predict_matches_serial():
    model = fastff.Sequential([L.Input((16,)), L.Dense(32, activation="relu"), L.Dense(4)])
    xs = [np.random.default_rng(i).standard_normal((i % 5 + 1, 16)) for i in range(40)]
    serial = [model.predict(x, verbose=0) for x in xs]
    results = [None] * len(xs)

    def work(k):
        for i in range(k, len(xs), 8):
            results[i] = model.predict(xs[i], verbose=0)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, results):
        np.testing.assert_array_equal(a, b)


def test_delegates_summary():
    lines = []
    _mlp().summary(print_fn=lines.append)
    assert any("dense" in line for line in lines)


KERAS_SCRIPT = '''
import numpy as np
import fastff as keras
from fastff import layers

keras.utils.set_random_seed(42)
x = np.random.rand(200, 8).astype("float32")
y = (x.sum(axis=1) > 4).astype("int32")
model = keras.Sequential(
    [
        keras.Input(shape=(8,)),
        layers.Dense(16, activation="relu", kernel_initializer="he_normal",
                     kernel_regularizer=keras.regularizers.l2(1e-4)),
        layers.Dropout(0.1),
        layers.Dense(2, activation="softmax"),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=1e-2),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=["accuracy"],
)
history = model.fit(x, y, batch_size=32, epochs=40, validation_split=0.2, verbose=0,
                    callbacks=[keras.callbacks.History()])
score = model.evaluate(x, y, verbose=0)
probs = model.predict(x[:5], verbose=0)
onehot = keras.utils.to_categorical(y, num_classes=2)
model2 = keras.Sequential()
model2.add(layers.Dense(4, activation="tanh", input_shape=(8,)))
model2.add(layers.Dense(2))
model2.compile(optimizer="rmsprop", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
model2.fit(x, onehot, epochs=1, verbose=0)
assert model.count_params() == 8 * 16 + 16 + 16 * 2 + 2
RESULT = (history.history, score, probs)
'''


def test_keras_script_runs_with_only_the_import_changed():
    ns: dict = {}
    exec(compile(KERAS_SCRIPT, "<keras_script>", "exec"), ns)
    hist, score, probs = ns["RESULT"]
    assert set(hist) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert score[1] > 0.85 and probs.shape == (5, 2)


def test_check_grads_on_a_model_without_targets():
    model = fastff.Sequential([L.Input((3,)), L.Dense(4, activation="gelu"), L.Dense(2)])
    x = np.random.default_rng(0).standard_normal((4, 3))
    assert fastff.testing.check_grads(model, x) < 1e-6


def test_utils_to_categorical_and_seed():
    np.testing.assert_array_equal(fastff.utils.to_categorical([0, 2, 1]),
                                  np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert fastff.utils.to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    with pytest.raises(ValueError, match="num_classes"):
        fastff.utils.to_categorical([5], num_classes=3)
    with pytest.raises(TypeError, match="integer seed"):
        fastff.utils.set_random_seed("42")


def test_import_is_cheap_and_building_needs_no_numba():
    import subprocess
    import sys

    code = ("import sys, fastff; m = fastff.Sequential([fastff.Input((3,)), "
            "fastff.layers.Dense(2)]); m.compile('adam', 'mse'); "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_on_batch_and_layers_added_after_build():
    x, y = _data(16)
    model = fastff.Sequential([L.Input((4,)), L.Dense(5, activation="relu")])
    model.add(L.Dense(3, activation="softmax"))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.train_on_batch(x, y)
    assert loss > 0 and 0 <= acc <= 1 and model.optimizer.iterations == 1
    assert model.predict_on_batch(x).shape == (16, 3)


@pytest.mark.parametrize("loss,last,make_y", [
    ("sparse_categorical_crossentropy", "softmax", lambda r: r.integers(0, 3, 30)),
    ("categorical_crossentropy", "softmax", lambda r: np.eye(3)[r.integers(0, 3, 30)]),
    ("binary_crossentropy", "sigmoid", lambda r: r.integers(0, 2, (30, 3))),
    ("mse", "linear", lambda r: r.standard_normal((30, 3))),
])
def test_evaluate_equals_the_loss_of_predict_plus_penalty(loss, last, make_y):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((30, 4)), make_y(rng)
    model = fastff.Sequential([L.Input((4,)), L.Dense(6, activation="tanh",
                                                       kernel_regularizer="l2"),
                               L.Dense(3, activation=last)], dtype="float64")
    model.compile("sgd", loss)
    penalty = 0.01 * float(np.sum(model.layers[0].kernel.value ** 2))
    expected = float(np.mean(fastff.losses.get(loss).call(y, model.predict(x, verbose=0))))
    assert model.evaluate(x, y, batch_size=7, verbose=0) == pytest.approx(expected + penalty,
                                                                          rel=1e-9)
