"""Keras 3's per-element activations (relu6 ... squareplus), its ``threshold`` function and
the ``ReLU``/``Softmax`` layer arguments: values equal to Keras 3.15's (torch backend,
hard-coded below), derivatives by float64 central differences, NaN/inf as Keras gives them,
the CPU kernels equal to the NumPy reference, names through configs, .keras and exports."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import activations, layers
from fastff.backend import get_ops, spec
from fastff.testing import check_grads

NAN, INF = float("nan"), float("inf")
XS = [-25.0, -6.5, -3.0, -2.0, -1.0, -0.7, -0.5, -0.25, 0.0, 0.3, 0.5, 0.9, 1.0, 2.5, 3.0, 6.0,
      7.5, 25.0, NAN, INF, -INF]
# keras.activations.<name>(XS) in float64, Keras 3.15.1, torch backend
KERAS = {
    "relu6": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.5, 0.9, 1.0, 2.5, 3.0, 6.0,
              6.0, 6.0, NAN, 6.0, 0.0],
    "mish": [-3.471985966216896e-10, -0.00976500869207133, -0.1456474612756246,
             -0.2525014826957089, -0.30340146137410895, -0.267870234795501, -0.22074377465173,
             -0.12992696367914103, 0.0, 0.20800137234811503, 0.37524521130489513,
             0.7612059289525154, 0.8650983882673103, 2.471392304557881, 2.9865350049679575,
             5.999926634065252, 7.499995416538079, 25.0, NAN, INF, NAN],
    "hard_silu": [-0.0, -0.0, -0.0, -0.3333333333333333, -0.3333333333333333,
                  -0.2683333333333333, -0.20833333333333334, -0.11458333333333333, 0.0,
                  0.16499999999999998, 0.2916666666666667, 0.585, 0.6666666666666666,
                  2.2916666666666665, 3.0, 6.0, 7.5, 25.0, NAN, INF, NAN],
    "hard_tanh": [-1.0, -1.0, -1.0, -1.0, -1.0, -0.7, -0.5, -0.25, 0.0, 0.3, 0.5, 0.9, 1.0, 1.0,
                  1.0, 1.0, 1.0, 1.0, NAN, 1.0, -1.0],
    "log_sigmoid": [-25.000000000013888, -6.501502310159754, -3.048587351573742,
                    -2.1269280110429727, -1.3132616875182228, -1.103186048885458,
                    -0.9740769841801067, -0.8259394198788436, -0.6931471805599453,
                    -0.5543552444685271, -0.4740769841801067, -0.3411538747320878,
                    -0.31326168751822286, -0.07888973429254963, -0.04858735157374206,
                    -0.0024756851377304495, -0.0005529314753607964, -1.3887943864867583e-11,
                    NAN, 0.0, -INF],
    "celu": [-0.9999999999861121, -0.9984965608070224, -0.950212931632136, -0.8646647167633873,
             -0.6321205588285577, -0.5034146962085905, -0.3934693402873666,
             -0.22119921692859512, 0.0, 0.3, 0.5, 0.9, 1.0, 2.5, 3.0, 6.0, 7.5, 25.0, NAN, INF,
             -1.0],
    "hard_shrink": [-25.0, -6.5, -3.0, -2.0, -1.0, -0.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 1.0, 2.5,
                    3.0, 6.0, 7.5, 25.0, NAN, INF, -INF],
    "soft_shrink": [-24.5, -6.0, -2.5, -1.5, -0.5, -0.19999999999999996, 0.0, 0.0, 0.0, 0.0,
                    0.0, 0.4, 0.5, 2.0, 2.5, 5.5, 7.0, 24.5, NAN, INF, -INF],
    "tanh_shrink": [-24.0, -5.500004520648596, -2.0049452463132695, -1.035972419924183,
                    -0.23840584404423515, -0.09563222288283646, -0.03788284273999026,
                    -0.005081337596290869, 0.0, 0.008687387548409087, 0.03788284273999026,
                    0.18370212980097556, 0.23840584404423515, 1.5133857018485697,
                    2.0049452463132695, 5.000012288349204, 6.500000611804454, 24.0, NAN, INF,
                    -INF],
    "sparse_plus": [0.0, 0.0, 0.0, 0.0, 0.0, 0.022500000000000006, 0.0625, 0.140625, 0.25,
                    0.42250000000000004, 0.5625, 0.9025, 1.0, 2.5, 3.0, 6.0, 7.5, 25.0, NAN,
                    INF, 0.0],
    "sparse_sigmoid": [0.0, 0.0, 0.0, 0.0, 0.0, 0.15000000000000002, 0.25, 0.375, 0.5, 0.65,
                       0.75, 0.95, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, NAN, 1.0, 0.0],
    "squareplus": [0.0399362039844533, 0.15036762718386099, 0.30277563773199456,
                   0.41421356237309515, 0.6180339887498949, 0.7094810050208545,
                   0.7807764064044151, 0.8827822185373186, 1.0, 1.161187420807834,
                   1.2807764064044151, 1.5465856099730655, 1.618033988749895, 2.850781059358212,
                   3.302775637731995, 6.16227766016838, 7.6310436740650065, 25.039936203984453,
                   NAN, INF, NAN],
}
KERAS["hard_swish"] = KERAS["hard_silu"]
# with a parameter: celu(alpha=0.5), hard_shrink/soft_shrink(threshold=1), squareplus(b=1)
KERAS_PARAM = {
    ("celu", "alpha", 0.5): [-0.5, -0.4999988698352965, -0.4987606239116668, -0.4908421805556329,
                             -0.43233235838169365, -0.37670151802919677, -0.31606027941427883,
                             -0.1967346701436833, 0.0, 0.3, 0.5, 0.9, 1.0, 2.5, 3.0, 6.0, 7.5,
                             25.0, NAN, INF, -0.5],
    ("hard_shrink", "threshold", 1.0): [-25.0, -6.5, -3.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                                        0.0, 0.0, 0.0, 2.5, 3.0, 6.0, 7.5, 25.0, NAN, INF, -INF],
    ("soft_shrink", "threshold", 1.0): [-24.0, -5.5, -2.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                                        0.0, 0.0, 0.0, 1.5, 2.0, 5.0, 6.5, 24.0, NAN, INF, -INF],
    ("squareplus", "b", 1.0): [0.009996003196803827, 0.03823660949147634, 0.08113883008418976,
                               0.1180339887498949, 0.20710678118654757, 0.26032778078668517,
                               0.30901699437494745, 0.3903882032022076, 0.5, 0.6720153254455276,
                               0.8090169943749475, 1.1226812023536856, 1.2071067811865475,
                               2.596291201783626, 3.08113883008419, 6.041381265149109,
                               7.53318648760539, 25.009996003196804, NAN, INF, NAN],
}
# keras.activations.threshold(XS, 0.5, -9.0); relu(XS, negative_slope=0.1, max_value=4,
# threshold=0.5)
KERAS_THRESHOLD = [-9.0] * 11 + [0.9, 1.0, 2.5, 3.0, 6.0, 7.5, 25.0, NAN, INF, -9.0]
KERAS_RELU_KW = [-2.5500000000000003, -0.7000000000000001, -0.35000000000000003, -0.25,
                 -0.15000000000000002, -0.12, -0.1, -0.07500000000000001, -0.05,
                 -0.020000000000000004, 0.0, 0.9, 1.0, 2.5, 3.0, 4.0, 4.0, 4.0, NAN, 4.0, -INF]
NEW = sorted(KERAS)


def _same(a, b, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol,
                               atol=atol, equal_nan=True)


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_values_equal_keras(name, dtype, backend):
    x = np.array(XS, dtype).reshape(3, 7)
    with np.errstate(all="ignore"):
        y = get_ops(backend).activation(name, x, param=spec.param_default(name))
    assert y.dtype == dtype
    # float32: to its rounding (squareplus(-25) cancels: an absolute bound)
    _same(y.reshape(-1), KERAS[name], *((1e-13,) if dtype == np.float64 else (2e-6, 1e-6)))
    # the signs of zeros too (hard_silu(-3) is -0.0 in Keras)
    want = np.array(KERAS[name])
    zero = want == 0
    assert np.array_equal(np.signbit(y.reshape(-1)[zero]), np.signbit(want[zero]))


@pytest.mark.parametrize("key", list(KERAS_PARAM))
def test_parameters_equal_keras(key):
    name, kw, value = key
    x = np.array(XS)
    with np.errstate(all="ignore"):
        y = getattr(activations, name)(x, **{kw: value})
    _same(y, KERAS_PARAM[key], 1e-13)
    assert spec.param_name(name) == kw


def test_module_names_and_keras_list():
    for name in NEW:
        act = getattr(activations, name)
        assert activations.get(name) is act and act.name == name and not act.fused
    assert activations.hard_swish.name == "hard_swish"
    assert spec.code("hard_swish") == spec.code("hard_silu")
    # every name of keras.activations (3.15) resolves, but threshold (needs two required
    # arguments), glu and sparsemax (not per-element)
    keras_names = {"celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid",
                   "hard_silu", "hard_swish", "hard_tanh", "leaky_relu", "linear",
                   "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid",
                   "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus",
                   "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink",
                   "threshold"}
    assert keras_names - set(activations._BUILTINS) == {"threshold"}
    with pytest.raises(TypeError, match="threshold= and default_value="):
        activations.get("threshold")


def test_threshold_function_equals_keras():
    x = np.array(XS)
    _same(activations.threshold(x, 0.5, -9.0), KERAS_THRESHOLD, 0)
    y32 = activations.threshold(x.astype(np.float32), 0.5, -9.0)
    assert y32.dtype == np.float32


@pytest.mark.parametrize("name", NEW)
def test_derivative_central_differences(name):
    rng = np.random.default_rng(3)
    # away from the kinks (+-1, +-3, 0, +-threshold, 6) so central differences are exact
    x = rng.uniform(-5, 8, size=(7, 5))
    kinks = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0])
    x = np.where(np.min(np.abs(x[..., None] - kinks), axis=-1) < 1e-2, x + 0.05, x)
    for backend in ("numpy", "cpu"):
        err = check_grads(layers.Activation(name), x, ops=get_ops(backend), tol=1e-6)
        assert err < 1e-6


@pytest.mark.parametrize("name", ["mish", "celu", "squareplus", "soft_shrink", "relu6"])
def test_dense_trains_with_it_and_gradients_check(name):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 4)) * 2
    y = rng.normal(size=(9, 3))
    m = fastff.Sequential([fastff.Input((4,)), layers.Dense(5, activation=name),
                           layers.Dense(3)], dtype="float64")
    m.compile("sgd", "mse")
    check_grads(m, x, y, tol=1e-6)
    m32 = fastff.Sequential([fastff.Input((4,)), layers.Dense(5, activation=name),
                             layers.Dense(3)])
    m32.compile("adam", "mse")
    hist = m32.fit(x.astype(np.float32), y.astype(np.float32), epochs=3, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert m32.layers[0].get_config()["activation"] == name


def test_config_round_trip_keeps_parameter():
    act = activations.celu.with_param(alpha=0.25)
    d = layers.Dense(3, activation=act)
    d2 = layers.Dense.from_config(d.get_config())
    assert d2.activation == act and d2.activation.param == 0.25


# ------------------------------------------------------------------------- glu, sparsemax
# keras.activations.glu(X2) (Keras 3.15.1, torch)
X2 = [[0.5, 1.2, -0.3, 1.0], [3.0, -1.0, 0.2, 2.9]]
KERAS_GLU = [[0.2127787415941705, 0.8772702943560059], [1.6495019919374339, -0.9478464369215823]]


def test_glu_equals_keras_and_halves_the_width():
    x = np.array(X2)
    _same(activations.glu(x), KERAS_GLU, 1e-15)
    _same(activations.glu(x.T, axis=0), np.array(KERAS_GLU).T, 1e-15)
    assert layers.Dense(6, activation="glu").compute_output_shape((3,)) == (3,)
    with pytest.raises(ValueError, match="glu.*even"):
        fastff.Sequential([fastff.Input((3,)), layers.Dense(5, activation="glu")])
    m2 = fastff.Sequential([fastff.Input((3,)), layers.Dense(8, activation="glu"),
                            layers.Activation("glu"), layers.Dense(1)], dtype="float64")
    assert m2.predict(np.ones((2, 3)), verbose=0).shape == (2, 1)
    assert m2.layers[1].compute_output_shape((4,)) == (2,)
    m2.compile("sgd", "mse")
    rng = np.random.default_rng(5)
    check_grads(m2, rng.normal(size=(5, 3)), rng.normal(size=(5, 1)), tol=1e-6)


def test_sparsemax_is_the_papers_and_differs_from_keras():
    x = np.array([[0.5, 1.2, -0.3, 1.0, 0.0], [3.0, -1.0, 0.2, 2.9, NAN],
                  [-INF, 0.0, 1.0, 0.5, 0.25], [1.0, 1.0, 1.0, 1.0, 1.0]])
    want = [[0.0, 0.6, 0.0, 0.4, 0.0], [NAN] * 5, [0.0, 0.0, 0.75, 0.25, 0.0], [0.2] * 5]
    for backend in ("numpy", "cpu"):
        _same(get_ops(backend).activation("sparsemax", x), want, 1e-15, 1e-15)
    # Keras 3.15 gives [[0, 0, 0, 0, 0], [inf, inf, inf, inf, nan], [0, 0, 0.25, 0, 0],
    # [0, 0, 0, 0, 0]]: its threshold sums the cumulative sums over the support
    # ((sum_j<=k cumsum_j - 1) / k) where Martins & Astudillo (2016), which it cites, take
    # (cumsum_k - 1) / k; its rows do not sum to 1
    ok = ~np.isnan(x).any(axis=1)
    np.testing.assert_allclose(activations.sparsemax(x)[ok].sum(axis=1), 1.0, rtol=1e-15)
    _same(activations.sparsemax(np.array(X2), axis=0), [[0.0, 1.0, 0.25, 0.0],
                                                         [1.0, 0.0, 0.75, 1.0]], 1e-15)
    rng = np.random.default_rng(6)
    check_grads(layers.Activation("sparsemax"), rng.normal(size=(6, 7)), tol=1e-6)


@pytest.mark.parametrize("name", ["glu", "sparsemax"])
def test_exporters_refuse_the_row_wise_ones_by_name(name, tmp_path):
    from fastff.export.c import export_c
    from fastff.export.onnx import export_onnx

    m = fastff.Sequential([fastff.Input((3,)), layers.Dense(4, activation=name)])
    with pytest.raises(ValueError, match=name):
        export_c(m, tmp_path / "m.c")
    with pytest.raises(ValueError, match=name):
        export_onnx(m, tmp_path / "m.onnx")


# ------------------------------------------------------------------------- ReLU, Softmax
def test_relu_layer_keras_arguments():
    x = np.array([XS])
    with np.errstate(all="ignore"):
        y = layers.ReLU(max_value=4.0, negative_slope=0.1, threshold=0.5, dtype="float64")(x)
    _same(y.reshape(-1), KERAS_RELU_KW, 1e-13)
    assert layers.ReLU(max_value=6).activation is activations.relu6
    assert layers.ReLU().activation is activations.relu
    for bad in ({"max_value": -1.0}, {"negative_slope": -0.1}, {"threshold": -0.5},
                {"threshold": None}):
        with pytest.raises(ValueError):
            layers.ReLU(**bad)
    cfg = layers.ReLU(max_value=3.0, threshold=0.25).get_config()
    assert (cfg["max_value"], cfg["negative_slope"], cfg["threshold"]) == (3.0, 0.0, 0.25)
    assert layers.ReLU.from_config(cfg).get_config() == cfg


@pytest.mark.parametrize("kw", [{"max_value": 2.0}, {"threshold": 0.5, "negative_slope": 0.2},
                                {"max_value": 6.0}, {"max_value": 1.5, "threshold": 0.3}])
def test_relu_layer_gradients(kw):
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, size=(6, 4))
    kinks = np.array([0.0, 0.3, 0.5, 1.5, 2.0])
    x = np.where(np.min(np.abs(x[..., None] - kinks), axis=-1) < 1e-2, x + 0.05, x)
    m = fastff.Sequential([fastff.Input((4,)), layers.Dense(4), layers.ReLU(**kw),
                           layers.Dense(2)], dtype="float64")
    m.compile("sgd", "mse")
    check_grads(m, x, rng.normal(size=(6, 2)), tol=1e-6)


def test_softmax_layer_axis():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 5))
    for axis in (-1, 1, 2, [1, 2], (-2,)):
        y = layers.Softmax(axis=axis)(x)
        ax = tuple(axis) if isinstance(axis, (list, tuple)) else axis
        e = np.exp(x - x.max(axis=ax, keepdims=True))
        np.testing.assert_allclose(y, e / e.sum(axis=ax, keepdims=True), rtol=1e-6)
    sm = layers.Softmax(axis=1)
    sm(x)
    assert sm.output_activation is None and sm.get_config()["axis"] == 1
    last = layers.Softmax(axis=2)
    last(x)
    assert last.output_activation == "softmax"
    with pytest.raises(ValueError, match="out of range"):
        layers.Softmax(axis=5)(x)
    m = fastff.Sequential([fastff.Input((6,)), layers.Dense(20), layers.Reshape((4, 5)),
                           layers.Softmax(axis=1), layers.Flatten()], dtype="float64")
    m.compile("sgd", "mse")
    check_grads(m, rng.normal(size=(3, 6)), rng.uniform(size=(3, 20)), tol=1e-6)


def test_exporters_refuse_softmax_over_another_axis_and_keras_relu(tmp_path):
    from fastff.export.c import export_c
    from fastff.export.onnx import export_onnx

    m = fastff.Sequential([fastff.Input((6,)), layers.Reshape((2, 3)), layers.Softmax(axis=1)])
    with pytest.raises(ValueError, match="Softmax over axis 1"):
        export_c(m, tmp_path / "m.c")
    with pytest.raises(ValueError, match="Softmax over axis 1"):
        export_onnx(m, tmp_path / "m.onnx")
    r = fastff.Sequential([fastff.Input((3,)), layers.ReLU(max_value=2.0)])
    for fn, path in ((export_c, "r.c"), (export_onnx, "r.onnx")):
        with pytest.raises(ValueError, match="custom activation"):
            fn(r, tmp_path / path)


# ------------------------------------------------------------------------- file formats
def test_keras_format_names(tmp_path):
    from fastff.keras_format import load_keras, save_keras

    m = fastff.Sequential([fastff.Input((3,)), layers.Dense(4, activation="hard_swish"),
                           layers.Activation("mish"), layers.ReLU(max_value=2.0, threshold=0.1),
                           layers.Dense(2, activation="squareplus")])
    path = tmp_path / "m.keras"
    save_keras(m, path)
    m2 = load_keras(path)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))
    assert m2.layers[0].activation.name == "hard_silu"  # Keras writes hard_swish so
    assert m2.layers[2].get_config()["max_value"] == 2.0
    g = fastff.Sequential([fastff.Input((3,)), layers.Dense(4, activation="glu")])
    with pytest.raises(ValueError, match="glu"):
        save_keras(g, tmp_path / "g.keras")


@pytest.mark.parametrize("name", NEW)
def test_onnx_export_matches_predict(name, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from fastff.export.onnx import export_onnx

    rng = np.random.default_rng(4)
    m = fastff.Sequential([fastff.Input((3,)), layers.Dense(6, activation=name)])
    m.layers[0].kernel.assign(rng.normal(size=(3, 6)).astype(np.float32) * 3)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    path = tmp_path / "m.onnx"
    export_onnx(m, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, m.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
