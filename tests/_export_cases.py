"""Models that the C and the ONNX exporter tests both check against ``predict``."""

from __future__ import annotations

import numpy as np

import fastff
from fastff.layers import BatchNormalization, Concatenate, Dense, Dot, Flatten, Input, Masking


def masking_case() -> tuple[fastff.Sequential, np.ndarray]:
    """Masking before a Dense; rows with whole masked steps and one with a lone match."""
    model = fastff.Sequential([Input(shape=(4, 3)), Masking(mask_value=0.5), Flatten(),
                               Dense(2)])
    x = np.random.default_rng(6).standard_normal((5, 4, 3)).astype(np.float32)
    x[0, 1] = 0.5
    x[2, 3] = 0.5
    x[3, 0, 0] = 0.5  # one feature only: kept
    return model, x


def dot_case() -> tuple[fastff.Model, dict[str, np.ndarray]]:
    """Every kind of ``Dot`` (axes, normalize, 2-D and 3-D inputs) of two named inputs."""
    fastff.utils.set_random_seed(8)
    a, b = Input(shape=(4,), name="a"), Input(shape=(3, 4), name="b")
    u, v = Dense(4)(a), Dense(4)(a)
    parts = [Dot(axes=1)([u, v]), Dot(axes=1, normalize=True)([u, v]),
             Dot(axes=(1, 2))([u, b]), Flatten()(Dot(axes=(2, 2), normalize=True)([b, b])),
             Flatten()(Dot(axes=(1, 1))([b, b]))]
    model = fastff.Model([a, b], Concatenate()(parts))
    rng = np.random.default_rng(8)
    feeds = {"a": rng.standard_normal((5, 4)).astype(np.float32),
             "b": rng.standard_normal((5, 3, 4)).astype(np.float32)}
    return model, feeds


def masked_pooling_case() -> tuple[fastff.Model, dict[str, np.ndarray]]:
    """Masks from ``Embedding(mask_zero=True)`` and ``Masking`` through mask-passing layers
    (and merged by ``Add``, which ANDs them) into ``GlobalAveragePooling1D``; a max pooling
    beside them ignores its mask. Every row keeps at least one real step."""
    from fastff.layers import (
        Activation,
        Add,
        Embedding,
        GlobalAveragePooling1D,
        GlobalMaxPooling1D,
        LayerNormalization,
        Masking,
        Rescaling,
    )

    fastff.utils.set_random_seed(9)
    a = Input(shape=(5,), dtype="int64", name="a")
    b = Input(shape=(5,), dtype="int64", name="b")
    s = Input(shape=(4, 3), name="s")
    ea, eb = Embedding(9, 3, mask_zero=True)(a), Embedding(9, 3, mask_zero=True)(b)
    one = GlobalAveragePooling1D(keepdims=True)(Activation("tanh")(LayerNormalization()(ea)))
    both = GlobalAveragePooling1D()(Add()([ea, eb]))
    biggest = GlobalMaxPooling1D()(ea)
    seq = GlobalAveragePooling1D()(Rescaling(2.0, offset=0.5)(Masking(mask_value=0.5)(s)))
    model = fastff.Model([a, b, s], Dense(2)(Concatenate()([Flatten()(one), both, biggest,
                                                              seq])))
    rng = np.random.default_rng(9)
    ids_a, ids_b = rng.integers(1, 9, (6, 5)), rng.integers(0, 9, (6, 5))
    ids_a[0, :3] = 0
    ids_a[1, 1:] = 0
    ids_b[0, 3] = ids_b[1, 0] = 1
    ids_b[2, :4] = 0
    ids_b[3, 0] = 0
    x = rng.standard_normal((6, 4, 3)).astype(np.float32)
    x[0, 1] = 0.5
    x[2, :3] = 0.5
    x[3, 0, 0] = 0.5  # one feature only: kept
    return model, {"a": ids_a, "b": ids_b, "s": x}


def nested_case() -> tuple[fastff.Model, dict[str, np.ndarray]]:
    """Models used as layers: a Sequential (with a Sequential inside) in a functional model
    and a two-input functional model called on two of its tensors."""
    from fastff.layers import BatchNormalization, ReLU

    fastff.utils.set_random_seed(10)
    deepest = fastff.Sequential([Input(shape=(6,)), Dense(5, activation="tanh")])
    inner = fastff.Sequential([Input(shape=(4,)), Dense(6), BatchNormalization(), ReLU(),
                               deepest])
    u, v = Input(shape=(5,), name="u"), Input(shape=(2,), name="v")
    pair = fastff.Model([u, v], Dense(3, activation="sigmoid")(Concatenate()([u, v])))
    x, y = Input(shape=(4,), name="x"), Input(shape=(2,), name="y")
    model = fastff.Model([x, y], Dense(2)(pair([inner(x), y])))
    _set_moments(inner.layers[1], 6, np.random.default_rng(10))
    rng = np.random.default_rng(11)
    return model, {"x": rng.standard_normal((7, 4)).astype(np.float32),
                   "y": rng.standard_normal((7, 2)).astype(np.float32)}


def _set_moments(bn, n: int, rng: np.random.Generator) -> None:
    """Moving statistics and affine weights away from their initial 0 / 1."""
    bn.moving_mean.value[...] = rng.standard_normal(n)
    bn.moving_variance.value[...] = rng.random(n) + 0.1
    if bn.gamma is not None:
        bn.gamma.value[...] = rng.standard_normal(n)
    if bn.beta is not None:
        bn.beta.value[...] = rng.standard_normal(n)


def fold_case(dtype: str = "float32") -> tuple[fastff.Sequential, list]:
    """``Dense -> BatchNormalization`` pairs that fold (with and without bias, center,
    scale) and one that must not (a Dense with an activation); returns the model and its
    BatchNormalization layers that fold."""
    from fastff.layers import BatchNormalization

    fastff.utils.set_random_seed(12)
    folds = [BatchNormalization(), BatchNormalization(center=False),
             BatchNormalization(scale=False, epsilon=0.01)]
    kept = BatchNormalization(name="kept_bn")
    model = fastff.Sequential([Input(shape=(7,)), Dense(8), folds[0],
                               Dense(6, use_bias=False), folds[1],
                               Dense(5, activation="relu"), kept, Dense(4), folds[2]],
                              dtype=dtype)
    model.build()
    rng = np.random.default_rng(12)
    for bn in (*folds, kept):
        _set_moments(bn, bn.moving_mean.value.shape[0], rng)
    return model, folds


def fold_branch_case() -> fastff.Model:
    """A Dense read by a BatchNormalization and by an ``Add``: not folded."""
    from fastff.layers import Add, BatchNormalization

    fastff.utils.set_random_seed(13)
    x = Input(shape=(3,), name="x")
    h = Dense(4)(x)
    bn = BatchNormalization(name="branch_bn")
    model = fastff.Model(x, Add()([bn(h), h]))
    _set_moments(bn, 4, np.random.default_rng(13))
    return model


def lookup_case() -> tuple[fastff.Model, np.ndarray]:
    """``IntegerLookup`` in every output mode, with mask tokens and several OOV slots (the
    ``"int"`` ids feed an Embedding); tokens in, out of and at the edges of the vocabulary."""
    from fastff.layers import Embedding, IntegerLookup

    fastff.utils.set_random_seed(16)
    vocab = [50, 3, 9, -7]
    ids = Input(shape=(4,), dtype="int64", name="ids")
    as_int = IntegerLookup(vocabulary=vocab, mask_token=0, num_oov_indices=2)(ids)
    parts = [Flatten()(Embedding(7, 2)(as_int)),
             IntegerLookup(vocabulary=vocab, output_mode="multi_hot", mask_token=0)(ids),
             Flatten()(IntegerLookup(vocabulary=vocab, output_mode="one_hot",
                                     num_oov_indices=3)(ids)),
             IntegerLookup(vocabulary=vocab, output_mode="count", max_tokens=8,
                           pad_to_max_tokens=True)(ids)]
    model = fastff.Model(ids, Concatenate()(parts))
    x = np.array([[50, 0, 3, 4], [-7, -8, 9, 9], [0, 0, 1000001, 3], [2, 51, -7, 50]])
    return model, x


def shared_case() -> tuple[fastff.Model, dict[str, np.ndarray]]:
    """Shared layers: one Dense on both inputs, another at two depths, a BatchNormalization
    after a shared Dense (which must not fold into it) and a two-input model used twice."""
    fastff.utils.set_random_seed(9)
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    enc, deep = Dense(3, activation="tanh"), Dense(3, activation="relu")
    bn = BatchNormalization()
    i, j = Input(shape=(3,)), Input(shape=(3,))
    pair = fastff.Model([i, j], Dense(2)(Concatenate()([i, j])))
    ha, hb = enc(a), enc(b)
    h = deep(Dense(3)(deep(ha)))
    model = fastff.Model([a, b], Concatenate()([bn(ha), h, pair([ha, hb]), pair([hb, h])]))
    rng = np.random.default_rng(9)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    model.compile("sgd", "mse")
    model.fit([x, x[::-1]], np.zeros((16, 10), np.float32), epochs=1, verbose=0)
    feeds = {"a": rng.standard_normal((5, 4)).astype(np.float32),
             "b": rng.standard_normal((5, 4)).astype(np.float32)}
    return model, feeds


def multi_output_case(kind: str) -> tuple[fastff.Model, dict[str, np.ndarray]]:
    """Two inputs and several outputs: a softmax head, a linear head, a hidden layer read by
    both heads (a node that is an output and read on), and one input passed through as an
    output (``kind`` "list"), or the same as a dict (``kind`` "dict": keys sorted unlike
    the layer order)."""
    fastff.utils.set_random_seed(11)
    a, b = Input(shape=(4,), name="feat"), Input(shape=(2,), name="aux")
    h = Dense(6, activation="tanh", name="hidden")(a)
    cls = Dense(3, activation="softmax", name="cls")(Concatenate()([h, b]))
    bn = BatchNormalization()
    reg = Dense(1, name="reg")(bn(Dense(5)(h)))
    outputs = ([cls, reg, h, b] if kind == "list"
               else {"zeta": cls, "alpha": reg, "mid": h})
    model = fastff.Model([a, b], outputs)
    rng = np.random.default_rng(11)
    _set_moments(bn, 5, rng)
    feeds = {"feat": rng.standard_normal((9, 4)).astype(np.float32),
             "aux": rng.standard_normal((9, 2)).astype(np.float32)}
    return model, feeds


def nested_outputs_case() -> tuple[fastff.Model, np.ndarray]:
    """Nested functional models of several outputs (a list, called twice, and a dict):
    their outputs read by a layer and given out as the outer model's."""
    fastff.utils.set_random_seed(13)
    i = Input(shape=(4,), name="i")
    h = Dense(3, activation="tanh", name="h")(i)
    inner = fastff.Model(i, [Dense(2, name="p")(h), h], name="inner")
    di = Input(shape=(4,), name="di")
    dh = Dense(3, name="dh")(di)
    dinner = fastff.Model(di, {"z": Dense(2, name="dp")(dh), "a": dh}, name="dinner")
    x = Input(shape=(4,), name="x")
    p1, h1 = inner(x)
    _, h2 = inner(Dense(4, name="pre")(x))
    d = dinner(x)
    out = Dense(2, name="head")(Concatenate(name="cat")([p1, h2, d["a"], d["z"]]))
    model = fastff.Model(x, [out, h1, d["z"]], name="outer")
    return model, np.random.default_rng(13).standard_normal((6, 4)).astype(np.float32)
