"""Masks: Embedding(mask_zero) and Masking produce them, GlobalAveragePooling1D consumes them;
global pooling layers."""

import numpy as np
import pytest
from _gradcheck import numeric_input_grads

import fastff as keras
from fastff.layers import deserialize, serialize
from fastff.layers.masking import forward_masked, output_mask
from fastff.testing import check_grads

rng = np.random.default_rng(2)
L = keras.layers


def test_embedding_and_masking_compute_mask():
    ids = np.array([[3, 0, 1], [0, 0, 2]])
    assert L.Embedding(5, 2, mask_zero=True).compute_mask(ids).tolist() == \
        [[True, False, True], [False, False, True]]
    assert L.Embedding(5, 2).compute_mask(ids) is None
    x = rng.standard_normal((2, 3, 4))
    x[0, 1] = 0.5
    layer = L.Masking(mask_value=0.5)
    assert layer.compute_mask(x).tolist() == [[True, False, True], [True, True, True]]
    y = layer(x)
    assert np.all(y[0, 1] == 0) and np.array_equal(y[1], x[1].astype(np.float32))
    _, bp = layer.forward(x)
    dx = bp(np.ones_like(x))  # masked steps get no gradient (not differentiable there)
    assert np.all(dx[0, 1] == 0) and np.all(np.delete(dx.reshape(6, 4), 1, 0) == 1)
    check_grads(L.Masking(mask_value=0.5), rng.standard_normal((2, 3, 4)))
    assert deserialize(serialize(layer)).mask_value == 0.5


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_masked(data_format, keepdims):
    mask = np.array([[1, 1, 0, 1], [0, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)  # 4 steps
    ax = 1 if data_format == "channels_last" else 2
    sample = (4, 5) if ax == 1 else (5, 4)
    xs = rng.standard_normal((3, *sample))
    layer = L.GlobalAveragePooling1D(data_format=data_format, keepdims=keepdims)
    layer.build_for(sample, "float64")
    m = mask[:, :, None] if ax == 1 else mask[:, None, :]
    want = (xs * m).sum(axis=ax, keepdims=keepdims) / m.sum(axis=ax, keepdims=keepdims)
    y, bp = layer.forward(xs, False, None, mask=mask)
    np.testing.assert_allclose(y, want, rtol=1e-12)
    np.testing.assert_allclose(layer.forward(xs)[0], xs.mean(axis=ax, keepdims=keepdims))
    r = rng.standard_normal(y.shape)
    num = numeric_input_grads(
        lambda a: float(np.sum(layer.forward(a[0], False, None, mask=mask)[0] * r)), [xs])[0]
    np.testing.assert_allclose(bp(r), num, atol=1e-8)
    check_grads(layer, xs)
    assert layer.compute_mask(xs, mask) is None
    assert deserialize(serialize(layer)).get_config() == layer.get_config()


def test_pooling_called_with_mask():
    x = np.arange(12, dtype=np.float32).reshape(1, 4, 3)
    mask = np.array([[True, False, False, True]])
    np.testing.assert_allclose(L.GlobalAveragePooling1D()(x, mask=mask), [[4.5, 5.5, 6.5]])


def test_masked_average_of_all_padding_is_nan_as_keras():
    y, _ = L.GlobalAveragePooling1D().forward(np.ones((1, 2, 3)), mask=np.zeros((1, 2), bool))
    assert np.isnan(y).all()


def test_global_max_pooling():
    x = rng.standard_normal((3, 4, 5))
    layer = L.GlobalMaxPooling1D()
    np.testing.assert_array_equal(layer(x), x.max(axis=1).astype(np.float32))
    check_grads(layer, x)
    cf = L.GlobalMaxPooling1D(data_format="channels_first", keepdims=True)
    assert cf(x).shape == (3, 4, 1)
    check_grads(cf, x)
    x[0, 2, 1] = np.nan
    assert np.isnan(L.GlobalMaxPooling1D()(x)[0, 1])


def test_keras_style_dan_matches_embedding_bag():
    """Embedding(mask_zero=True) -> GlobalAveragePooling1D with the propagated mask is the
    EmbeddingBag mean: same output and same table gradient."""
    ids = np.array([[4, 2, 0, 0], [1, 0, 3, 0], [5, 5, 5, 1]])
    emb = L.Embedding(6, 3, mask_zero=True, dtype="float64")
    pool = L.GlobalAveragePooling1D()
    bag = L.EmbeddingBag(6, 3, mode="mean", dtype="float64")
    for layer, shape in ((emb, (4,)), (pool, (4, 3)), (bag, (4,))):
        layer.build_for(shape, "float64")
    bag.set_weights(emb.get_weights())
    # the model loop's two calls per layer
    h, bp_emb = forward_masked(emb, ids, True, None, None)
    mask = output_mask(emb, ids, None)
    y, bp_pool = forward_masked(pool, h, True, None, mask)
    assert output_mask(pool, h, mask) is None
    want, bp_bag = bag.forward(ids, True)
    np.testing.assert_allclose(y, want, rtol=1e-12)
    dy = rng.standard_normal(y.shape)
    bp_emb(bp_pool(dy))
    bp_bag(dy)
    np.testing.assert_allclose(emb.embeddings.grad, bag.embeddings.grad, rtol=1e-12)


def test_mask_rule_passes_through_supporting_layers():
    mask = np.array([[True, False]])
    assert output_mask(L.Dropout(0.5), None, mask) is mask
    assert output_mask(L.LayerNormalization(), None, mask) is mask
    assert output_mask(L.Flatten(), None, mask) is None
    assert output_mask(L.Add(), None, [mask, None]).tolist() == [[True, False]]


# ---------------------------------------------------------------- masks through model loops
IDS = np.array([[4, 2, 0, 0], [1, 0, 3, 0], [5, 5, 5, 1], [2, 0, 0, 0], [3, 1, 4, 2],
                [0, 0, 5, 3]])
YC = np.array([0, 1, 1, 0, 1, 0])


def _dan(kind, dtype="float32", dropout=False):
    keras.utils.set_random_seed(3)
    if kind == "bag":
        body = [L.EmbeddingBag(6, 3, mode="mean")]
    else:
        body = [L.Embedding(6, 3, mask_zero=True)]
        if dropout:  # a supports_masking layer between producer and consumer
            body.append(L.Dropout(0.0))
        body.append(L.GlobalAveragePooling1D())
    if kind == "functional":
        inp = keras.Input((4,), dtype="int32")
        h = inp
        for layer in body:
            h = layer(h)
        m = keras.Model(inp, L.Dense(2, activation="softmax")(h), dtype=dtype)
    else:
        m = keras.Sequential([keras.Input((4,), dtype="int32"), *body,
                              L.Dense(2, activation="softmax")], dtype=dtype)
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_masked_dan_model_trains_as_embedding_bag(kind):
    bag = _dan("bag")
    dan = _dan(kind, dropout=True)
    dan.set_weights(bag.get_weights())
    np.testing.assert_allclose(dan.predict(IDS, verbose=0), bag.predict(IDS, verbose=0),
                               rtol=1e-6)
    hb = bag.fit(IDS, YC, batch_size=4, epochs=3, shuffle=False, verbose=0)
    hd = dan.fit(IDS, YC, batch_size=4, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(hd.history["loss"], hb.history["loss"], rtol=1e-5)
    for a, b in zip(dan.get_weights(), bag.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dan.evaluate(IDS, YC, verbose=0),
                               bag.evaluate(IDS, YC, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(dan(IDS), bag(IDS), rtol=1e-5)
    # without the mask the padding rows would be averaged in: the outputs differ
    plain = keras.Sequential([keras.Input((4,), dtype="int32"), L.Embedding(6, 3),
                              L.GlobalAveragePooling1D(), L.Dense(2, activation="softmax")])
    assert not plain._mask_flow and dan._mask_flow or kind == "functional"
    plain.set_weights(dan.get_weights())
    assert not np.allclose(plain.predict(IDS, verbose=0), dan.predict(IDS, verbose=0))


def test_masked_model_gradients_match_central_differences():
    from fastff import training

    m = _dan("sequential", dtype="float64")
    m.build((4,))
    y = m.loss.prepare_targets(YC, np.dtype(np.float64))
    m._pack()
    params = [p for layer in m.layers for p in layer.params]
    for p in params:
        p.grad[...] = 0
    training.forward_backward(m, IDS, y, None, None)
    analytic = [p.grad.copy() for p in params]

    def f(_):
        per_row = training.forward_backward(m, IDS, y, None, None)[0]
        return float(per_row.mean())  # the loss is the batch mean

    numeric = numeric_input_grads(f, [p.value for p in params])
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, atol=1e-7)


def test_masking_layer_in_sequential_and_functional():
    x = rng.standard_normal((3, 4, 2))
    x[0, 1:] = 0.0
    x[2, 0] = 0.0
    keep = np.any(x != 0, axis=-1)
    want = (x * keep[..., None]).sum(1) / keep.sum(1, keepdims=True)
    seq = keras.Sequential([keras.Input((4, 2)), L.Masking(), L.GlobalAveragePooling1D()],
                           dtype="float64")
    np.testing.assert_allclose(seq.predict(x, verbose=0), want, rtol=1e-12)
    inp = keras.Input((4, 2))
    fun = keras.Model(inp, L.GlobalAveragePooling1D()(L.Masking()(inp)), dtype="float64")
    np.testing.assert_allclose(fun.predict(x, verbose=0), want, rtol=1e-12)
    # GlobalMaxPooling1D ignores masks, as Keras
    mx = keras.Sequential([keras.Input((4, 2)), L.Masking(), L.GlobalMaxPooling1D()],
                          dtype="float64")
    np.testing.assert_allclose(mx.predict(x, verbose=0), x.max(axis=1), rtol=1e-12)


def test_dense_and_activation_pass_masks():
    mask = np.array([[True, False]])
    assert output_mask(L.Dense(2), None, mask) is mask
    assert output_mask(L.Activation("relu"), None, mask) is mask
