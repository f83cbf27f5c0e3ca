"""Sample/class-weighted training reduces the loss as Keras 3 does: ``sum_over_batch_size``
(Σ wᵢ lᵢ / n, the default), ``sum`` and ``mean_with_sample_weight`` (Σ wᵢ lᵢ / Σ wᵢ). The
expected numbers were computed once with Keras 3.15 (torch backend) on the same data."""

import numpy as np
import pytest

import fastff as keras

KERAS = {  # reduction: (History loss per epoch, evaluate, first 4 kernel values after fit)
    "sum_over_batch_size": ([1.4472732543945312, 1.3992921113967896], 1.3712126016616821,
                            [-0.34387264, -0.31064343, -0.04588519, -0.05201367]),
    "sum": ([21.352693557739258, 21.25519371032715], 19.076932907104492,
            [-0.24441858, -0.29433945, -0.16164322, -0.16293094]),
    "mean_with_sample_weight": ([1.2829463481903076, 1.2425165176391602], 1.216750979423523,
                                [-0.35318813, -0.3112087, -0.03600444, -0.04335237]),
}
KERAS_CLASS_WEIGHT = ([1.735793948173523, 1.6057487726211548],
                      [-0.38482687, -0.26196545, -0.05360889, -0.06998918])


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 4))
    y = rng.integers(0, 3, 50)
    sw = rng.random(50) * 2
    k0 = rng.standard_normal((4, 3)) * 0.3
    return x, y, sw, k0


def _model(k0, loss):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    m.layers[0].set_weights([k0, np.zeros(3)])
    m.compile(keras.optimizers.SGD(0.1), loss)
    return m


@pytest.mark.parametrize("reduction", sorted(KERAS))
def test_weighted_training_matches_keras(reduction):
    x, y, sw, k0 = _data()
    m = _model(k0, keras.losses.SparseCategoricalCrossentropy(reduction=reduction))
    h = m.fit(x, y, sample_weight=sw, batch_size=16, epochs=2, shuffle=False, verbose=0)
    ev = m.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0)
    loss, want_ev, kernel = KERAS[reduction]
    np.testing.assert_allclose(h.history["loss"], loss, rtol=2e-6)
    assert ev == pytest.approx(want_ev, rel=2e-6)
    np.testing.assert_allclose(m.layers[0].get_weights()[0].ravel()[:4], kernel, rtol=1e-5,
                               atol=1e-7)


def test_class_weight_matches_keras():
    x, y, _, k0 = _data()
    m = _model(k0, "sparse_categorical_crossentropy")
    h = m.fit(x, y, class_weight={0: 1.0, 1: 3.0, 2: 0.5}, batch_size=16, epochs=2,
              shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], KERAS_CLASS_WEIGHT[0], rtol=2e-6)
    np.testing.assert_allclose(m.layers[0].get_weights()[0].ravel()[:4], KERAS_CLASS_WEIGHT[1],
                               rtol=1e-5, atol=1e-7)


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction"):
        keras.losses.MeanSquaredError(reduction="average")
