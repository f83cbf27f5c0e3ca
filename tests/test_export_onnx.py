"""ONNX export: the exported file, run in ONNX Runtime, reproduces ``predict``."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX export needs the 'onnx' package (fastff[onnx])")
ort = pytest.importorskip("onnxruntime", reason="these tests run the files in onnxruntime")

from _export_cases import (  # noqa: E402
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

import fastff  # noqa: E402
from fastff.activations import ActivationFunction, CustomActivation  # noqa: E402
from fastff.export.onnx import export_onnx  # noqa: E402
from fastff.layers import (  # noqa: E402
    Activation,
    Bucketize,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    EmbeddingBag,
    Flatten,
    Input,
    Layer,
    WindowEmbedding,
)

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu",
               "softplus"]


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(path, feeds):
    sess = _session(path)
    return sess.run(None, feeds)[0], sess


def _close(model, path, x, tol=1e-5):
    """The file's output for the one input ``x`` against ``model.predict(x)``."""
    sess = _session(path)
    (inp,) = sess.get_inputs()
    got = sess.run(None, {inp.name: x})[0]
    want = model.predict(x, verbose=0)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dense_every_activation(tmp_path, act, dtype):
    if act == "gelu" and dtype == "float64":
        pytest.skip("ONNX Runtime has no float64 Erf kernel (the file itself is valid ONNX)")
    rng = np.random.default_rng(0)
    model = fastff.Sequential([Input(shape=(5,)), Dense(7, activation=act), Dropout(0.5),
                               Dense(3, activation=act, use_bias=False)], dtype=dtype)
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    onnx.checker.check_model(str(path))
    for n in (1, 13):  # the batch axis is dynamic
        x = (rng.standard_normal((n, 5)) * 3).astype(dtype)
        _close(model, path, x)


def test_parametrised_activations_and_activation_layer(tmp_path):
    rng = np.random.default_rng(1)
    model = fastff.Sequential([
        Input(shape=(4,)), Dense(6, activation=ActivationFunction("leaky_relu", 0.05)),
        Activation(ActivationFunction("elu", 0.3)), Dense(5), Activation("softmax")])
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    x = rng.standard_normal((9, 4)).astype(np.float32) * 4
    _close(model, path, x)


def test_flatten_and_input_name(tmp_path):
    rng = np.random.default_rng(2)
    model = fastff.Sequential([Input(shape=(3, 4), name="pixels"), Flatten(),
                               Dense(2, activation="sigmoid")])
    path = tmp_path / "m.onnx"
    proto = export_onnx(model, path, input_names=["pixels"])
    assert [i.name for i in proto.graph.input] == ["pixels"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, 4]
    _close(model, path, rng.standard_normal((6, 3, 4)).astype(np.float32))


def test_embedding_sequential(tmp_path):
    rng = np.random.default_rng(3)
    for layer in (Embedding(9, 4, input_shape=(5,)),
                  Embedding(9, 4, mask_zero=True, input_shape=(5,))):
        model = fastff.Sequential([layer, Flatten(), Dense(3, activation="tanh")])
        path = tmp_path / f"{layer.name}.onnx"
        export_onnx(model, path)
        ids = rng.integers(0, 9, (11, 5))
        ids[0, :2] = 0
        _close(model, path, ids)


@pytest.mark.parametrize("kind", ["window", "bag_mean", "bag_sum", "bag_nopad"])
def test_window_and_bag_embeddings(tmp_path, kind):
    rng = np.random.default_rng(4)
    layer = {"window": lambda: WindowEmbedding(7, 3, input_shape=(5,)),
             "bag_mean": lambda: EmbeddingBag(7, 3, mode="mean", input_shape=(5,)),
             "bag_sum": lambda: EmbeddingBag(7, 3, mode="sum", input_shape=(5,)),
             "bag_nopad": lambda: EmbeddingBag(7, 3, padding_id=None, input_shape=(5,))}[kind]()
    model = fastff.Sequential([layer, Dense(2)])
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    ids = rng.integers(0, 7, (8, 5))
    ids[1] = 0  # a row of padding only
    ids[2, 3:] = 0
    for n in (1, 8):
        _close(model, path, ids[:n])


def test_functional_model_with_named_inputs(tmp_path):
    rng = np.random.default_rng(5)
    words = Input(shape=(3,), dtype="int32", name="words")
    bag = Input(shape=(4,), dtype="int64", name="bag")
    dist = Input(shape=(2,), name="dist")
    h = Concatenate()([WindowEmbedding(10, 2)(words), EmbeddingBag(6, 3)(bag),
                       Bucketize(output_mode="one_hot")(dist)])
    out = Dense(4, activation="softmax")(Dense(5, activation="relu")(h))
    model = fastff.Model([words, bag, dist], out)
    path = tmp_path / "m.onnx"
    proto = export_onnx(model, path)
    assert [i.name for i in proto.graph.input] == ["words", "bag", "dist"]
    feeds = {"words": rng.integers(0, 10, (6, 3)).astype(np.int32),
             "bag": rng.integers(0, 6, (6, 4)),
             "dist": np.array([[0, 1], [2, 3], [4, 5], [7, 8], [15, 16], [63, 64]],
                              dtype=np.float32)}
    got, _ = _run(path, feeds)
    np.testing.assert_allclose(got, model.predict(feeds, verbose=0), rtol=1e-5, atol=1e-5)
    one = {k: v[:1] for k, v in feeds.items()}
    got1, _ = _run(path, one)
    np.testing.assert_allclose(got1, model.predict(one, verbose=0), rtol=1e-5, atol=1e-5)


def test_bucketize_int_then_embedding_and_edge_values(tmp_path):
    edges = [0.1, 0.5, 2.0]
    inp = Input(shape=(3,), name="x")
    bucketize = Bucketize(boundaries=edges, output_mode="int")
    ids = bucketize(inp)
    model = fastff.Model(inp, Dense(2)(Flatten()(Embedding(4, 2)(ids))))
    export_onnx(model, tmp_path / "m.onnx")
    export_onnx(fastff.Model(inp, ids), tmp_path / "ids.onnx")
    # on, just below and just above the boundaries (0.1 is not a float32), beyond them, NaN
    f = np.float32
    x = np.array([[f(0.1), np.nextafter(f(0.1), f(0)), np.nextafter(f(0.1), f(1))],
                  [0.5, 2.0, -1.0], [np.nan, 1e30, 0.0]], dtype=np.float32)
    got_ids, _ = _run(tmp_path / "ids.onnx", {"x": x})
    np.testing.assert_array_equal(got_ids, bucketize(x))
    got, _ = _run(tmp_path / "m.onnx", {"x": x[:2]})  # predict refuses NaN
    np.testing.assert_allclose(got, model.predict(x[:2], verbose=0), rtol=1e-5, atol=1e-5)


def test_unsupported_layer_is_named(tmp_path):
    class Scale(Layer):
        def forward(self, x, training=False, ws=None):
            return x * 2, lambda dy, need_dx=True: dy * 2

    model = fastff.Sequential([Input(shape=(3,)), Dense(2), Scale(name="my_scale")])
    with pytest.raises(ValueError, match="my_scale.*Scale"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    lam = fastff.Sequential([Input(shape=(3,)), fastff.layers.Lambda(lambda x: x * 2,
                                                                     name="twice")])
    with pytest.raises(ValueError, match=r"'twice' \(Lambda\) cannot be exported"):
        export_onnx(lam, tmp_path / "m.onnx")


def test_custom_activation_and_bad_arguments(tmp_path):
    class Cube(CustomActivation):
        def call(self, x):
            return x ** 3

        def grad(self, dy, x, y):
            return 3 * dy * x ** 2

    model = fastff.Sequential([Input(shape=(3,)), Dense(2, activation=Cube(), name="cubed")])
    with pytest.raises(ValueError, match="cubed.*Cube"):
        export_onnx(model, tmp_path / "m.onnx")
    ok = fastff.Sequential([Input(shape=(3,)), Dense(2)])
    with pytest.raises(ValueError, match="opset"):
        export_onnx(ok, tmp_path / "m.onnx", opset=13)
    with pytest.raises(ValueError, match="input_names"):
        export_onnx(ok, tmp_path / "m.onnx", input_names=["a", "b"])
    with pytest.raises(ValueError, match="not built"):
        export_onnx(fastff.Sequential([Dense(2)]), tmp_path / "m.onnx")


def test_later_opset(tmp_path):
    model = fastff.Sequential([Input(shape=(3,)), Dense(2, activation="gelu")])
    path = tmp_path / "m.onnx"
    proto = export_onnx(model, path, opset=18)
    assert proto.opset_import[0].version == 18
    _close(model, path, np.ones((2, 3), np.float32))



def test_normalization_noise_and_reshaping_layers(tmp_path):
    from fastff.layers import (
        BatchNormalization,
        GaussianNoise,
        LayerNormalization,
        Normalization,
        Permute,
        RepeatVector,
        Rescaling,
        Reshape,
        UnitNormalization,
    )

    rng = np.random.default_rng(7)
    bn = BatchNormalization()
    model = fastff.Sequential([
        Input(shape=(5,)), Normalization(mean=rng.standard_normal(5), variance=rng.random(5) + .5),
        Rescaling(0.5, offset=0.25), Dense(6), bn, GaussianNoise(0.4), LayerNormalization(),
        RepeatVector(2), Permute((2, 1)), Reshape((3, 4)), LayerNormalization(rms_scaling=True),
        UnitNormalization(), Flatten(), Dense(3)])
    model.build()
    bn.moving_mean.value[...] = rng.standard_normal(6)
    bn.moving_variance.value[...] = rng.random(6) + 0.1
    bn.gamma.value[...] = rng.standard_normal(6)
    path = tmp_path / "norm.onnx"
    model.export(path, format="onnx", verbose=False)
    _close(model, path, rng.standard_normal((7, 5)).astype(np.float32))


def test_merge_layers_functional(tmp_path):
    from fastff.layers import Add, Average, Maximum, Minimum, Multiply, Subtract

    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    ha, hb = Dense(3)(a), Dense(3, activation="tanh")(b)
    m = Concatenate()([Add()([ha, hb]), Subtract()([ha, hb]), Multiply()([ha, hb]),
                       Average()([ha, hb]), Maximum()([ha, hb]), Minimum()([ha, hb])])
    model = fastff.Model([a, b], Dense(2)(m))
    path = tmp_path / "merge.onnx"
    export_onnx(model, path)
    rng = np.random.default_rng(8)
    feeds = {"a": rng.standard_normal((5, 4)).astype(np.float32),
             "b": rng.standard_normal((5, 4)).astype(np.float32)}
    got, _ = _run(path, feeds)
    np.testing.assert_allclose(got, model.predict(feeds, verbose=0), rtol=1e-5, atol=1e-5)


def test_model_export_method(tmp_path, capsys):
    model = fastff.Sequential([Input(shape=(3,), name="x"), Dense(2, activation="sigmoid")])
    path = tmp_path / "m.onnx"
    proto = model.export(path, opset_version=18)  # Keras's name for the opset; onnx by default
    assert proto.opset_import[0].version == 18
    assert capsys.readouterr().out == f"Saved artifact at '{path}'.\n"
    _close(model, path, np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="unknown format 'openvino'"):
        model.export(path, format="openvino")


@pytest.mark.parametrize("opset", [17, 18])
def test_global_pooling(tmp_path, opset):
    from fastff.layers import GlobalAveragePooling1D, GlobalMaxPooling1D

    fastff.utils.set_random_seed(5)
    ids = Input(shape=(5,), dtype="int64", name="ids")
    emb = Embedding(9, 3)(ids)
    avg = GlobalAveragePooling1D()(emb)
    mx = Flatten()(GlobalMaxPooling1D(keepdims=True)(emb))
    first = GlobalAveragePooling1D(data_format="channels_first")(emb)
    model = fastff.Model(ids, Dense(2)(Concatenate()([avg, mx, first])))
    path = tmp_path / "pool.onnx"
    export_onnx(model, path, opset=opset)
    _close(model, path, np.random.default_rng(5).integers(0, 9, (6, 5)))


def _check_feeds(model, path, feeds):
    """The file against ``predict`` on one row and on all of ``feeds``."""
    sess = _session(path)
    for rows in (1, len(next(iter(feeds.values())))):
        part = {k: v[:rows] for k, v in feeds.items()}
        got = sess.run(None, part)[0]
        np.testing.assert_allclose(got, model.predict(part, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("opset", [17, 18])
def test_masked_pooling(tmp_path, opset):
    model, feeds = masked_pooling_case()
    path = tmp_path / "masked.onnx"
    export_onnx(model, path, opset=opset)
    _check_feeds(model, path, feeds)


@pytest.mark.parametrize("mode,opset", [("one_hot", 17), ("multi_hot", 17), ("multi_hot", 18),
                                        ("count", 17)])
def test_category_encoding_and_discretization(tmp_path, mode, opset):
    from fastff.layers import CategoryEncoding, Discretization

    feats = Input(shape=(3,), name="f")
    bins = Discretization(bin_boundaries=[-0.5, 0.1, 0.1, 1.0], output_mode=mode)(feats)
    ids = Discretization(bin_boundaries=[0.0, 0.5], output_mode="int")(feats)
    cats = CategoryEncoding(num_tokens=4, output_mode=mode)(ids)
    model = fastff.Model(feats, Concatenate()([Flatten()(bins), Flatten()(cats)]))
    path = tmp_path / "enc.onnx"
    export_onnx(model, path, opset=opset)
    x = np.array([[-1.0, 0.1, 0.7], [2.0, 0.09999999, 0.5], [0.0, -0.5, 1.0]], np.float32)
    _close(model, path, x)


def test_masking_zeroes_masked_steps(tmp_path):
    model, x = masking_case()
    path = tmp_path / "mask.onnx"
    export_onnx(model, path)
    _close(model, path, x)


def test_dot_products(tmp_path):
    model, feeds = dot_case()
    path = tmp_path / "dot.onnx"
    export_onnx(model, path)
    got, _ = _run(path, feeds)
    np.testing.assert_allclose(got, model.predict(feeds, verbose=0), rtol=1e-5, atol=1e-5)


def test_shared_layers_one_step_per_call(tmp_path):
    model, feeds = shared_case()
    export_onnx(model, tmp_path / "shared.onnx")
    got, _ = _run(tmp_path / "shared.onnx", feeds)
    np.testing.assert_allclose(got, model.predict(feeds, verbose=0), rtol=1e-5, atol=1e-5)


def test_prelu(tmp_path):
    layer = fastff.layers.PReLU(alpha_initializer=fastff.initializers.RandomUniform(0.1, 0.5))
    shared = fastff.layers.PReLU(shared_axes=[1])
    model = fastff.Sequential([Input(shape=(6,)), Dense(8), layer,
                               fastff.layers.Reshape((2, 4)), shared, Flatten(), Dense(3)])
    path = tmp_path / "prelu.onnx"
    export_onnx(model, path)
    for rows in (1, 7):
        x = np.random.default_rng(rows).standard_normal((rows, 6)).astype(np.float32)
        _close(model, path, x)


def test_activation_layers(tmp_path):
    from fastff.layers import ELU, LeakyReLU, ReLU, Softmax

    model = fastff.Sequential([Input(shape=(5,)), Dense(6), ReLU(), Dense(6),
                               ReLU(negative_slope=0.1), Dense(6), LeakyReLU(), Dense(6),
                               ELU(alpha=0.5), Dense(4), Softmax()])
    path = tmp_path / "acts.onnx"
    export_onnx(model, path)
    x = np.random.default_rng(14).standard_normal((9, 5)).astype(np.float32) * 2
    _close(model, path, x[:1])
    _close(model, path, x)


def test_nested_models_are_inlined(tmp_path):
    model, feeds = nested_case()
    path = tmp_path / "nested.onnx"
    proto = export_onnx(model, path)
    assert [i.name for i in proto.graph.input] == ["x", "y"]
    _check_feeds(model, path, feeds)
    # the inner Dense -> BatchNormalization folded: Gemm, Relu, then the deepest Dense
    ops = [n.op_type for n in proto.graph.node]
    assert ops[:4] == ["Gemm", "Relu", "Gemm", "Tanh"]


def _bn_nodes(proto, bns):
    return [n.name for n in proto.graph.node if any(n.name.startswith(b.name + "_")
                                                    for b in bns)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_folds_into_dense(tmp_path, dtype):
    model, folds = fold_case(dtype)
    path = tmp_path / "fold.onnx"
    proto = export_onnx(model, path)
    assert _bn_nodes(proto, folds) == []  # no separate op for the folded ones
    assert [n.op_type for n in proto.graph.node if n.name.startswith("kept_bn_")] == \
        ["Mul", "Add"]  # after a Dense with an activation: the affine stays
    # four Gemms (the bias-free Dense gains the folded shift), the kept affine, one Relu
    assert sorted(n.op_type for n in proto.graph.node) == \
        ["Add", "Gemm", "Gemm", "Gemm", "Gemm", "Identity", "Mul", "Relu"]
    x = np.random.default_rng(15).standard_normal((11, 7)).astype(dtype)
    _close(model, path, x[:1])
    _close(model, path, x)

    branch = fold_branch_case()  # the Dense is read twice: not folded
    proto = export_onnx(branch, tmp_path / "branch.onnx")
    assert [n.op_type for n in proto.graph.node if n.name.startswith("branch_bn_")] == \
        ["Mul", "Add"]
    _close(branch, tmp_path / "branch.onnx", x[:, :3].astype(np.float32))


def test_integer_lookup(tmp_path):
    from fastff.layers import IntegerLookup

    model, x = lookup_case()
    path = tmp_path / "lookup.onnx"
    proto = export_onnx(model, path)
    assert {o.domain: o.version for o in proto.opset_import} == {"": 17, "ai.onnx.ml": 2}
    _close(model, path, x[:1])
    _close(model, path, x)
    inv = fastff.Sequential([Input(shape=(3,), dtype="int64", name="input"),
                             IntegerLookup(vocabulary=[50, 3], mask_token=0, invert=True)])
    export_onnx(inv, tmp_path / "inv.onnx")
    ids = np.array([[0, 1, 2], [3, 4, -1]])
    got, _ = _run(tmp_path / "inv.onnx", {"input": ids})
    np.testing.assert_array_equal(got, inv.predict(ids, verbose=0))
    small = Input(shape=(3,), dtype="int32", name="t")  # int32 tokens, no OOV slot
    strict = fastff.Model(small, IntegerLookup(vocabulary=[4, 7], num_oov_indices=0)(small))
    export_onnx(strict, tmp_path / "strict.onnx")
    tokens = np.array([[4, 7, 7], [7, 4, 4]], np.int32)
    got, _ = _run(tmp_path / "strict.onnx", {"t": tokens})
    np.testing.assert_array_equal(got, strict.predict(tokens, verbose=0))
    got, _ = _run(tmp_path / "strict.onnx", {"t": np.array([[4, 5, 7]], np.int32)})
    assert got.tolist() == [[0, -1, 1]]  # predict refuses 5: the file gives -1


def test_string_lookup(tmp_path):
    from fastff.layers import StringLookup

    words = np.array([["b", "zz", "", "a"], ["a", "a", "c", ""]], dtype=object)
    for kw in ({}, {"mask_token": ""}, {"num_oov_indices": 0}):
        for mode in ("int", "multi_hot"):
            lookup = StringLookup(vocabulary=["a", "b", "c"], input_shape=(4,),
                                  output_mode=mode, **kw)
            model = fastff.Sequential([lookup])
            # predict refuses unknown words without OOV slots: known ones only there
            words_in = words if kw.get("num_oov_indices") != 0 else \
                np.array([["c", "a", "b", "b"]], dtype=object)
            path = tmp_path / "s.onnx"
            export_onnx(model, path)
            got, _ = _run(path, {"input": words_in})
            np.testing.assert_array_equal(got, model.predict(words_in, verbose=0))
    ids_in = Input(shape=(3,), dtype="int64", name="input")
    inv = fastff.Model(ids_in, StringLookup(vocabulary=["a", "b"], invert=True)(ids_in))
    export_onnx(inv, tmp_path / "inv.onnx")
    ids = np.array([[0, 1, 2], [3, -1, 1]])
    got, _ = _run(tmp_path / "inv.onnx", {"input": ids})
    assert got.tolist() == inv.predict(ids, verbose=0).tolist()
    hashed = fastff.Sequential([StringLookup(vocabulary=["a"], num_oov_indices=2,
                                             input_shape=(2,), name="hashed")])
    with pytest.raises(ValueError, match="'hashed' \\(StringLookup\\).*CRC-32"):
        export_onnx(hashed, tmp_path / "h.onnx")


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_several_outputs(tmp_path, kind):
    """One graph output per model output, in ``model.outputs`` order, named as Keras names
    them (layer names; dict keys for dict outputs), each with a dynamic batch axis; an input
    that is an output passes through under its own name."""
    model, feeds = multi_output_case(kind)
    path = tmp_path / "multi.onnx"
    proto = model.export(path, verbose=False)
    onnx.checker.check_model(str(path), full_check=True)
    names = ["cls", "reg", "hidden", "aux"] if kind == "list" else ["alpha", "mid", "zeta"]
    assert [o.name for o in proto.graph.output] == names
    assert [i.name for i in proto.graph.input] == ["feat", "aux"]
    for o in proto.graph.output:
        assert o.type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = _session(path)
    for n in (1, 9):
        got = sess.run(None, {k: v[:n] for k, v in feeds.items()})
        want = model.predict({k: v[:n] for k, v in feeds.items()}, verbose=0)
        want = [want[k] for k in names] if kind == "dict" else want
        assert len(got) == len(want) == len(names)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype == np.float32 and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_several_outputs_names_and_repeats(tmp_path):
    a = Input(shape=(3,), name="a")
    d = Dense(2, name="head")
    h = Dense(4)(a)
    h = Dense(4, name="mid")(a)
    # a shared head and a repeated output: repeats are numbered, as the per-output names
    model = fastff.Model(a, [d(h), d(Dense(4)(a)), h, h])
    proto = export_onnx(model, tmp_path / "m.onnx")
    assert [o.name for o in proto.graph.output] == ["head", "head_1", "mid", "mid_1"]
    proto = export_onnx(model, tmp_path / "n.onnx", output_names=["p", "q", "r", "s"])
    assert [o.name for o in proto.graph.output] == ["p", "q", "r", "s"]
    x = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    got = _session(tmp_path / "n.onnx").run(None, {"a": x})
    for g, w in zip(got, model.predict(x, verbose=0)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="output_names"):
        export_onnx(model, tmp_path / "bad.onnx", output_name="y")
    with pytest.raises(ValueError, match="4 non-empty"):
        export_onnx(model, tmp_path / "bad.onnx", output_names=["p", "q"])
    with pytest.raises(ValueError, match="must differ"):
        export_onnx(model, tmp_path / "bad.onnx", output_names=["p", "p", "r", "s"])
    with pytest.raises(ValueError, match="another input"):
        two = fastff.Model([a, Input(shape=(2,), name="b")], [h, Dense(1)(h)])
        export_onnx(two, tmp_path / "bad.onnx", output_names=["b", "c"])
    with pytest.raises(TypeError, match="not both"):
        export_onnx(model, tmp_path / "bad.onnx", output_name="y", output_names=list("pqrs"))


def test_output_is_the_input(tmp_path):
    a = Input(shape=(3,), name="a")
    model = fastff.Model(a, a)
    x = np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    export_onnx(model, tmp_path / "id.onnx")
    _close(model, tmp_path / "id.onnx", x)


def test_nested_models_of_several_outputs(tmp_path):
    model, x = nested_outputs_case()
    proto = export_onnx(model, tmp_path / "n.onnx")
    assert [o.name for o in proto.graph.output] == ["head", "inner", "dinner"]
    sess = _session(tmp_path / "n.onnx")
    for n in (1, 6):
        for g, w in zip(sess.run(None, {"x": x[:n]}), model.predict(x[:n], verbose=0),
                        strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
