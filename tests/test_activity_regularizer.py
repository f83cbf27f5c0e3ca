"""``activity_regularizer`` on layers, as Keras 3: ``reg(output) / batch size`` joins the loss
of each call (training, evaluate, a direct call), its gradient flows back through the layer,
``layer.losses`` / ``model.losses`` hold the last call's value, the loss in History includes
it; the compiled path never takes such a model; configs (fastff and .keras) keep it.
Reference numbers: Keras 3.15.1, torch backend, hard-coded."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import layers, regularizers
from fastff.testing import check_grads

X = np.array([[0.126, -0.132, 0.64], [0.105, -0.536, 0.362], [1.304, 0.947, -0.704],
              [-1.265, -0.623, 0.041], [-2.325, -0.219, -1.246], [-0.732, -0.544, -0.316]],
             np.float32)
Y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1, 0]]
W1 = np.array([[0.412, 1.043, -0.129, 1.366], [-0.665, 0.352, 0.903, 0.094],
               [-0.743, -0.922, -0.458, 0.22]], np.float32)
W2 = np.array([[-1.01, -0.209], [-0.159, 0.541], [0.215, 0.355], [-0.654, -0.13]], np.float32)


def _model(**kw):
    m = fastff.Sequential([
        fastff.Input((3,)),
        layers.Dense(4, activation="tanh", activity_regularizer=regularizers.l1(0.05)),
        layers.Dense(2, activation="softmax",
                     activity_regularizer=regularizers.l1_l2(0.01, 0.02))], **kw)
    m.set_weights([W1, np.zeros(4, np.float32), W2, np.zeros(2, np.float32)])
    return m


def test_training_equals_keras():
    m = _model()
    m.compile(fastff.optimizers.SGD(0.5), "categorical_crossentropy")
    assert m.evaluate(X, Y, batch_size=6, verbose=0) == pytest.approx(0.6929060816764832,
                                                                         rel=2e-6)
    h = m.fit(X, Y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], [0.7074362635612488, 0.6548230648040771],
                               rtol=2e-6)
    keras_w = [
        [[0.16560493409633636, 0.9551569819450378, -0.17050360143184662, 1.3860657215118408],
         [-0.6100119352340698, 0.3477688133716583, 0.9047906994819641, 0.09339728206396103],
         [-0.958724856376648, -0.9768375158309937, -0.4861676096916199, 0.2109176069498062]],
        [0.031232617795467377, 0.02377164736390114, 0.008094143122434616, -0.03436241298913956],
        [[-1.0799334049224854, -0.13906656205654144], [-0.10177784413099289, 0.48377788066864014],
         [-0.035510703921318054, 0.6055107116699219], [-0.6069022417068481, -0.17709775269031525]],
        [-0.11098836362361908, 0.11098837107419968]]
    for got, want in zip(m.get_weights(), keras_w):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert m.evaluate(X, Y, batch_size=6, verbose=0) == pytest.approx(0.6187702417373657,
                                                                         rel=2e-6)
    # model.losses: each layer's loss of the last call (evaluate's one batch), as Keras
    np.testing.assert_allclose(m.losses, [0.11111056059598923, 0.02148076891899109], rtol=2e-6)


def test_direct_call_records_layer_losses():
    # Keras: Dense(2, kernel ones, activity l2(0.1)) on arange(12)/10 -> 0.747 (divided by 4)
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    d = layers.Dense(2, kernel_initializer="ones", activity_regularizer=regularizers.l2(0.1))
    assert d.losses == []
    d(x)
    assert d.losses == [pytest.approx(0.747, rel=1e-6)]
    m = fastff.Sequential([fastff.Input((3,)), d, layers.Dense(1)])
    m(x[:2])  # the last call's value replaces the previous one
    assert m.losses == [pytest.approx(0.1 * 2 * (0.3 ** 2 + 1.2 ** 2) / 2, rel=1e-6)]


@pytest.mark.parametrize("reg", [regularizers.l1(0.3), regularizers.l2(0.2),
                                 regularizers.l1_l2(0.1, 0.4)])
def test_gradients_central_differences(reg):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    y = rng.normal(size=(5, 2))
    m = fastff.Sequential([fastff.Input((3,)), layers.Dense(4, activation="tanh",
                                                            activity_regularizer=reg),
                           layers.Dense(2, activity_regularizer=reg)], dtype="float64")
    m.compile("sgd", "mse")
    check_grads(m, x, y, tol=1e-6)


def test_functional_and_activation_layer_gradients():
    rng = np.random.default_rng(1)
    inp = fastff.Input((3,))
    h = layers.Dense(4)(inp)
    h = layers.Activation("sigmoid", activity_regularizer="l2")(h)
    out = layers.Dense(2, activation="softmax", activity_regularizer=regularizers.l1(0.1))(h)
    m = fastff.Model(inp, out, dtype="float64")
    m.compile("sgd", "categorical_crossentropy")
    y = np.eye(2)[[0, 1, 1, 0, 1]]
    check_grads(m, rng.normal(size=(5, 3)), y, tol=1e-6)
    assert not m._fused()  # a regularized softmax output is not folded into the loss


def test_the_penalty_is_in_the_loss_and_the_compiled_path_declines():
    from fastff.training import compiled

    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = rng.normal(size=(32, 1)).astype(np.float32)

    def make(reg):
        m = fastff.Sequential([fastff.Input((4,)), layers.Dense(8, activation="relu",
                                                                activity_regularizer=reg),
                               layers.Dense(1)])
        m.compile("adam", "mse")
        return m

    plain, reg = make(None), make(regularizers.l2(1.0))
    reg.set_weights(plain.get_weights())
    base = plain.evaluate(x, y, verbose=0)
    with_reg = reg.evaluate(x, y, verbose=0)
    hidden = np.maximum(x @ reg.layers[0].kernel.numpy() + reg.layers[0].bias.numpy(), 0)
    assert with_reg - base == pytest.approx(float(np.sum(hidden.astype(np.float64) ** 2)) / 32,
                                            rel=1e-5)
    h = reg.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    # the penalty pulls the hidden activations down against the unregularized run
    plain.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert compiled.train_plan(plain, 8) is not None  # the same model without it compiles
    assert compiled.train_plan(reg, 8) is None
    assert np.abs(reg.layers[0](x)).mean() < np.abs(plain.layers[0](x)).mean()


def test_subclassed_model_counts_it():
    class Net(fastff.Model):
        def __init__(self):
            super().__init__(dtype="float64")
            self.a = layers.Dense(3, activation="tanh", activity_regularizer=regularizers.l2(0.5))
            self.b = layers.Dense(1)

        def call(self, x):
            return self.b(self.a(x))

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
    net = Net()
    net.compile("sgd", "mse")
    net(x)
    check_grads(net, x, y, tol=1e-6)
    total = net.evaluate(x, y, verbose=0)
    mse = float(np.mean((net.predict(x, verbose=0) - y) ** 2))
    h = np.tanh(x @ net.a.kernel.numpy() + net.a.bias.numpy())
    assert total == pytest.approx(mse + 0.5 * np.sum(h ** 2) / 6, rel=1e-9)


def test_config_round_trips(tmp_path):
    from fastff.keras_format import load_keras, save_keras

    m = _model()
    cfg = m.layers[0].get_config()
    assert cfg["activity_regularizer"] == {"class_name": "L1", "config": {"l1": 0.05}}
    assert "activity_regularizer" not in layers.Dense(2).get_config()  # as Keras: when set
    d = layers.Dense.from_config(cfg)
    assert isinstance(d.activity_regularizer, regularizers.L1) and d.activity_regularizer.l1 == 0.05
    m.compile("sgd", "categorical_crossentropy")
    m.save(tmp_path / "m.fastff")
    m2 = fastff.models.load_model(tmp_path / "m.fastff")
    assert m2.layers[1].activity_regularizer.get_config() == {"l1": 0.01, "l2": 0.02}
    save_keras(m, tmp_path / "m.keras")
    m3 = load_keras(tmp_path / "m.keras")
    assert m3.layers[0].activity_regularizer.get_config() == {"l1": 0.05}
    for mm in (m2, m3):
        assert mm.evaluate(X, Y, verbose=0) == pytest.approx(m.evaluate(X, Y, verbose=0),
                                                              rel=1e-6)


def test_keras_file_shape_of_the_config(tmp_path):
    import json
    import zipfile

    from fastff.keras_format import save_keras

    save_keras(_model(), tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        cfg = json.loads(z.read("config.json"))
    dense = [lay for lay in cfg["config"]["layers"] if lay["class_name"] == "Dense"]
    # Keras 3.15: {'module': 'keras.regularizers', 'class_name': 'L2', 'config': {'l2': 0.1},
    # 'registered_name': None}
    assert dense[0]["config"]["activity_regularizer"] == {
        "module": "keras.regularizers", "class_name": "L1", "config": {"l1": 0.05},
        "registered_name": None}
