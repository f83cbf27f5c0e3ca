"""Bad inputs to fit / evaluate / predict: the right exception, naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import layers as L
from fastff._validation import NotCompiledError

X = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
Y = np.arange(20) % 3


def _model(loss="sparse_categorical_crossentropy", out=3, act="softmax", compiled=True):
    m = fastff.Sequential([L.Input((4,)), L.Dense(out, activation=act)])
    if compiled:
        m.compile("sgd", loss)
    return m


def _nan(a):
    a = a.astype(np.float64).copy()
    a[3, 1] = np.nan
    return a


CASES = [
    # (id, model kwargs, call, exception, message fragment)
    ("length mismatch", {}, lambda m: m.fit(X, Y[:10], verbose=0), ValueError, "y: expected 20"),
    ("feature width", {}, lambda m: m.fit(X[:, :3], Y, verbose=0), ValueError, "shape (4,)"),
    ("feature width predict", {}, lambda m: m.predict(X[:, :2], verbose=0), ValueError,
     "expects samples of shape (4,)"),
    ("nan in x", {}, lambda m: m.fit(_nan(X), Y, verbose=0), ValueError, "x: contains NaN"),
    ("inf in y", {"loss": "mse", "act": None},
     lambda m: m.fit(X, np.full((20, 3), np.inf), verbose=0), ValueError, "y: contains NaN or inf"),
    ("label out of range", {}, lambda m: m.fit(X, Y + 5, verbose=0), ValueError,
     "class ids must be in [0, 3)"),
    ("negative label", {}, lambda m: m.fit(X, Y - 1, verbose=0), ValueError, "[0, 3)"),
    ("float labels", {}, lambda m: m.fit(X, Y + 0.5, verbose=0), ValueError, "integer class ids"),
    ("one-hot for sparse", {}, lambda m: m.fit(X, np.eye(3)[Y], verbose=0), ValueError,
     "categorical_crossentropy"),
    ("ids for categorical", {"loss": "categorical_crossentropy"},
     lambda m: m.fit(X, Y, verbose=0), ValueError, "to_categorical"),
    ("binary out of range", {"loss": "binary_crossentropy", "out": 1, "act": "sigmoid"},
     lambda m: m.fit(X, Y, verbose=0), ValueError, "targets in [0, 1]"),
    ("string x", {}, lambda m: m.fit(np.array([["a"] * 4] * 20), Y, verbose=0), TypeError,
     "x: expected a numeric array"),
    ("object y", {}, lambda m: m.fit(X, np.array([None] * 20), verbose=0), TypeError,
     "y: expected a numeric array"),
    ("empty x", {}, lambda m: m.fit(X[:0], Y[:0], verbose=0), ValueError, "x: expected at least"),
    ("1-D x", {}, lambda m: m.predict(X[0], verbose=0), ValueError, "x: expected a 2-D array"),
    ("batch_size 0", {}, lambda m: m.fit(X, Y, batch_size=0, verbose=0), ValueError,
     "batch_size: expected a positive integer"),
    ("batch_size float", {}, lambda m: m.fit(X, Y, batch_size=2.5, verbose=0), TypeError,
     "batch_size"),
    ("epochs negative", {}, lambda m: m.fit(X, Y, epochs=-1, verbose=0), ValueError, "epochs"),
    ("predict batch_size", {}, lambda m: m.predict(X, batch_size=-3, verbose=0), ValueError,
     "batch_size"),
    ("fit before compile", {"compiled": False}, lambda m: m.fit(X, Y, verbose=0),
     NotCompiledError, "compile"),
    ("evaluate before compile", {"compiled": False}, lambda m: m.evaluate(X, Y, verbose=0),
     RuntimeError, "compile"),
    ("validation_split", {}, lambda m: m.fit(X, Y, validation_split=1.5, verbose=0), ValueError,
     "validation_split"),
    ("validation_data", {}, lambda m: m.fit(X, Y, validation_data=X, verbose=0), ValueError,
     "validation_data"),
    ("validation_data width", {},
     lambda m: m.fit(X, Y, validation_data=(X[:, :2], Y), verbose=0), ValueError,
     "validation_data: x"),
    ("sample_weight length", {}, lambda m: m.fit(X, Y, sample_weight=np.ones(3), verbose=0),
     ValueError, "sample_weight"),
    ("verbose", {}, lambda m: m.fit(X, Y, verbose="loud"), ValueError, "verbose"),
    ("y missing", {}, lambda m: m.fit(X, None, verbose=0), ValueError, "y: targets are required"),
    ("x none", {}, lambda m: m.predict(None, verbose=0), ValueError, "x: expected an array"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_inputs(case):
    _, kwargs, call, exc, fragment = case
    model = _model(**kwargs)
    with pytest.raises(exc) as info:
        call(model)
    assert fragment in str(info.value)


def test_not_compiled_is_both_runtime_and_value_error():
    assert issubclass(NotCompiledError, RuntimeError) and issubclass(NotCompiledError, ValueError)


def test_unknown_names_at_compile():
    m = _model(compiled=False)
    with pytest.raises(ValueError, match="Did you mean"):
        m.compile("adam", "sparse_categorical_crossentropyy")
    with pytest.raises(ValueError, match="Did you mean 'adam'"):
        m.compile("adma", "mse")
    with pytest.raises(ValueError, match="Unknown metric"):
        m.compile("adam", "mse", metrics=["acuracy"])


def test_inputs_are_left_untouched_on_error():
    x = _nan(X)
    before = x.copy()
    with pytest.raises(ValueError):
        _model().fit(x, Y, verbose=0)
    np.testing.assert_array_equal(np.isnan(x), np.isnan(before))


def test_values_overflowing_the_model_dtype_are_refused_after_the_cast():
    """float64 data holding 1e39 is finite, but becomes inf in a float32 model: x, y and
    sample_weight are checked after the conversion (the error names the value and index);
    a float64 model takes the same data."""
    import warnings

    x = np.ones((4, 2))
    x[1, 1] = 1e39
    m = fastff.Sequential([L.Input((2,)), L.Dense(1)])
    m.compile("sgd", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning on the way
        with pytest.raises(ValueError, match=r"x: value 1e\+39 at index \(1, 1\) overflows the "
                                             r"model's dtype float32"):
            m.fit(x, np.ones(4), verbose=0)
        with pytest.raises(ValueError, match=r"x: value 1e\+39 .* overflows"):
            m.predict(x, verbose=0)
        with pytest.raises(ValueError, match=r"y: value -1e\+39 at index \(2, 0\) overflows"):
            m.fit(np.ones((4, 2)), np.array([0, 0, -1e39, 0]), verbose=0)
        with pytest.raises(ValueError, match=r"sample_weight: value 1e\+39 at index \(3,\)"):
            m.fit(np.ones((4, 2)), np.ones(4), sample_weight=[1, 1, 1, 1e39], verbose=0)
    m64 = fastff.Sequential([L.Input((2,)), L.Dense(1)], dtype="float64")
    m64.compile("sgd", "mse")
    assert np.isfinite(m64.predict(np.ones((4, 2)), verbose=0)).all()
    assert m64.predict(x, verbose=0).shape == (4, 1)
