"""C source export: the generated file compiles warning-free as C99 and reproduces ``predict``."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from _export_cases import (
    dot_case,
    fold_branch_case,
    fold_case,
    lookup_case,
    masked_pooling_case,
    masking_case,
    multi_output_case,
    nested_case,
    nested_outputs_case,
    shared_case,
)

import fastff
from fastff.activations import ActivationFunction, CustomActivation
from fastff.export.c import export_c
from fastff.layers import (
    Activation,
    Add,
    BatchNormalization,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    EmbeddingBag,
    Flatten,
    GaussianNoise,
    Input,
    Layer,
    LayerNormalization,
    Maximum,
    Normalization,
    Rescaling,
    Reshape,
    UnitNormalization,
    WindowEmbedding,
)

GCC = shutil.which("gcc")
pytestmark = pytest.mark.skipif(GCC is None, reason="these tests compile the source with gcc")
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
# every activation the NumPy reference backend computes (param: Keras's default)
ACTIVATIONS = [("linear", 0.0), ("relu", 0.0), ("leaky_relu", 0.2), ("elu", 1.0), ("selu", 0.0),
               ("gelu", 0.0), ("tanh", 0.0), ("sigmoid", 0.0), ("hard_sigmoid", 0.0),
               ("softplus", 0.0), ("softsign", 0.0), ("silu", 0.0), ("swish", 0.0),
               ("exponential", 0.0), ("softmax", 0.0), ("log_softmax", 0.0),
               ("relu6", 0.0), ("mish", 0.0), ("hard_silu", 0.0), ("hard_swish", 0.0),
               ("hard_tanh", 0.0), ("log_sigmoid", 0.0), ("celu", 1.0), ("celu", 0.5),
               ("hard_shrink", 0.5), ("soft_shrink", 0.5), ("soft_shrink", -0.25),
               ("tanh_shrink", 0.0), ("sparse_plus", 0.0), ("sparse_sigmoid", 0.0),
               ("squareplus", 4.0), ("squareplus", 1.0)]


def _compile(model, tmp_path, stem="net"):
    """Export, build a shared library with the strict flags, and wrap ``<stem>_predict``."""
    c_path, h_path = export_c(model, tmp_path / f"{stem}.c")
    lib_path = tmp_path / f"lib{stem}.so"
    subprocess.run([GCC, *CFLAGS, "-fPIC", "-shared", c_path, "-o", str(lib_path), "-lm"],
                   check=True, capture_output=True, text=True)
    fn = getattr(ctypes.CDLL(str(lib_path)), f"{stem}_predict")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    header = open(h_path).read()
    n_in = int(header.split(f"{stem.upper()}_N_INPUTS ")[1].split()[0])
    n_out = int(header.split(f"{stem.upper()}_N_OUTPUTS ")[1].split()[0])

    def predict(x: np.ndarray) -> tuple[int, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1)
        assert x.shape[1] == n_in
        y = np.full((len(x), n_out), np.nan, np.float32)
        rc = fn(x.ctypes.data, len(x), y.ctypes.data)
        return rc, y

    return predict


def _check(model, tmp_path, x, feeds=None, tol=1e-5):
    predict = _compile(model, tmp_path)
    for rows in (x[:1], x):
        rc, got = predict(rows)
        assert rc == 0
        want = model.predict(rows if feeds is None else {k: v[:len(rows)] for k, v in
                                                           feeds.items()}, verbose=0)
        np.testing.assert_allclose(got, want.reshape(len(rows), -1), rtol=tol, atol=tol)
    return predict


@pytest.mark.parametrize("act,param", ACTIVATIONS)
def test_dense_every_activation(tmp_path, act, param):
    fn = ActivationFunction(act, param)
    model = fastff.Sequential([Input(shape=(5,)), Dense(7, activation=fn), Dropout(0.5),
                               Dense(3, activation=fn, use_bias=False)])
    x = np.random.default_rng(1).standard_normal((9, 5)).astype(np.float32)
    _check(model, tmp_path, x)


def test_float64_model_nd_input_and_no_op_layers(tmp_path):
    fastff.utils.set_random_seed(2)
    model = fastff.Sequential([Input(shape=(3, 4)), Flatten(), Dense(18, activation="tanh"),
                               GaussianNoise(0.3), Reshape((2, 9)), Activation("softmax"),
                               Flatten(), Dense(2)], dtype="float64")
    x = np.random.default_rng(2).standard_normal((5, 3, 4))
    _check(model, tmp_path, x)


def test_normalization_layers_fold_to_predict(tmp_path):
    rng = np.random.default_rng(3)
    bn = BatchNormalization()
    model = fastff.Sequential([
        Input(shape=(5,)), Normalization(mean=rng.standard_normal(5), variance=rng.random(5) + .5),
        Rescaling(0.5, offset=0.25), Dense(6), bn, LayerNormalization(), Dense(4),
        LayerNormalization(rms_scaling=True), UnitNormalization()])
    model.build()
    bn.moving_mean.value[...] = rng.standard_normal(6)
    bn.moving_variance.value[...] = rng.random(6) + 0.1
    bn.gamma.value[...] = rng.standard_normal(6)
    bn.beta.value[...] = rng.standard_normal(6)
    _check(model, tmp_path, rng.standard_normal((7, 5)).astype(np.float32))


def test_embeddings_and_functional_merges(tmp_path):
    fastff.utils.set_random_seed(4)
    words = Input(shape=(3,), dtype="int64", name="words")
    bag = Input(shape=(6,), dtype="int64", name="bag")
    tokens = Input(shape=(2,), dtype="int64", name="tokens")
    a = Dense(5)(Concatenate()([WindowEmbedding(11, 4)(words), EmbeddingBag(13, 3)(bag),
                                Flatten()(Embedding(7, 2, mask_zero=True)(tokens))]))
    b = Dense(5, activation="relu")(Flatten()(Embedding(7, 3)(tokens)))
    out = Dense(3, activation="softmax")(Maximum()([Add()([a, b]), b]))
    model = fastff.Model([words, bag, tokens], out)
    rng = np.random.default_rng(4)
    feeds = {"words": rng.integers(0, 11, (6, 3)), "bag": rng.integers(0, 13, (6, 6)),
             "tokens": rng.integers(0, 7, (6, 2))}
    feeds["bag"][0] = 0  # a bag of padding only
    feeds["bag"][1, 3:] = 0
    x = np.concatenate([feeds["words"], feeds["bag"], feeds["tokens"]], axis=1)
    predict = _check(model, tmp_path, x, feeds=feeds)
    bad = x[:2].astype(np.float32).copy()
    bad[1, 0] = 11.0  # past the table
    assert predict(bad)[0] == 2
    bad[1, 0] = np.nan
    assert predict(bad)[0] == 2


def test_embedding_bag_sum_and_float_ids_round(tmp_path):
    model = fastff.Sequential([Input(shape=(4,), dtype="int64"),
                               EmbeddingBag(9, 3, mode="sum", padding_id=0), Dense(2)])
    x = np.array([[1.2, 2.0, 0.0, 8.4], [0, 0, 0, 0], [3, 3, 3, 2.6]], np.float32)
    predict = _compile(model, tmp_path)
    rc, got = predict(x)
    assert rc == 0
    np.testing.assert_allclose(got, model.predict(np.rint(x).astype(np.int64), verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_driver_program_header_and_bad_arguments(tmp_path):
    model = fastff.Sequential([Input(shape=(3,)), Dense(4, activation="elu"), Dense(2)])
    export_c(model, tmp_path / "tiny.c")
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include "tiny.h"
int main(void)
{
    float x[2 * TINY_N_INPUTS] = {0.5f, -1.0f, 2.0f, 0.0f, 0.25f, -3.0f};
    float y[2 * TINY_N_OUTPUTS];
    int i;
    if (tiny_predict(x, -1, y) != 1 || tiny_predict(NULL, 1, y) != 1) return 3;
    if (tiny_predict(NULL, 0, NULL) != 0) return 4;
    if (tiny_predict(x, 2, y) != 0) return 5;
    for (i = 0; i < 2 * TINY_N_OUTPUTS; ++i) printf("%.9g\n", y[i]);
    return 0;
}
""")
    exe = tmp_path / "tiny"
    subprocess.run([GCC, *CFLAGS, str(tmp_path / "main.c"), str(tmp_path / "tiny.c"), "-o",
                    str(exe), "-lm"], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    got = np.array(out.split(), dtype=np.float32).reshape(2, 2)
    want = model.predict(np.array([[0.5, -1, 2], [0, 0.25, -3]], np.float32), verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_model_export_dispatch_and_errors(tmp_path, capsys):
    model = fastff.Sequential([Input(shape=(2,)), Dense(1)])
    paths = model.export(tmp_path / "m.c", format="c")
    assert "Saved artifact at" in capsys.readouterr().out
    assert paths == (str(tmp_path / "m.c"), str(tmp_path / "m.h"))
    model.export(tmp_path / "quiet.c", format="c", verbose=False, name="q")
    assert capsys.readouterr().out == ""
    assert "int q_predict(" in (tmp_path / "quiet.h").read_text()
    with pytest.raises(ValueError, match="unknown format 'tf_saved_model'.*'onnx', 'c'"):
        model.export(tmp_path / "m", format="tf_saved_model")
    with pytest.raises(ValueError, match="must end in '.c'"):
        model.export(tmp_path / "m.txt", format="c")
    with pytest.raises(ValueError, match="input_signature"):
        model.export(tmp_path / "m.c", format="c", input_signature=[(None, 2)])

    class Twice(Layer):
        def forward(self, x, training=False, ws=None):
            return 2 * x, lambda dy, need_dx=True: 2 * dy

    odd = fastff.Sequential([Input(shape=(2,)), Dense(2), Twice(name="twice")])
    odd.build()
    with pytest.raises(ValueError, match=r"layer 'twice' \(Twice\) has no C form"):
        export_c(odd, tmp_path / "odd.c")
    lam = fastff.Sequential([Input(shape=(2,)), fastff.layers.Lambda(lambda x: x + 1,
                                                                     name="plus")])
    with pytest.raises(ValueError, match=r"layer 'plus' \(Lambda\) has no C form"):
        export_c(lam, tmp_path / "lam.c")

    class Cube(CustomActivation):
        def call(self, x):
            return x ** 3

        def grad(self, dy, x, y):
            return 3 * dy * x * x

    cube = fastff.Sequential([Input(shape=(2,)), Dense(2, activation=Cube(), name="d")])
    with pytest.raises(ValueError, match="custom activation 'Cube'"):
        export_c(cube, tmp_path / "cube.c")
    with pytest.raises(ValueError, match="not built"):
        export_c(fastff.Sequential([Dense(2)]), tmp_path / "unbuilt.c")


def test_lazy_submodules():
    code = ("import sys, fastff\n"
            "assert fastff.export.FORMATS == ('onnx', 'c')\n"
            "assert 'wrappers' not in fastff.__all__ and 'export' in fastff.__all__\n"
            "from fastff import *\n"
            "assert 'sklearn' not in sys.modules and 'onnx' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bucketize_permute_repeat(tmp_path):
    from fastff.layers import Bucketize, Permute, RepeatVector

    edges = [-1.0, 0.1, 0.5, 2.0]  # 0.1 is not a float32: edges compare as float64 would
    x = np.array([[-3.0, 0.1, 0.5], [1e30, 2.0, -1.0], [0.3, 9.0, 0.09999999]], np.float32)
    feats = Input(shape=(3,), name="f")
    hot = Bucketize(edges)(feats)
    ids = Flatten()(Embedding(5, 2)(Bucketize(edges, output_mode="int")(feats)))
    rep = Flatten()(Permute((2, 1))(RepeatVector(2)(Dense(3)(hot))))
    model = fastff.Model(feats, Concatenate()([hot, ids, rep]))
    _check(model, tmp_path, x)


def test_global_pooling(tmp_path):
    from fastff.layers import GlobalAveragePooling1D, GlobalMaxPooling1D

    fastff.utils.set_random_seed(5)
    ids = Input(shape=(5,), dtype="int64", name="ids")
    emb = Embedding(9, 3)(ids)                                        # (5 steps, 3 channels)
    avg = GlobalAveragePooling1D()(emb)
    mx = Flatten()(GlobalMaxPooling1D(keepdims=True)(emb))
    first = GlobalAveragePooling1D(data_format="channels_first")(emb)  # over the 3 channels
    model = fastff.Model(ids, Dense(2)(Concatenate()([avg, mx, first])))
    x = np.random.default_rng(5).integers(0, 9, (6, 5))
    _check(model, tmp_path, x)


def _row_major(feeds):
    """A functional model's inputs side by side in each row, as the C function takes them."""
    return np.concatenate([v.reshape(len(v), -1).astype(np.float32) for v in feeds.values()],
                          axis=1)


def test_masked_pooling(tmp_path):
    model, feeds = masked_pooling_case()
    _check(model, tmp_path, _row_major(feeds), feeds=feeds)


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
def test_category_encoding_and_discretization(tmp_path, mode):
    from fastff.layers import CategoryEncoding, Discretization

    feats = Input(shape=(3,), name="f")
    bins = Discretization(bin_boundaries=[-0.5, 0.1, 0.1, 1.0], output_mode=mode)(feats)
    ids = Discretization(bin_boundaries=[0.0, 0.5], output_mode="int")(feats)
    cats = CategoryEncoding(num_tokens=4, output_mode=mode)(ids)
    model = fastff.Model(feats, Concatenate()([Flatten()(bins), Flatten()(cats)]))
    x = np.array([[-1.0, 0.1, 0.7], [2.0, 0.09999999, 0.5], [0.0, -0.5, 1.0]], np.float32)
    _check(model, tmp_path, x)
    bad = fastff.Sequential([Input(shape=(2,), dtype="int64"), CategoryEncoding(3)])
    predict = _compile(bad, tmp_path, stem="bad")
    assert predict(np.array([[0, 2]], np.float32))[0] == 0
    assert predict(np.array([[0, 3]], np.float32))[0] == 2
    assert predict(np.array([[-1, 0]], np.float32))[0] == 2


def test_masking_zeroes_masked_steps(tmp_path):
    model, x = masking_case()
    _check(model, tmp_path, x)


def test_dot_products(tmp_path):
    model, feeds = dot_case()
    x = np.concatenate([feeds["a"], feeds["b"].reshape(5, -1)], axis=1)
    _check(model, tmp_path, x, feeds=feeds)


def test_shared_layers_one_step_per_call(tmp_path):
    model, feeds = shared_case()
    _check(model, tmp_path, np.concatenate([feeds["a"], feeds["b"]], axis=1), feeds=feeds)


def _compile_outputs(model, tmp_path, stem="multi"):
    """Export a model of several outputs; its header's macros; a wrapper of the predict
    function that takes one pointer per output."""
    c_path, h_path = export_c(model, tmp_path / f"{stem}.c")
    lib_path = tmp_path / f"lib{stem}.so"
    subprocess.run([GCC, *CFLAGS, "-fPIC", "-shared", c_path, "-o", str(lib_path), "-lm"],
                   check=True, capture_output=True, text=True)
    header = open(h_path).read()
    macros = {m: int(v) for m, v in re.findall(r"#define (\w+) (\d+)", header)}
    up = stem.upper()
    sizes = [macros[f"{up}_N_OUTPUTS_{k}"] for k in range(macros[f"{up}_N_OUTPUT_ARRAYS"])]
    fn = getattr(ctypes.CDLL(str(lib_path)), f"{stem}_predict")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p] * len(sizes)

    def predict(x: np.ndarray) -> tuple[int, list[np.ndarray]]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        ys = [np.full((len(x), n), np.nan, np.float32) for n in sizes]
        return fn(x.ctypes.data, len(x), *[y.ctypes.data for y in ys]), ys

    return predict, header, macros, fn


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_several_outputs(tmp_path, kind):
    """One output pointer per model output (``model.outputs`` order), each with its
    ``<NAME>_N_OUTPUTS_<k>``; the inputs side by side in x at ``<NAME>_INPUT_OFFSET_<k>``."""
    model, feeds = multi_output_case(kind)
    predict, header, macros, fn = _compile_outputs(model, tmp_path)
    assert "int multi_predict(const float *x, int n_rows, float *y0, float *y1, float *y2" \
        in header
    assert "MULTI_N_OUTPUTS " not in header
    assert (macros["MULTI_N_INPUTS"], macros["MULTI_N_INPUTS_0"], macros["MULTI_N_INPUTS_1"],
            macros["MULTI_INPUT_OFFSET_0"], macros["MULTI_INPUT_OFFSET_1"]) == (6, 4, 2, 0, 4)
    names = ["cls", "reg", "hidden", "aux"] if kind == "list" else ["alpha", "mid", "zeta"]
    for k, name in enumerate(names):
        assert f"/* y{k}: '{name}' */" in header
    x = np.concatenate([feeds["feat"], feeds["aux"]], axis=1)
    for n in (1, 9):
        rc, got = predict(x[:n])
        assert rc == 0
        want = model.predict({k: v[:n] for k, v in feeds.items()}, verbose=0)
        want = [want[k] for k in names] if kind == "dict" else want
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.reshape(n, -1), rtol=1e-5, atol=1e-5)
    y = np.zeros((1, 8), np.float32)
    null = [y.ctypes.data] * (len(names) - 1) + [None]  # a NULL output with rows: 1
    assert fn(x.ctypes.data, 1, *null) == 1
    assert fn(None, 0, *[None] * len(names)) == 0


def test_output_is_the_input(tmp_path):
    a = Input(shape=(3,), name="a")
    model = fastff.Model(a, [Dense(2)(a), a])
    predict, _, _, _ = _compile_outputs(model, tmp_path, "passthru")
    x = np.random.default_rng(5).standard_normal((10, 3)).astype(np.float32)
    rc, (y, same) = predict(x)
    assert rc == 0
    np.testing.assert_array_equal(same, x)
    np.testing.assert_allclose(y, model.predict(x, verbose=0)[0], rtol=1e-5, atol=1e-5)
    _check(fastff.Model(a, a), tmp_path, x)


def test_hostile_names_stay_in_comments(tmp_path):
    """Model and output names reach the header only inside comments, escaped."""
    a = Input(shape=(2,), name="a")
    model = fastff.Model(a, {"x*/ int bad; /*": Dense(1)(a), "??/": Dense(1)(a)},
                         name="m")
    predict, header, _, _ = _compile_outputs(model, tmp_path, "hostile")
    assert "int bad" in header and "*/ int bad" not in header and "??" not in header
    rc, ys = predict(np.ones((2, 2), np.float32))
    assert rc == 0 and all(np.isfinite(y).all() for y in ys)


def test_prelu(tmp_path):
    layer = fastff.layers.PReLU(alpha_initializer=fastff.initializers.RandomUniform(0.1, 0.5))
    shared = fastff.layers.PReLU(shared_axes=[1])
    model = fastff.Sequential([Input(shape=(6,)), Dense(8), layer, Reshape((2, 4)), shared,
                               Flatten(), Dense(3)])
    x = np.random.default_rng(5).standard_normal((7, 6)).astype(np.float32)
    _check(model, tmp_path, x)


def test_activation_layers(tmp_path):
    from fastff.layers import ELU, LeakyReLU, ReLU, Softmax

    model = fastff.Sequential([Input(shape=(5,)), Dense(6), ReLU(), Dense(6),
                               ReLU(negative_slope=0.1), Dense(6), LeakyReLU(), Dense(6),
                               ELU(alpha=0.5), Dense(4), Softmax()])
    x = np.random.default_rng(14).standard_normal((9, 5)).astype(np.float32) * 2
    _check(model, tmp_path, x)


def test_nested_models_are_inlined(tmp_path):
    model, feeds = nested_case()
    _check(model, tmp_path, _row_major(feeds), feeds=feeds)
    source = (tmp_path / "net.c").read_text()
    assert "batch_normalization" not in source  # folded into the inner Dense


def test_batch_norm_folds_into_dense(tmp_path):
    model, folds = fold_case()
    x = np.random.default_rng(15).standard_normal((11, 7)).astype(np.float32)
    _check(model, tmp_path, x)
    source = (tmp_path / "net.c").read_text()
    assert not any(f"net_{bn.name}_" in source for bn in folds)
    assert "net_kept_bn_scale_" in source  # after a Dense with an activation: kept
    assert len(re.findall(r"^ +dense_\(", source, re.M)) == 4  # one call per Dense

    branch = fold_branch_case()  # the Dense is read twice: not folded
    (tmp_path / "branch").mkdir()
    _check(branch, tmp_path / "branch", x[:, :3])
    assert "net_branch_bn_scale_" in (tmp_path / "branch" / "net.c").read_text()


def test_integer_lookup(tmp_path):
    from fastff.layers import IntegerLookup, StringLookup

    model, x = lookup_case()
    _check(model, tmp_path, x)
    inv = fastff.Sequential([Input(shape=(3,), dtype="int64"),
                             IntegerLookup(vocabulary=[50, 3], mask_token=0, invert=True)])
    ids = np.array([[0, 1, 2], [3, 4, -1]])
    rc, got = _compile(inv, tmp_path, stem="inv")(ids)
    assert rc == 0
    np.testing.assert_array_equal(got, inv.predict(ids, verbose=0))
    strict = fastff.Sequential([Input(shape=(2,), dtype="int64"),
                                IntegerLookup(vocabulary=[4, 5], num_oov_indices=0)])
    predict = _compile(strict, tmp_path, stem="strict")
    assert predict(np.array([[4, 5]], np.float32))[0] == 0
    assert predict(np.array([[4, 6]], np.float32))[0] == 2  # predict raises: unknown
    assert predict(np.array([[4, 4.5]], np.float32))[0] == 2  # not an integer
    words = fastff.Sequential([StringLookup(vocabulary=["a"], input_shape=(2,), name="w")])
    with pytest.raises(ValueError, match="'w' \\(StringLookup\\) has no C form"):
        export_c(words, tmp_path / "words.c")


def test_nested_models_of_several_outputs(tmp_path):
    model, x = nested_outputs_case()
    predict, header, _, _ = _compile_outputs(model, tmp_path, "nest")
    assert "/* y1: 'inner' */" in header and "/* y2: 'dinner' */" in header
    for n in (1, 6):
        rc, got = predict(x[:n])
        assert rc == 0
        for g, w in zip(got, model.predict(x[:n], verbose=0), strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
