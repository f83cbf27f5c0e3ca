"""Subclassed models (``class M(fastff.Model)``): tracking, building, training on the general
path (bitwise equal to the same Sequential), gradients, add_loss, save/load, errors."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import layers, ops
from fastff.saving import FormatError
from fastff.testing import check_grads


class MLP(fastff.Model):
    """Dense(relu) stack then a linear head: the Sequential equivalent is easy to write."""

    def __init__(self, hidden=(8,), out=2, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = list(hidden)
        self.out = out
        self.blocks = [layers.Dense(h, activation="relu") for h in hidden]
        self.head = layers.Dense(out)

    def call(self, x, training=None):
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden_units, "out": self.out}


class Residual(fastff.Model):
    """A residual block written with ops, a dict of layers and a nested subclassed model."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.parts = {"inner": layers.Dense(4, activation="tanh")}
        self.sub = MLP(hidden=(3,), out=4)
        self.head = layers.Dense(2)

    def call(self, x, training=None):
        h = self.parts["inner"](x)
        h = ops.add(h, ops.multiply(0.5, self.sub(h)))  # residual through a nested model
        return self.head(ops.tanh(h))


def _data(n=32, d=4, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, k))


# ------------------------------------------------------------------ structure
def test_tracking_order_lists_dicts_nested_and_get_layer():
    m = Residual()
    assert [type(la).__name__ for la in m.layers] == ["Dense", "MLP", "Dense"]
    assert m.layers[0] is m.parts["inner"] and m.layers[1] is m.sub
    assert m.get_layer(index=2) is m.head
    assert m.get_layer(m.head.name) is m.head
    with pytest.raises(ValueError, match="No such layer: nope"):
        m.get_layer("nope")
    assert not m.built
    m.build((None, 4))
    assert m.built and m.output_shape == (None, 2)
    # weights of the nested model are the outer model's, in tracking order
    assert m.count_params() == (4 * 4 + 4) + (4 * 3 + 3 + 3 * 4 + 4) + (4 * 2 + 2)
    assert len(m.weights) == 8 and len(m.trainable_weights) == 8
    m.sub.trainable = False
    assert len(m.trainable_weights) == 4 and len(m.non_trainable_weights) == 4
    assert isinstance(m, fastff.Model) and isinstance(m, fastff.Sequential)


def test_list_appended_after_init_is_tracked_and_name_like_keras():
    m = MLP(hidden=(3,))
    extra = layers.Dense(2)
    m.blocks.append(extra)
    assert extra in m.layers
    assert m.name.startswith("mlp")
    assert MLP(name="custom").name == "custom"


def test_built_on_first_data_and_predict_summary():
    m = MLP(hidden=(5,), out=3)
    x, _ = _data(7, 4)
    y = m.predict(x, verbose=0)
    assert y.shape == (7, 3) and m.built and m.input_shape == (None, 4)
    expect = np.maximum(x @ m.blocks[0].kernel.numpy() + m.blocks[0].bias.numpy(), 0)
    expect = expect @ m.head.kernel.numpy() + m.head.bias.numpy()
    np.testing.assert_allclose(y, expect, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m(x), y, rtol=1e-6)
    lines = []
    m.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 43" in text and m.blocks[0].name in text
    # each layer's output shape as built (Keras prints the shapes of the last call)
    rows = {line.split()[0]: line for line in lines if line.startswith(" dense")}
    assert "(None, 5)" in rows[m.blocks[0].name] and "(None, 3)" in rows[m.head.name]


# ------------------------------------------------------------------ training
def _train(model, x, y, loss="mse", epochs=3, **fit):
    model.compile(fastff.optimizers.SGD(0.1, momentum=0.9), loss)
    hist = model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, **fit)
    return hist.history, model.get_weights()


def test_trains_bitwise_like_sequential_general_path(monkeypatch):
    """Same kernels in the same order (Dense forward/backprop closures, MSE kernel, one SGD
    pass over the same flat layout; the tape only sequences them), so equality is bitwise.
    The Sequential runs on the general path (compiled path switched off)."""
    from fastff.training import compiled as fastpath

    monkeypatch.setattr(fastpath, "ENABLED", False)
    x, y = _data()
    fastff.utils.set_random_seed(3)
    m = MLP(hidden=(8,), dtype="float64")
    m.build((None, 4))
    hm, wm = _train(m, x, y, shuffle=True)
    fastff.utils.set_random_seed(3)
    s = fastff.Sequential([layers.Dense(8, activation="relu"), layers.Dense(2)], dtype="float64")
    s.build((None, 4))  # the same initializer draws as the subclassed model's build
    hs, ws = _train(s, x, y, shuffle=True)
    assert hm == hs
    for a, b in zip(wm, ws):
        assert np.array_equal(a, b)


def test_softmax_crossentropy_within_rounding_of_sequential():
    """Sequential fuses softmax into the cross-entropy (gradient p - y from the logits); the
    subclassed model's output is the probabilities, so the loss runs unfused (the same
    gradient through the softmax backward): equal within float rounding, not bitwise."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((24, 4)), rng.integers(0, 3, 24)

    class Clf(fastff.Model):
        def __init__(self):
            super().__init__(dtype="float64")
            self.h = layers.Dense(6, activation="relu")
            self.o = layers.Dense(3, activation="softmax")

        def call(self, x, training=None):
            return self.o(self.h(x))

    fastff.utils.set_random_seed(5)
    m = Clf()
    m.build((None, 4))
    hm, wm = _train(m, x, y, loss="sparse_categorical_crossentropy", shuffle=False)
    fastff.utils.set_random_seed(5)
    s = fastff.Sequential([layers.Dense(6, activation="relu"),
                           layers.Dense(3, activation="softmax")], dtype="float64")
    s.build((None, 4))
    hs, ws = _train(s, x, y, loss="sparse_categorical_crossentropy", shuffle=False)
    np.testing.assert_allclose(hm["loss"], hs["loss"], rtol=1e-12)
    for a, b in zip(wm, ws):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_check_grads_residual_model_with_ops():
    x, y = _data(6, 4)
    fastff.utils.set_random_seed(0)
    m = Residual(dtype="float64")
    m.compile("sgd", "mse")
    assert check_grads(m, x, y, tol=1e-6) < 1e-6
    assert check_grads(m, x, tol=1e-6) < 1e-6  # Σ r ⊙ output, input gradient included


class Penalized(fastff.Model):
    def __init__(self, rate=0.5, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.d = layers.Dense(2)

    def call(self, x, training=None):
        y = self.d(x)  # builds the layer on the first call, before its kernel is read
        self.add_loss(self.rate * ops.sum(ops.square(self.d.kernel)))
        return y


def test_add_loss_in_history_and_gradient():
    """add_loss(rate·Σk²) is the L2 regularizer: History against a hand computation, and the
    trained weights against a Sequential with kernel_regularizer=L2(rate) (within rounding:
    the regularizer adds its gradient directly, the tape through square and sum)."""
    x, y = _data(16, 3)
    fastff.utils.set_random_seed(2)
    m = Penalized(dtype="float64")
    m.build((None, 3))
    k0, b0 = m.d.kernel.numpy(), m.d.bias.numpy()
    m.compile(fastff.optimizers.SGD(0.05), "mse")
    hist = m.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    expect = np.mean((x @ k0 + b0 - y) ** 2) + 0.5 * np.sum(k0 ** 2)
    np.testing.assert_allclose(hist.history["loss"][0], expect, rtol=1e-12)
    m.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)

    fastff.utils.set_random_seed(2)
    s = fastff.Sequential([layers.Dense(2, kernel_regularizer=fastff.regularizers.L2(0.5))],
                          dtype="float64")
    s.build((None, 3))
    s.compile(fastff.optimizers.SGD(0.05), "mse")
    s.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    s.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)
    for a, b in zip(m.get_weights(), s.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # evaluate counts it too (as Keras)
    ev = m.evaluate(x, y, verbose=0)
    k, b = m.d.kernel.numpy(), m.d.bias.numpy()
    np.testing.assert_allclose(ev, np.mean((x @ k + b - y) ** 2) + 0.5 * np.sum(k ** 2),
                               rtol=1e-12)


def test_dropout_and_training_flag_reach_layers():
    class Drop(fastff.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(4)
            self.drop = layers.Dropout(0.5)

        def call(self, x, training=None):
            return self.drop(self.d(x), training=training)

    m = Drop()
    x = np.ones((8, 3), dtype="float32")
    y_inf = m.predict(x, verbose=0)
    y_tr = m(x, training=True)
    assert np.all(y_inf == y_inf[0])
    assert np.any(y_tr == 0) and not np.allclose(y_tr, y_inf)
    m.compile("sgd", "mse")
    m.fit(x, np.zeros((8, 4)), epochs=1, verbose=0)


# ------------------------------------------------------------------ saving
def test_save_weights_load_weights_into_fresh_unbuilt_model(tmp_path):
    x, y = _data(16, 4)
    m = MLP(hidden=(5,))
    _train(m, x, y, epochs=1)
    path = tmp_path / "w.fastff"
    m.save_weights(path)
    fresh = MLP(hidden=(5,))
    fresh.load_weights(path)  # built from the input shape the file records
    for a, b in zip(m.get_weights(), fresh.get_weights()):
        assert np.array_equal(a, b)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), m.predict(x, verbose=0))


def test_save_load_model_registered_and_custom_objects(tmp_path):
    x, y = _data(16, 4)

    @fastff.saving.register_serializable(package="tests")
    class RegisteredMLP(MLP):
        pass

    m = RegisteredMLP(hidden=(6,), out=2, name="reg")
    _train(m, x, y, epochs=1)
    path = tmp_path / "m.fastff"
    m.save(path)
    loaded = fastff.models.load_model(path)
    assert type(loaded) is RegisteredMLP and loaded.name == "reg"
    assert loaded.hidden_units == [6]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), m.predict(x, verbose=0))
    # the optimizer state came back: one more epoch on both gives the same weights
    m.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(m.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)

    class Unregistered(MLP):
        pass

    u = Unregistered(hidden=(3,))
    _train(u, x, y, epochs=1)
    upath = tmp_path / "u.fastff"
    u.save(upath)
    with pytest.raises(FormatError, match="custom_objects.*register_serializable"):
        fastff.models.load_model(upath)
    again = fastff.models.load_model(upath, custom_objects={"Unregistered": Unregistered})
    np.testing.assert_array_equal(again.predict(x, verbose=0), u.predict(x, verbose=0))


def test_save_load_resumes_dropout_and_shuffle_exactly(tmp_path):
    class DropMLP(MLP):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.drop = layers.Dropout(0.3)

        def call(self, x, training=None):
            return self.head(self.drop(self.blocks[0](x), training=training))

    x, y = _data(24, 4)
    m = DropMLP(hidden=(6,))
    m.compile("adam", "mse")
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    m.save(tmp_path / "d.fastff")
    loaded = fastff.models.load_model(tmp_path / "d.fastff",
                                      custom_objects={"DropMLP": DropMLP})
    m.fit(x, y, epochs=2, batch_size=8, verbose=0, initial_epoch=1)
    loaded.fit(x, y, epochs=2, batch_size=8, verbose=0, initial_epoch=1)
    for a, b in zip(m.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)


def test_save_without_get_config_uses_the_init_arguments(tmp_path):
    m = Residual(name="res")  # no get_config: saved from its __init__ arguments (Keras 3)
    m.build((None, 4))
    assert m.get_config() == {"name": "res", "trainable": True, "dtype": "float32"}
    m.save(tmp_path / "r.fastff")
    with pytest.raises(Exception, match="Residual.*custom_objects"):
        fastff.models.load_model(tmp_path / "r.fastff")  # the class is still needed
    back = fastff.models.load_model(tmp_path / "r.fastff",
                                    custom_objects={"Residual": Residual, "MLP": MLP})
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    m.save_weights(tmp_path / "r.weights")


# ------------------------------------------------------------------ errors
def test_clear_errors():
    class NoCall(fastff.Model):
        pass

    with pytest.raises(TypeError, match="must define call"):
        NoCall()

    class Early(fastff.Model):
        def __init__(self):
            self.d = layers.Dense(2)
            super().__init__()

        def call(self, x, training=None):
            return self.d(x)

    with pytest.raises(RuntimeError, match="super\\(\\).__init__\\(\\) before"):
        Early()

    class Forgot(fastff.Model):
        def __init__(self):  # no super().__init__()
            self.units = 3

        def call(self, x, training=None):
            return x

    with pytest.raises(AttributeError, match="call super\\(\\).__init__\\(\\)"):
        Forgot().predict(np.ones((2, 2)))

    class NotArray(fastff.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, x, training=None):
            return {"y": self.d(x)}

    with pytest.raises(TypeError, match="returned dict, expected an array"):
        NotArray().predict(np.ones((2, 2)))
    class DictWhenTraining(NotArray):
        def call(self, x, training=None):
            y = self.d(x)
            return {"y": y} if training else y

    bad = DictWhenTraining()
    bad.build((None, 2))
    bad.compile("sgd", "mse")
    with pytest.raises(TypeError, match="returned dict, expected an array"):
        bad.train_on_batch(np.ones((2, 2)), np.ones((2, 2)))
    class FunctionalStyle(fastff.Model):
        def __init__(self):
            inp = fastff.Input((2,))
            super().__init__(inputs=inp, outputs=layers.Dense(1)(inp))

    with pytest.raises(TypeError, match="define call\\(\\), or build fastff.Model"):
        FunctionalStyle()
    m = MLP()
    with pytest.raises(TypeError, match="add\\(\\)"):
        m.add(layers.Dense(2))
    m.build((None, 4))
    with pytest.raises(ValueError, match=r"x: the model expects samples of shape \(4,\)"):
        m.predict(np.ones((2, 5)))


# ------------------------------------------------------------------ client script
def test_client_script_subclassed_mnist_mlp():
    """A Keras-style script with only the import changed: subclassed MLP on MNIST (the 5k
    subset under FASTFF_DATA, else synthetic digits-like blobs)."""
    try:
        from fastff.data import load_mnist_5k

        images, labels = load_mnist_5k()
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(labels))[:2000]
        x, y = images[idx].astype("float32") / 255.0, labels[idx]
        target = 0.8
    except (FileNotFoundError, OSError, ValueError):
        rng = np.random.default_rng(0)
        centers = rng.standard_normal((10, 64)) * 3
        y = rng.integers(0, 10, 2000)
        x = (centers[y] + rng.standard_normal((2000, 64))).astype("float32")
        target = 0.9

    class MNISTModel(fastff.Model):
        def __init__(self):
            super().__init__()
            self.dense1 = layers.Dense(128, activation="relu")
            self.dropout = layers.Dropout(0.1)
            self.dense2 = layers.Dense(10, activation="softmax")

        def call(self, inputs, training=False):
            x = self.dense1(inputs)
            x = self.dropout(x, training=training)
            return self.dense2(x)

    fastff.utils.set_random_seed(0)
    model = MNISTModel()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x[:1600], y[:1600], batch_size=64, epochs=3, verbose=0,
                        validation_split=0.1)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x[1600:], y[1600:], verbose=0)
    assert acc > target
    assert model.predict(x[1600:1605], verbose=0).shape == (5, 10)


def test_nested_sequential_trains_with_outer_weights_and_freezes():
    class WithBlock(fastff.Model):
        def __init__(self):
            super().__init__(dtype="float64")
            self.block = fastff.Sequential([layers.Dense(4, activation="relu"), layers.Dense(4)])
            self.head = layers.Dense(1)

        def call(self, x, training=None):
            return self.head(ops.add(x, self.block(x)))  # a residual around the Sequential

    x, y = _data(16, 4, 1)
    m = WithBlock()
    m.compile(fastff.optimizers.SGD(0.05), "mse")
    assert check_grads(m, x[:4], y[:4]) < 1e-6
    before = m.block.get_weights()
    m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = m.block.get_weights()
    assert not np.array_equal(before[0], after[0])
    assert [a.shape for a in m.get_weights()[:4]] == [a.shape for a in after]
    lines = []
    m.summary(print_fn=lines.append)
    assert " Total params: 45 " in "\n".join(lines) + " "
    m.block.trainable = False
    m.compile(fastff.optimizers.SGD(0.05), "mse")
    frozen = m.block.get_weights()
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(frozen, m.block.get_weights()):
        assert np.array_equal(a, b)
    assert len(m.trainable_weights) == 2


class TwoInputs(fastff.Model):
    """Keras-style dict inputs: integer ids through an Embedding and float features."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embed = layers.Embedding(7, 3)
        self.dense = layers.Dense(3)
        self.head = layers.Dense(1)

    def call(self, inputs, training=None):
        e = ops.mean(self.embed(inputs["ids"]), axis=1)
        return self.head(ops.concatenate([e, self.dense(inputs["feats"])], axis=-1))

    def get_config(self):
        return super().get_config()


def test_dict_inputs_fit_predict_shuffle_and_save(tmp_path):
    rng = np.random.default_rng(0)
    x = {"ids": rng.integers(0, 7, (30, 4)), "feats": rng.standard_normal((30, 2))}
    y = rng.standard_normal((30, 1))
    m = TwoInputs()
    m.compile("adam", "mse")
    h = m.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.2)
    assert set(h.history) == {"loss", "val_loss"} and h.history["loss"][-1] < h.history["loss"][0]
    assert m.input_shape == {"ids": (None, 4), "feats": (None, 2)}
    p = m.predict(x, batch_size=7, verbose=0)
    assert p.shape == (30, 1)
    e = m.embed.embeddings.numpy()[x["ids"]].mean(axis=1)
    d = x["feats"] @ m.dense.kernel.numpy() + m.dense.bias.numpy()
    expect = np.concatenate([e, d], -1) @ m.head.kernel.numpy() + m.head.bias.numpy()
    np.testing.assert_allclose(p, expect, rtol=1e-4, atol=1e-5)
    m.save_weights(tmp_path / "two.weights")
    fresh = TwoInputs()
    fresh.load_weights(tmp_path / "two.weights")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), p)
    m.save(tmp_path / "two.fastff")
    again = fastff.models.load_model(tmp_path / "two.fastff",
                                     custom_objects={"TwoInputs": TwoInputs})
    np.testing.assert_array_equal(again.predict(x, verbose=0), p)
    with pytest.raises(ValueError, match="built for inputs"):
        m.predict(x["feats"])


def test_list_inputs_build_and_train():
    class Pair(fastff.Model):
        def __init__(self):
            super().__init__()
            self.a = layers.Dense(2)
            self.b = layers.Dense(2)

        def call(self, inputs, training=None):
            left, right = inputs
            return ops.add(self.a(left), self.b(right))

    m = Pair()
    m.build([(None, 2), (None, 3)])
    assert m.input_shape == [(None, 2), (None, 3)] and m.count_params() == 6 + 8
    rng = np.random.default_rng(1)
    x = [rng.standard_normal((16, 2)), rng.standard_normal((16, 3))]
    m.compile("sgd", "mse")
    h = m.fit(x, rng.standard_normal((16, 2)), epochs=2, batch_size=4, verbose=0)
    assert len(h.history["loss"]) == 2
    with pytest.raises(ValueError, match=r"x\[1\]: the model expects samples of shape \(3,\)"):
        m.predict([x[0], x[1][:, :2]])


def test_add_loss_in_a_sequential_layer_is_refused_not_ignored():
    class Penalty(layers.Layer):
        def call(self, x):
            self.add_loss(ops.sum(ops.square(x)))
            return x

    s = fastff.Sequential([layers.Dense(2), Penalty()])
    s.compile("sgd", "mse")
    with pytest.raises(NotImplementedError, match="add_loss.*subclassed"):
        s.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1, verbose=0)
    Penalty()(np.ones((2, 2)))  # eager: kept in layer.losses, as Keras


# ------------------------------------------------------------------ call(self, x): no training
def test_call_without_training_argument_trains_and_matches_one_with_it():
    """Keras passes ``training`` only when ``call`` accepts it; the flag still reaches inner
    layers (a Dropout is active in fit, off in predict)."""
    class Plain(fastff.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(4)
            self.drop = layers.Dropout(0.5)
            self.head = layers.Dense(2)

        def call(self, x):
            return self.head(self.drop(self.d(x)))

    class WithFlag(Plain):
        def call(self, x, training=None):
            return self.head(self.drop(self.d(x), training=training))

    x, y = _data(16, 3)
    models = []
    for cls in (Plain, WithFlag):
        fastff.utils.set_random_seed(3)
        m = cls()
        m.build((None, 3))
        models.append(m)
    models[1].set_weights(models[0].get_weights())
    ones = np.ones((8, 3))
    y_inf = models[0].predict(ones, verbose=0)
    assert np.all(y_inf == y_inf[0])  # Dropout off in inference
    y_tr = models[0](ones, training=True)
    assert not np.allclose(y_tr, y_inf)  # on when training, though call has no flag
    hist = []
    for m in models:
        fastff.utils.set_random_seed(5)
        m.compile("sgd", "mse")
        hist.append(m.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"])
    assert hist[0] == hist[1]
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        assert np.array_equal(a, b)


def test_nested_model_and_custom_layer_without_training_argument():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return ops.multiply(x, self.w)

    class Inner(fastff.Model):
        def __init__(self):
            super().__init__()
            self.s = Scale()

        def call(self, x):
            return self.s(x)

    class Outer(fastff.Model):
        def __init__(self):
            super().__init__()
            self.inner = Inner()
            self.head = layers.Dense(1, kernel_initializer="ones")

        def call(self, x):
            return self.head(self.inner(x))

    m = Outer()
    x = np.arange(6, dtype="float64").reshape(3, 2)
    np.testing.assert_allclose(m.predict(x, verbose=0)[:, 0], x.sum(axis=1))
    m.compile("sgd", "mse")
    m.fit(x, np.zeros((3, 1)), epochs=1, verbose=0)
    assert not np.allclose(m.inner.s.w.numpy(), 1.0)  # the custom layer's weight trained
