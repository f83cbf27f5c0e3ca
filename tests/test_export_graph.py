"""The model walk shared by the C and ONNX exporters (fastff.export._graph)."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff.export import _graph
from fastff.layers import Concatenate, Dense, Embedding, Flatten, Input


def test_walk_order_inputs_and_specs():
    a = Input(shape=(3,), name="a")
    ids = Input(shape=(2,), dtype="int64", name="ids")
    e = Flatten(name="flat")(Embedding(5, 2, name="emb")(ids))
    h = Dense(4, name="d1")(Concatenate(name="cat")([a, e]))
    model = fastff.Model([a, ids], Dense(2, name="d2")(h))
    specs = _graph.input_specs(model)
    assert specs == [("a", (3,), np.dtype(np.float32)), ("ids", (2,), np.dtype(np.int64))]
    assert _graph.output_shape(model) == (2,)
    seen = []

    def step(layer, x):
        seen.append((layer.name, x))
        return layer.name

    assert _graph.walk(model, ["A", "IDS"], step, "t") == "d2"
    assert seen == [("emb", "IDS"), ("flat", "emb"), ("cat", ["A", "flat"]), ("d1", "cat"),
                    ("d2", "d1")]

    seq = fastff.Sequential([Input(shape=(4,)), Embedding(6, 2, mask_zero=True), Flatten()])
    assert _graph.input_specs(seq)[0].shape == (4,)
    assert _graph.walk(seq, [0], lambda layer, x: x + 1, "t") == 2


def test_checks_and_refusal():
    with pytest.raises(TypeError, match="who: expected a fastff Sequential"):
        _graph.check_model(object(), "who")
    with pytest.raises(ValueError, match="who: the model is not built"):
        _graph.check_model(fastff.Sequential([Dense(2)]), "who")
    table = _graph.converter_table({"Dense": len, "NoSuchLayer": len})
    assert list(table) == [fastff.layers.Dense, _graph.FoldedDense]
    with pytest.raises(ValueError, match=r"x: layer 'f' \(Flatten\) no; supported layers: Dense"):
        _graph.converter_for(table, Flatten(name="f"), "x: layer {name!r} ({kind}) no")


def test_walk_into_nested_models_folds_and_masks():
    from fastff.layers import BatchNormalization, GlobalAveragePooling1D

    inner = fastff.Sequential([Input(shape=(3,)), Dense(4, name="d"),
                               BatchNormalization(name="bn"), Dense(2, name="e")])
    outer = fastff.Sequential([Input(shape=(3,)), inner, Dense(1, name="f")])
    outer.build()
    seen = []

    def step(layer, x, **kw):
        seen.append((type(layer).__name__, layer.name, x, kw))
        return layer.name

    assert _graph.walk(outer, ["in"], step, "t") == "f"
    assert seen == [("FoldedDense", "d", "in", {}), ("Dense", "e", "d", {}),
                    ("Dense", "f", "e", {})]
    d, bn = inner.get_layer("d"), inner.get_layer("bn")
    bn.moving_mean.value[...] = [1.0, 2.0, 3.0, 4.0]
    bn.moving_variance.value[...] = [0.5, 1.0, 2.0, 4.0]
    bn.gamma.value[...] = [1.0, -1.0, 2.0, 0.5]
    bn.beta.value[...] = [0.0, 0.25, -1.0, 3.0]
    folded = _graph.FoldedDense(d, bn)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    want = bn(d(x))
    got = x @ folded.kernel.value + folded.bias.value
    assert folded.kernel.value.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)

    class Masker:  # masks as strings: which producer made them, from what
        def ids(self, layer, x):
            return f"ids({layer.name},{x})"

    seq = fastff.Sequential([Input(shape=(4,)), Embedding(6, 2, mask_zero=True, name="emb"),
                             GlobalAveragePooling1D(name="gap")])
    seen.clear()
    _graph.walk(seq, ["in"], step, "t", masker=Masker())
    assert seen[1] == ("GlobalAveragePooling1D", "gap", "emb", {"mask": "ids(emb,in)"})
