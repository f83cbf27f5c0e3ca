"""Details of Keras 3 behaviour that everyday scripts lean on, with ``import fastff as keras``.

The expected values were produced by Keras 3 (torch backend) on the same inputs and are
written here as numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastff as keras
from fastff import layers


def _model(units: int = 1, activation: str | None = "sigmoid") -> keras.Sequential:
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((4,)), layers.Dense(units, activation=activation)])


def _data(n: int = 40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    return x, y


def test_callback_hooks_without_logs_get_an_empty_dict():
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(("train_begin", dict(logs)))

        def on_epoch_begin(self, epoch, logs=None):
            seen.append(("epoch_begin", dict(logs)))

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                seen.append(("batch_begin", dict(logs)))

        def on_test_begin(self, logs=None):
            seen.append(("test_begin", dict(logs)))

        def on_predict_begin(self, logs=None):
            seen.append(("predict_begin", dict(logs)))

        def on_predict_end(self, logs=None):
            seen.append(("predict_end", dict(logs)))

    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    m.fit(x, y, epochs=1, batch_size=20, validation_data=(x, y), verbose=0,
          callbacks=[Recorder()])
    m.predict(x, verbose=0, callbacks=[Recorder()])
    assert seen == [("train_begin", {}), ("epoch_begin", {}), ("batch_begin", {}),
                    ("test_begin", {}), ("predict_begin", {}), ("predict_end", {})]


def test_lambda_callback_reads_logs_on_train_begin():
    got = []
    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    m.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: got.append(len(logs)))])
    assert got == [0]


def test_get_metrics_result_after_evaluate():
    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["acc", "mse"])
    res = m.evaluate(x, y, verbose=0, return_dict=True)
    got = m.get_metrics_result()
    assert sorted(got) == ["acc", "loss", "mse"]  # Keras 3's keys
    assert all(type(v) is float for v in got.values())
    for k, v in res.items():
        assert got[k] == pytest.approx(v, rel=1e-6)


def test_get_metrics_result_without_compiled_metrics():
    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="mse")
    loss = m.evaluate(x, y, verbose=0)
    assert m.get_metrics_result() == {"loss": pytest.approx(loss, rel=1e-6)}


def test_binary_accuracy_on_one_dimensional_batches():
    # Keras 3: 0.6666667, then 0.8 (the 1-D batch counts as three samples)
    m = keras.metrics.BinaryAccuracy()
    m.update_state([0, 1, 1], [0.2, 0.7, 0.4])
    assert float(m.result()) == pytest.approx(2 / 3)
    m.update_state([[0], [1]], [[0.2], [0.7]])
    assert float(m.result()) == pytest.approx(0.8)


def test_binary_accuracy_function_is_elementwise_and_weighted_per_sample():
    out = keras.metrics.binary_accuracy(np.array([[1, 0], [1, 1]]),
                                        np.array([[0.6, 0.2], [0.1, 0.9]]))
    np.testing.assert_array_equal(np.asarray(out), [[1.0, 1.0], [0.0, 1.0]])
    m = keras.metrics.BinaryAccuracy()
    m.update_state([[1, 0], [1, 1]], [[0.6, 0.2], [0.1, 0.9]], sample_weight=[1, 0.5])
    assert float(m.result()) == pytest.approx(0.8333333)  # Keras 3


def test_accuracy_counts_elements_of_one_dimensional_batches():
    m = keras.metrics.Accuracy()
    m.update_state([1, 2, 3], [1, 3, 3])
    m.update_state([[1, 2]], [[1, 2]])
    assert float(m.result()) == pytest.approx(0.75)  # Keras 3


def test_optimizer_iterations_reads_like_a_keras_variable():
    x, y = _data()
    m = _model()
    opt = keras.optimizers.Adam(0.01)
    m.compile(optimizer=opt, loss="binary_crossentropy")
    assert int(opt.iterations.numpy()) == 0
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert opt.iterations.numpy() == 6  # 3 steps an epoch
    assert m.optimizer.iterations == 6 and m.optimizer.iterations.value == 6
    opt.iterations.assign(0)
    assert int(opt.iterations) == 0


def test_model_checkpoint_best_only_saves_when_monitor_is_missing(tmp_path):
    # Keras 3 warns ("Can save best model only with val_acc available") and saves anyway
    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    path = tmp_path / "best.keras"
    cb = keras.callbacks.ModelCheckpoint(str(path), monitor="val_acc", save_best_only=True,
                                         mode="max")
    with pytest.warns(UserWarning, match="val_acc"):
        m.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[cb])
    assert path.exists()


def test_functional_model_layers_start_with_its_input_layers():
    inp = keras.Input((8,), name="inp")
    h = layers.Dense(4, activation="relu", name="h")(inp)
    out = layers.Dense(1, name="out")(h)
    model = keras.Model(inp, out)
    # Keras 3: ['inp', 'h', 'out']; layers[0] is the InputLayer
    assert [la.name for la in model.layers] == ["inp", "h", "out"]
    assert isinstance(model.layers[0], keras.layers.InputLayer)
    assert model.layers[0].get_weights() == []
    assert model.layers[1].get_weights()[0].shape == (8, 4)
    assert model.get_layer(index=1).name == "h"
    for layer in model.layers[:-1]:  # freezing all but the head, the usual way
        layer.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_orthogonal_and_identity_initializers():
    w = keras.initializers.get("orthogonal")((5, 3))
    np.testing.assert_allclose(w.T @ w, np.eye(3), atol=1e-6)
    w = keras.initializers.Orthogonal(gain=2.0, seed=1)((3, 5))
    np.testing.assert_allclose(w @ w.T, 4 * np.eye(3), atol=1e-5)
    assert keras.initializers.Orthogonal(seed=3).get_config() == {"gain": 1.0, "seed": 3}
    np.testing.assert_array_equal(keras.initializers.get("identity")((2, 3)),
                                  [[1, 0, 0], [0, 1, 0]])
    assert keras.initializers.Identity(gain=0.5).get_config() == {"gain": 0.5}
    with pytest.raises(ValueError, match="2D"):
        keras.initializers.Identity()((2, 2, 2))
    m = keras.Sequential([keras.Input((4,)), layers.Dense(4, kernel_initializer="orthogonal")])
    k = m.get_weights()[0]
    np.testing.assert_allclose(k.T @ k, np.eye(4), atol=1e-5)


def test_ops_slice_as_keras():
    from fastff import ops

    a = np.arange(12.0, dtype="float32").reshape(3, 4)
    out = ops.convert_to_numpy(ops.slice(a, (1, 1), (2, -1)))
    np.testing.assert_array_equal(out, [[5.0, 6.0, 7.0], [9.0, 10.0, 11.0]])  # Keras 3
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="slice"):
        ops.slice(a, (0,), (1,))


def test_logs_keys_in_keras_order():
    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="binary_crossentropy",
              metrics=["mse", "acc", keras.metrics.AUC(name="a_auc")])
    seen = []
    cb = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(list(logs)) if batch == 0 else None)
    h = m.fit(x, y, epochs=1, batch_size=20, verbose=0, validation_data=(x, y), callbacks=[cb])
    # Keras 3: sorted training keys, then sorted val_ keys
    assert list(h.history) == ["a_auc", "acc", "loss", "mse",
                               "val_a_auc", "val_acc", "val_loss", "val_mse"]
    assert seen == [["a_auc", "acc", "loss", "mse"]]
    assert list(m.evaluate(x, y, verbose=0, return_dict=True)) == ["a_auc", "acc", "loss", "mse"]
    assert list(m.get_metrics_result()) == ["a_auc", "acc", "loss", "mse"]
    assert list(m.train_on_batch(x, y, return_dict=True)) == ["a_auc", "acc", "loss", "mse"]
    # the list keeps Keras's order: the loss, then the metrics as compiled
    res = m.evaluate(x, y, verbose=0, return_dict=True)
    assert m.evaluate(x, y, verbose=0) == pytest.approx(
        [res["loss"], res["mse"], res["acc"], res["a_auc"]])


def test_verbose_2_line_in_keras_order(capsys):
    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["acc"])
    m.fit(x, y, epochs=1, batch_size=20, verbose=2, validation_data=(x, y))
    line = capsys.readouterr().out.strip().splitlines()[-1]
    names = [part.split(":")[0] for part in line.split(" - ")[3:]]
    assert names == ["acc", "loss", "val_acc", "val_loss"]


def test_csv_logger_columns_as_keras(tmp_path):
    x, y = _data()
    m = _model()
    m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["acc"])
    path = tmp_path / "log.csv"
    m.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.CSVLogger(str(path))])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,acc,loss,val_acc,val_loss"  # Keras 3, even without validation
    assert lines[1].startswith("0,") and lines[1].endswith(",NA,NA") and len(lines) == 3


def test_activation_functions_take_keras_keywords():
    A = keras.activations
    x = np.array([-2.0, -0.5, 0.0, 0.5, 1.5, 3.0], dtype="float32")
    # the values Keras 3 gives
    np.testing.assert_allclose(A.relu(x, negative_slope=0.5, threshold=1.0),
                               [-1.5, -0.75, -0.5, -0.25, 1.5, 3.0])
    np.testing.assert_allclose(A.relu(x, threshold=1.0, max_value=2.0),
                               [0.0, 0.0, 0.0, 0.0, 1.5, 2.0])
    np.testing.assert_allclose(A.relu(x[:5], negative_slope=0.1, max_value=1.0),
                               [-0.2, -0.05, 0.0, 0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(A.gelu(x[:5], approximate=True),
                               [-0.0454, -0.15429, 0.0, 0.34571, 1.39957], atol=1e-5)
    m = np.array([[1.0, 2.0], [3.0, 5.0]], dtype="float32")
    np.testing.assert_allclose(A.softmax(m, axis=0), [[0.1192, 0.04743], [0.8808, 0.95257]],
                               atol=1e-4)
    np.testing.assert_allclose(A.log_softmax(m, axis=0),
                               [[-2.12693, -3.04859], [-0.12693, -0.04859]], atol=1e-5)
    assert A.relu(x, max_value=6.0).dtype == np.float32


def test_activity_regularizer_none_and_a_name_are_accepted():
    import fastff

    assert fastff.layers.Dense(3, activity_regularizer=None).units == 3  # as Keras configs hold it
    reg = fastff.layers.Dense(3, activity_regularizer="l2").activity_regularizer
    assert isinstance(reg, fastff.regularizers.L2) and reg.l2 == 0.01
