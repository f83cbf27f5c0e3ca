"""NLP layers: embedding kernels vs NumPy, gradients, sparse optimizer rows, functional Model."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastff
from fastff import optimizers
from fastff.backend import get_ops
from fastff.layers import (
    Bucketize,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    EmbeddingBag,
    WindowEmbedding,
)
from fastff.testing import check_grads

NP, CPU = get_ops("numpy"), get_ops("cpu")


# ------------------------------------------------------------------ kernels vs NumpyOps
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("pad", [-1, 0, 3])
def test_gather_kernels_match_numpy(dtype, id_dtype, pad):
    rng = np.random.default_rng(1)
    table = rng.standard_normal((13, 7)).astype(dtype)
    ids = rng.integers(0, 13, (5, 3)).astype(id_dtype)
    ids[0, 0] = max(pad, 0)
    a, b = NP.embedding_gather(table, ids, pad), CPU.embedding_gather(table, ids, pad)
    assert a.shape == (15, 7)
    np.testing.assert_array_equal(a, b)
    dy = rng.standard_normal((15, 7)).astype(dtype)
    g1, g2 = np.full_like(table, 9.0), np.full_like(table, 9.0)
    r1 = NP.backprop_embedding_gather(dy, ids, g1, pad)
    r2 = CPU.backprop_embedding_gather(dy, ids, g2, pad)
    np.testing.assert_allclose(g1, g2, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(r1, r2)
    assert pad not in r1.tolist()
    # a second call with prev_rows only clears those rows: same result as a full clear
    ids2 = rng.integers(0, 13, (4, 3)).astype(id_dtype)
    dy2 = rng.standard_normal((12, 7)).astype(dtype)
    NP.backprop_embedding_gather(dy2, ids2, g1, pad, prev_rows=r1)
    CPU.backprop_embedding_gather(dy2, ids2, g2, pad, prev_rows=r2)
    ref = np.zeros_like(table)
    NP.backprop_embedding_gather(dy2, ids2, ref, pad)
    np.testing.assert_allclose(g1, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g2, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["mean", "sum"])
@pytest.mark.parametrize("pad", [-1, 0])
def test_bag_kernels_match_numpy(dtype, mode, pad):
    rng = np.random.default_rng(2)
    table = rng.standard_normal((11, 5)).astype(dtype)
    ids = rng.integers(0, 11, (7, 6)).astype(np.int32)
    ids[1] = 0  # a row of padding only (when pad == 0)
    ids[2, 3:] = 0
    a, b = NP.embedding_bag(table, ids, pad, mode), CPU.embedding_bag(table, ids, pad, mode)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    # reference by hand
    for i in range(7):
        rows = [table[r] for r in ids[i] if r != pad]
        want = np.zeros(5) if not rows else (np.mean(rows, 0) if mode == "mean"
                                             else np.sum(rows, 0))
        np.testing.assert_allclose(a[i], want, rtol=1e-5, atol=1e-6)
    dy = rng.standard_normal((7, 5)).astype(dtype)
    g1, g2 = np.ones_like(table), np.ones_like(table)
    r1 = NP.backprop_embedding_bag(dy, ids, g1, pad, mode)
    r2 = CPU.backprop_embedding_bag(dy, ids, g2, pad, mode)
    np.testing.assert_allclose(g1, g2, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(r1, r2)


def test_kernels_take_non_contiguous_and_float_ids():
    table = np.arange(20, dtype=np.float32).reshape(10, 2)
    ids = np.asfortranarray(np.array([[1, 2], [3, 4], [5, 0]]))
    want = NP.embedding_bag(table, np.ascontiguousarray(ids), 0, "mean")
    np.testing.assert_array_equal(CPU.embedding_bag(table, ids, 0, "mean"), want)
    np.testing.assert_array_equal(CPU.embedding_bag(table, ids.astype(np.float32), 0, "mean"),
                                  want)


# ------------------------------------------------------------------ layers
def _ids(shape, high, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape)


@pytest.mark.parametrize("ops", [NP, CPU], ids=["numpy", "cpu"])
def test_check_grads_embedding_layers(ops):
    x = _ids((4, 3), 9).astype(np.float64)
    x[0, 0] = 0
    for layer in (Embedding(9, 4), Embedding(9, 4, mask_zero=True), WindowEmbedding(9, 3),
                  EmbeddingBag(9, 4, mode="mean"), EmbeddingBag(9, 4, mode="sum"),
                  EmbeddingBag(9, 4, padding_id=None)):
        assert check_grads(layer, x, ops=ops) < 1e-6, layer.name
    assert check_grads(Embedding(9, 4), x[:, 0], ops=ops) < 1e-6  # 1-D ids


def test_check_grads_dense_after_window_embedding():
    model = fastff.Sequential([WindowEmbedding(7, 3, input_shape=(5,)),
                               Dense(4, activation="tanh"), Dense(3, activation="softmax")],
                              dtype="float64")
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = _ids((6, 5), 7)
    assert check_grads(model, x.astype(np.float64), np.arange(6) % 3) < 1e-6


def test_embedding_shapes_pretrained_frozen_and_validation():
    w = np.arange(12, dtype=np.float32).reshape(6, 2)
    e = Embedding(6, 2, weights=w, trainable=False)
    np.testing.assert_array_equal(e(np.array([[1, 5], [0, 2]])), w[[[1, 5], [0, 2]]])
    assert e(np.array([3, 4])).shape == (2, 2)
    assert e.compute_output_shape((5,)) == (5, 2)
    assert WindowEmbedding(6, 2).compute_output_shape((5,)) == (10,)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 6\)"):
        e(np.array([[1, 6]]))
    with pytest.raises(ValueError, match="shape"):
        Embedding(6, 3, weights=w)
    m = Embedding(6, 2, mask_zero=True, weights=w)
    assert not m(np.array([[0, 1]]))[0, 0].any()


def test_frozen_pretrained_table_stays_fixed_in_fit():
    w = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    model = fastff.Sequential([EmbeddingBag(20, 4, weights=w, trainable=False,
                                            input_shape=(6,)),
                               Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x = _ids((64, 6), 20)
    model.fit(x, x[:, 0] % 2, epochs=2, verbose=0)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], w)
    assert model.count_params() == 80 + 10
    assert [p.shape for p in model.non_trainable_weights] == [(20, 4)]


def test_embedding_bag_ragged_lists_equal_padded():
    bag = EmbeddingBag(10, 3, padding_id=0)
    ragged = [np.array([1, 2, 3]), np.array([4]), np.array([5, 6])]
    padded = fastff.data.pad_sequences(ragged)
    np.testing.assert_allclose(bag(ragged), bag(padded))
    np.testing.assert_allclose(bag(padded)[1], bag.get_weights()[0][4])


def test_bucketize_layer():
    b = Bucketize(fastff.data.DISTANCE_BOUNDARIES, output_mode="int")
    np.testing.assert_array_equal(b(np.array([[0, 4, 5, 7, 8, 64, 100]], dtype=float))[0],
                                  [0, 4, 5, 5, 6, 9, 9])
    oh = Bucketize([1, 2], output_mode="one_hot")(np.array([[0.0, 5.0], [1.0, 1.5]]))
    np.testing.assert_array_equal(oh, [[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0]])
    cfg = fastff.layers.serialize(Bucketize([1, 3], output_mode="int"))
    again = fastff.layers.deserialize(cfg)
    assert again.boundaries == [1.0, 3.0] and again.output_mode == "int"
    with pytest.raises(ValueError, match="increasing"):
        Bucketize([2, 1])


def test_concatenate_forward_backward():
    c = Concatenate()
    a, b = np.ones((2, 3)), np.zeros((2, 1))
    y, bp = c.forward([a, b])
    assert y.shape == (2, 4)
    da, db = bp(np.arange(8.0).reshape(2, 4))
    np.testing.assert_array_equal(da, [[0, 1, 2], [4, 5, 6]])
    np.testing.assert_array_equal(db, [[3], [7]])
    assert c.compute_output_shape([(3,), (1,)]) == (4,)


# ------------------------------------------------------------------ sparse optimizer rows
def _dense_vs_rows(name, **kw):
    rng = np.random.default_rng(3)
    V, D, nd = 9, 4, 6
    P = rng.standard_normal(nd + V * D)
    o1, o2 = optimizers.get({"class_name": name, "config": kw}), \
        optimizers.get({"class_name": name, "config": kw})
    for o in (o1, o2):
        o.ops = CPU
        o.build(P.size, P.dtype)
    P1, P2 = P.copy(), P.copy()
    for _ in range(4):
        rows = np.sort(rng.choice(V, 3, replace=False))
        G = rng.standard_normal(P.size)
        mask = np.zeros((V, D))
        mask[rows] = 1
        G[nd:] *= mask.ravel()
        o1.apply(P1, G)
        o2.apply_rows(P2, G, nd, (V, D), rows)
        o2.apply(P2, G, nd)
    return P1, P2, o1, o2


@pytest.mark.parametrize("name,kw", [("SGD", {"learning_rate": 0.1}),
                                     ("Adagrad", {"learning_rate": 0.1}),
                                     ("SGD", {"learning_rate": 0.1, "clipvalue": 0.5})])
def test_rows_equal_dense_where_lazy_is_exact(name, kw):
    P1, P2, o1, o2 = _dense_vs_rows(name, **kw)
    np.testing.assert_allclose(P1, P2, rtol=1e-12, atol=1e-12)
    assert o1.iterations == o2.iterations == 4


@pytest.mark.parametrize("ops", [NP, CPU], ids=["numpy", "cpu"])
def test_lazy_adam_rows_match_textbook(ops):
    """Lazy Adam: touched rows get Adam with the global step's bias correction; untouched
    rows keep their value and moments (CpuOps: the fused adam_rows kernel)."""
    rng = np.random.default_rng(4)
    V, D = 8, 3
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-7
    P = rng.standard_normal(V * D)
    opt = optimizers.Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    opt.ops = ops
    opt.build(P.size, P.dtype)
    ref = P.reshape(V, D).copy()
    m, v = np.zeros((V, D)), np.zeros((V, D))
    for t in range(1, 6):
        rows = np.sort(rng.choice(V, 3, replace=False))
        G = np.zeros((V, D))
        G[rows] = rng.standard_normal((3, D))
        opt.apply_rows(P, G.ravel(), 0, (V, D), rows)
        opt.apply(P, G.ravel(), 0)
        for r in rows:
            m[r] = b1 * m[r] + (1 - b1) * G[r]
            v[r] = b2 * v[r] + (1 - b2) * G[r] ** 2
            mhat, vhat = m[r] / (1 - b1**t), v[r] / (1 - b2**t)
            ref[r] -= lr * mhat / (np.sqrt(vhat) + eps / math.sqrt(1 - b2**t))
    np.testing.assert_allclose(P.reshape(V, D), ref, rtol=1e-10, atol=1e-12)
    state = opt.get_state()
    np.testing.assert_allclose(state["momentum"].reshape(V, D), m, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_rows_kernel_matches_numpy(dtype):
    rng = np.random.default_rng(8)
    tables = [rng.standard_normal((7, 5)).astype(dtype) for _ in range(2)]
    state = [[np.abs(rng.standard_normal((7, 5))).astype(dtype) for _ in range(2)]
             for _ in range(2)]
    state[1] = [a.copy() for a in state[0]]
    tables[1] = tables[0].copy()
    g = rng.standard_normal((7, 5)).astype(dtype)
    rows = np.array([0, 3, 6])
    # reference: NumpyOps's dense Adam step on the gathered rows
    t, (m, v) = tables[0], state[0]
    p, mm, vv = t[rows], m[rows], v[rows]
    NP.adam_step(p, g[rows], mm, vv, None, 0.01, step=3, weight_decay=0.1, clipvalue=0.5)
    t[rows], m[rows], v[rows] = p, mm, vv
    CPU.adam_rows(tables[1], g, *state[1], rows, 0.01, step=3, weight_decay=0.1,
                  clipvalue=0.5)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(tables[0], tables[1], rtol=rtol)
    np.testing.assert_allclose(state[0][1], state[1][1], rtol=rtol)
    untouched = [1, 2, 4, 5]
    np.testing.assert_array_equal(tables[1][untouched], tables[0][untouched])


def test_model_sparse_path_equals_dense_path_with_sgd():
    """Training with row updates gives the same weights as the dense optimizer pass (SGD)."""
    x = _ids((96, 5), 30, seed=5)
    y = x[:, 0] % 3
    results = []
    for sparse in (True, False):
        fastff.utils.set_random_seed(0)
        model = fastff.Sequential([EmbeddingBag(30, 4, input_shape=(5,)),
                                   Dense(3, activation="softmax")], dtype="float64")
        model.layers[0].embeddings.sparse = sparse
        model._layout = None
        model.build()
        model.compile(optimizers.SGD(0.5), "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        assert bool(model._sparse) == sparse
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_row_update_touches_only_batch_rows():
    model = fastff.Sequential([Embedding(50, 3, input_shape=(2,)), fastff.layers.Flatten(),
                               Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.layers[0].get_weights()[0].copy()
    x = np.array([[1, 2], [3, 1]])
    model.train_on_batch(x, np.array([0, 1]))
    after = model.layers[0].get_weights()[0]
    changed = np.flatnonzero(np.any(after != before, axis=1))
    assert changed.tolist() == [1, 2, 3]


# ------------------------------------------------------------------ functional Model
def _two_input_model(dropout: bool = False):
    words = fastff.Input((5,), dtype="int32", name="words")
    dist = fastff.Input((2,), name="dist")
    e = WindowEmbedding(40, 4, name="w_emb")(words)
    b = Bucketize([1, 2, 4, 8], name="buckets")(dist)
    h = Concatenate(name="join")([e, b])
    h = Dense(16, activation="relu", name="hidden")(h)
    if dropout:
        h = Dropout(0.2, seed=3)(h)
    out = Dense(3, activation="softmax", name="out")(h)
    model = fastff.Model([words, dist], out, name="two_inputs")
    model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _two_input_data(n=300):
    rng = np.random.default_rng(6)
    xw = rng.integers(0, 40, (n, 5)).astype(np.int32)
    xd = rng.integers(0, 12, (n, 2)).astype(np.float32)
    y = np.where(xd[:, 0] > 3, xw[:, 2] % 3, 0)
    return xw, xd, y


def test_functional_model_fit_evaluate_predict_save(tmp_path):
    assert issubclass(fastff.functional.Model, fastff.Model)  # Keras: Functional subclasses Model
    xw, xd, y = _two_input_data()
    fastff.utils.set_random_seed(0)
    model = _two_input_model(dropout=True)
    hist = model.fit([xw, xd], y, epochs=25, batch_size=32, verbose=0, validation_split=0.1)
    assert hist.history["accuracy"][-1] > 0.8
    loss, acc = model.evaluate({"words": xw, "dist": xd}, y, verbose=0)
    assert acc > 0.8
    p = model.predict([xw, xd], verbose=0)
    assert p.shape == (300, 3)
    np.testing.assert_allclose(p, model.predict({"dist": xd, "words": xw}, batch_size=7,
                                                verbose=0), rtol=1e-6)
    path = tmp_path / "m.fastff"
    model.save(path)
    again = fastff.models.load_model(path)
    assert isinstance(again, fastff.Model)
    np.testing.assert_array_equal(again.predict([xw, xd], verbose=0), p)
    assert again.evaluate([xw, xd], y, verbose=0) == pytest.approx([loss, acc])
    assert again.optimizer.iterations == model.optimizer.iterations
    # resumed training continues identically
    model.fit([xw, xd], y, epochs=1, batch_size=32, verbose=0)
    again.fit([xw, xd], y, epochs=1, batch_size=32, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_functional_model_summary_and_structure():
    model = _two_input_model()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for needle in ("words (InputLayer)", "(None, 5)", "w_emb (WindowEmbedding)", "(None, 20)",
                   "buckets (Bucketize)", "join (Concatenate)", "(None, 30)", "496",
                   "Total params: 707"):
        assert needle in text, needle
    # Keras 3 lists the InputLayers first
    assert [la.name for la in model.layers] == ["words", "dist", "w_emb", "buckets", "join",
                                                "hidden", "out"]
    assert model.input_shape == [(None, 5), (None, 2)]
    assert model.output_shape == (None, 3)
    assert model.count_params() == 160 + 496 + 51


def test_functional_model_input_errors():
    model = _two_input_model()
    xw, xd, y = _two_input_data(10)
    with pytest.raises(ValueError, match="missing input"):
        model.predict({"words": xw}, verbose=0)
    with pytest.raises(ValueError, match="2 inputs"):
        model.predict([xw], verbose=0)
    with pytest.raises(ValueError, match=r"samples of shape \(2,\)"):
        model.predict([xw, xd[:, :1]], verbose=0)
    with pytest.raises(TypeError, match="integer ids"):
        model.predict([xw.astype(np.float32), xd], verbose=0)
    with pytest.raises(ValueError, match="samples"):
        model.predict([xw, xd[:5]], verbose=0)
    inp = fastff.Input((3,))
    shared = Dense(3)
    assert fastff.Model(inp, shared(shared(inp))).layers == [inp, shared]  # shared: allowed
    other = fastff.Input((3,))
    with pytest.raises(ValueError, match="not among"):
        fastff.Model(inp, Concatenate()([Dense(2)(inp), Dense(2)(other)]))
    with pytest.raises(TypeError):
        model.add(Dense(2))


def test_functional_single_input_matches_sequential():
    """The same weights give the same outputs and the same training steps as Sequential."""
    x = _ids((40, 6), 25, seed=7)
    y = x[:, 1] % 2
    fastff.utils.set_random_seed(1)
    seq = fastff.Sequential([EmbeddingBag(25, 4, input_shape=(6,)),
                             Dense(8, activation="relu"), Dense(2, activation="softmax")])
    inp = fastff.Input((6,), dtype="int64")
    out = Dense(2, activation="softmax")(Dense(8, activation="relu")(EmbeddingBag(25, 4)(inp)))
    fn = fastff.Model(inp, out)
    fn.set_weights(seq.get_weights())
    for m in (seq, fn):
        m.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    np.testing.assert_allclose(fn.predict(x, verbose=0), seq.predict(x, verbose=0), rtol=1e-6)
    seq.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    fn.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(seq.get_weights(), fn.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_functional_graph_gradients_with_fan_out():
    """Central differences over every weight of a float64 graph where one node feeds two
    branches (gradients add up) and an id branch joins a float branch."""
    from fastff import training

    ids = fastff.Input((3,), dtype="int32", name="ids")
    num = fastff.Input((2,), name="num")
    h = Dense(4, activation="tanh", name="h")(num)
    a = Dense(3, activation="sigmoid", name="a")(h)
    b = Dense(2, name="b")(h)
    e = WindowEmbedding(6, 2, name="e")(ids)
    out = Dense(3, activation="softmax", name="o")(Concatenate()([a, b, e]))
    model = fastff.Model([ids, num], out, dtype="float64")
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(9)
    x = model._prepare_inputs([rng.integers(0, 6, (5, 3)).astype(np.int32),
                               rng.standard_normal((5, 2))])
    y = model.loss.prepare_targets(np.array([0, 1, 2, 1, 0]), np.dtype(np.float64))

    def loss() -> float:
        per_row, _, _, _ = training.forward_backward(model, x, y, None)
        return float(per_row.mean())

    loss()
    analytic = [p.grad.copy() for la in model.layers for p in la.params]
    for p, g in zip([p for la in model.layers for p in la.params], analytic):
        flat = p.value.reshape(-1)
        num_g = np.zeros(flat.size)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + 1e-6
            fp = loss()
            flat[k] = old - 1e-6
            fm = loss()
            flat[k] = old
            num_g[k] = (fp - fm) / 2e-6
        np.testing.assert_allclose(g.reshape(-1), num_g, rtol=1e-5, atol=1e-8, err_msg=p.path)
