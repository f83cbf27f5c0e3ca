"""``model.metrics`` (Keras 3: the loss tracker, then the compiled metrics in one
``CompileMetrics``) holds the values of the last loop; ``metrics_names`` matches evaluate."""

from __future__ import annotations

import numpy as np

import fastff as keras
from fastff.metrics.tracking import CompileMetrics


def _model(metrics):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=metrics)
    return m


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((16, 3)).astype("float32"), np.array([0, 1] * 8)


def test_metrics_before_and_after_fit_and_evaluate():
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert plain.metrics == []  # not compiled
    m = _model(["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=1, name="top1")])
    assert [x.name for x in m.metrics] == ["loss", "compile_metrics"]  # as Keras 3
    assert isinstance(m.metrics[0], keras.metrics.Mean)
    assert isinstance(m.metrics[1], CompileMetrics)
    assert [x.name for x in m.metrics[1].metrics] == ["accuracy", "top1"]
    x, y = _data()
    hist = m.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    assert m.metrics[0].result() == hist["loss"][-1]
    assert m.metrics[1].result() == {"accuracy": hist["accuracy"][-1],
                                     "top1": hist["top1"][-1]}
    logs = m.evaluate(x[:10], y[:10], verbose=0, return_dict=True)
    assert m.metrics[0].result() == logs["loss"]
    acc = float(np.mean(np.argmax(m.predict(x[:10], verbose=0), axis=1) == y[:10]))
    assert m.metrics[1].result() == {"accuracy": acc, "top1": acc} == {
        k: logs[k] for k in ("accuracy", "top1")}
    for metric in m.metrics:  # Keras idiom: reset every metric
        metric.reset_state()
    assert m.metrics[1].metrics[0].result() == 0.0
    # metrics_names is Keras 3's; evaluate's list is the loss, then the metrics in order
    assert m.metrics_names == ["loss", "compile_metrics"]
    values = m.evaluate(x, y, verbose=0)
    assert dict(zip(["loss", "accuracy", "top1"], values)) == m.evaluate(x, y, verbose=0,
                                                                          return_dict=True)
    bare = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    assert bare.metrics_names == []
    bare.compile("sgd", "mse")
    assert bare.metrics_names == ["loss"]


def test_fit_with_validation_leaves_the_validation_values():
    m = _model(["accuracy"])
    x, y = _data()
    hist = m.fit(x, y, epochs=1, batch_size=8, validation_data=(x[:6], y[:6]),
                 verbose=0).history
    assert m.metrics[0].result() == hist["val_loss"][-1]
    assert m.metrics[1].result() == {"accuracy": hist["val_accuracy"][-1]}


def test_loss_only_model_has_just_the_tracker():
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    m.compile("sgd", "mse")
    x, _ = _data()
    loss = m.evaluate(x, np.zeros((16, 2)), verbose=0)
    assert [type(t).__name__ for t in m.metrics] == ["Mean"]
    assert m.metrics[0].result() == loss
