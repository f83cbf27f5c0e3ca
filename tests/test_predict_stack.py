"""The compiled predict stack beyond plain Dense units: BatchNormalization (moving
statistics), LayerNormalization, an elementwise activation layer after a hidden unit,
Rescaling in front of a unit, frozen layers. Each gives bitwise the general path's
predictions (the same kernels in the same order), in float32 and float64, on odd shapes, with
NaN in the weights propagating."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import config, layers, optimizers
from fastff.training import compiled


def _net(kind: str, dtype: str = "float32", d: int = 13, seed: int = 3):
    config.set_seed(seed)
    rng = np.random.default_rng(seed)
    s: list = [layers.Input((d,))]
    if kind == "bn-relu":  # Keras's usual Dense -> BN -> ReLU
        for n in (11, 7):
            s += [layers.Dense(n), layers.BatchNormalization(), layers.Activation("relu")]
    elif kind == "bn-no-center-scale":
        s += [layers.Dense(9, activation="tanh"),
              layers.BatchNormalization(center=False, scale=False, epsilon=0.3),
              layers.Dense(6), layers.BatchNormalization(scale=False),
              layers.Activation("elu")]
    elif kind == "acts":  # activation layers after plain units, every kind of parameter
        s += [layers.Dense(10), layers.Activation("gelu"), layers.Dense(9, activation="relu"),
              layers.LeakyReLU(negative_slope=0.15), layers.Dense(8),
              layers.Activation("softplus"), layers.Dense(7), layers.BatchNormalization(),
              layers.Activation("silu")]
    elif kind == "rescale":
        s += [layers.Rescaling(1 / 255.0, offset=-0.25), layers.Dense(8, activation="relu"),
              layers.BatchNormalization(), layers.Activation("tanh"),
              layers.Rescaling(list(np.linspace(0.5, 2.0, 8)), offset=0.125),
              layers.Dense(6, activation="sigmoid")]
    elif kind == "layer-norm":
        s += [layers.Dense(9), layers.LayerNormalization(), layers.Activation("relu"),
              layers.Dense(8, activation="tanh"),
              layers.LayerNormalization(rms_scaling=True, epsilon=0.01),
              layers.Dense(6, activation="relu"),
              layers.LayerNormalization(center=False, scale=False)]
    elif kind == "no-bias":  # Keras's Dense(use_bias=False) -> BN -> ReLU
        for n in (10, 8):
            s += [layers.Dense(n, use_bias=False), layers.BatchNormalization(),
                  layers.ReLU()]
        s.append(layers.Dense(6, use_bias=False, activation="tanh"))
    elif kind == "dense-acts":  # activations the GEMM epilogue does not apply
        s += [layers.Dense(10, activation="gelu"), layers.Dense(9, activation="softplus"),
              layers.Dense(8, activation="silu", use_bias=False),
              layers.Dense(7, activation="hard_sigmoid"), layers.Dense(6, activation="selu")]
    elif kind == "frozen":
        s += [layers.Dense(9, activation="relu", trainable=False),
              layers.BatchNormalization(trainable=False), layers.Dense(5)]
    s.append(layers.Dense(4, activation="softmax" if kind != "rescale" else "linear"))
    model = fastff.Sequential(s, dtype=dtype)
    model.build()
    for la in model.layers:
        if isinstance(la, layers.LayerNormalization):
            for p in la.params:
                p.value[...] = rng.standard_normal(p.shape)
        if isinstance(la, layers.BatchNormalization):
            n = la.moving_mean.shape[0]
            la.moving_mean.value[...] = rng.standard_normal(n)
            la.moving_variance.value[...] = rng.random(n) + 0.25
            if la.gamma is not None:
                la.gamma.value[...] = rng.random(n) + 0.5
            if la.beta is not None:
                la.beta.value[...] = rng.standard_normal(n) * 0.3
    return model


KINDS = ("bn-relu", "bn-no-center-scale", "acts", "rescale", "layer-norm", "no-bias",
         "dense-acts", "frozen")


def _general(model, x, **kw):
    compiled.ENABLED = False
    try:
        return model.predict(x, verbose=0, **kw)
    finally:
        compiled.ENABLED = True


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_compiled_predict_is_bitwise_the_general_one(kind, dtype):
    model = _net(kind, dtype)
    assert compiled.predict_plan(model) is not None  # the case really is compiled
    rng = np.random.default_rng(1)
    for rows in (1, 2, 5, 33, 301):
        x = (rng.standard_normal((rows, 13)) * (100 if kind == "rescale" else 1)).astype(dtype)
        fast = model.predict(x, verbose=0)
        assert fast.dtype == np.dtype(dtype)
        assert np.array_equal(fast, _general(model, x)), rows
        assert np.array_equal(model.predict(x, batch_size=7, verbose=0),
                              _general(model, x, batch_size=7))
    assert np.isfinite(fast).all() and np.abs(fast).max() > 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("where", ["moving_variance", "gamma", "moving_mean", "kernel"])
def test_nan_in_weights_propagates_as_on_the_general_path(where, dtype):
    model = _net("bn-relu", dtype)
    bn = model.layers[1]
    p = model.layers[0].kernel if where == "kernel" else getattr(bn, where)
    p.value.reshape(-1)[2] = np.nan
    model.set_weights(model.get_weights())  # any write path will do; this one is public
    x = np.random.default_rng(2).standard_normal((9, 13)).astype(dtype)
    fast = model.predict(x, verbose=0)
    slow = _general(model, x)
    assert np.isnan(fast).any()
    assert np.array_equal(fast, slow, equal_nan=True)


def test_predict_only_stacks_still_train_on_the_general_path():
    """What only inference compiles (activation layers right after plain hidden units, a
    Dense without an epilogue activation) trains on the general engine, and trains as it
    would with the compiled path off."""
    x = np.random.default_rng(0).standard_normal((64, 13)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 4, 64)
    got = []
    for on in (True, False):
        compiled.ENABLED = on
        try:
            model = _net("acts")
            model.compile(optimizer=optimizers.Adam(0.01),
                          loss="sparse_categorical_crossentropy")
            assert compiled.train_plan(model, 16) is None
            model.fit(x, y, batch_size=16, epochs=2, verbose=0)
            got.append((model.params.copy(), model.predict(x, verbose=0)))
        finally:
            compiled.ENABLED = True
    assert np.array_equal(got[0][0], got[1][0]) and np.array_equal(got[0][1], got[1][1])


def test_rescaling_settings_changed_after_a_predict_are_seen():
    model = _net("rescale")
    x = np.random.default_rng(3).standard_normal((4, 13)).astype(np.float32) * 50
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    model.layers[0].scale = 1 / 128.0
    assert np.array_equal(model.predict(x, verbose=0), _general(model, x))
    model.layers[3].scale = [1.0] * 7 + [3.0]
    assert np.array_equal(model.predict(x, verbose=0), _general(model, x))
    model.layers[3].scale = np.linspace(0.5, 1.5, 8)  # an array, compared by value
    assert np.array_equal(model.predict(x, verbose=0), _general(model, x))
    model.layers[3].scale = np.linspace(0.5, 1.5, 8)  # equal values: the same lowering
    assert np.array_equal(model.predict(x, verbose=0), _general(model, x))


def test_what_inference_does_not_compile_stays_general():
    config.set_seed(0)
    cases = [
        [layers.Dense(5), layers.Activation("relu")],  # an activation after the output unit
        [layers.Dense(5, activation="gelu")],  # an output unit the epilogue does not finish
        [layers.Dense(6, activation="gelu"), layers.BatchNormalization(), layers.Dense(5)],
        [layers.Dense(5), layers.Rescaling(2.0)],  # a trailing Rescaling
        [layers.Rescaling([1.0, 2.0]), layers.Dense(5)],  # values that do not broadcast
        [layers.BatchNormalization(), layers.Dense(5)],  # BN on the input
        [layers.Dense(6), layers.BatchNormalization(), layers.Activation("softmax"),
         layers.Dense(5)],  # a softmax between units
    ]
    for stack in cases:
        model = fastff.Sequential([layers.Input((3,)), *stack])
        model.build()
        assert compiled.predict_plan(model) is None, stack
        if not isinstance(stack[0], layers.Rescaling):  # (that one fails in NumPy's broadcast)
            assert model.predict(np.ones((2, 3), np.float32), verbose=0).shape == (2, 5)


def test_batch_norm_epsilon_changed_after_a_predict_is_seen():
    model = _net("bn-relu")
    x = np.random.default_rng(3).standard_normal((4, 13)).astype(np.float32)
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    model.layers[1].epsilon = 0.5
    assert np.array_equal(model.predict(x, verbose=0), _general(model, x))
    model = _net("layer-norm")
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    model.layers[4].rms_scaling = False
    model.layers[1].epsilon = 0.25
    assert np.array_equal(model.predict(x, verbose=0), _general(model, x))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_in_layer_norm_and_rescaled_inputs_propagates(dtype):
    for kind, layer, attr in (("layer-norm", 1, "gamma"), ("layer-norm", 1, "beta"),
                              ("rescale", 1, "kernel")):
        model = _net(kind, dtype)
        getattr(model.layers[layer], attr).value.reshape(-1)[1] = np.nan
        x = np.random.default_rng(2).standard_normal((6, 13)).astype(dtype)
        fast = model.predict(x, verbose=0)
        assert np.isnan(fast).any()
        assert np.array_equal(fast, _general(model, x), equal_nan=True)


def test_threads_predicting_an_inference_only_stack_get_the_serial_results():
    import threading

    model = _net("rescale")
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((n, 13)).astype(np.float32) * 40 for n in (1, 3, 3, 64, 257)]
    serial = [model.predict(x, verbose=0) for x in inputs]
    failures: list[str] = []
    barrier = threading.Barrier(4)

    def worker(k: int) -> None:
        barrier.wait()
        for i in np.random.default_rng(k).permutation(len(inputs) * 6) % len(inputs):
            if not np.array_equal(model.predict(inputs[i], verbose=0), serial[i]):
                failures.append(f"thread {k}, input {i}")
                return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == [] and not any(t.is_alive() for t in threads)
