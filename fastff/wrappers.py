"""scikit-learn wrappers with Keras 3's API: ``SKLearnClassifier``, ``SKLearnRegressor``,
``SKLearnTransformer`` (``keras.wrappers``).

``model`` is a compiled fastff model, cloned for each ``fit`` (its config, fresh weights, its
compile settings with a new optimizer; the instance given is never trained), or a callable
``model(X=X, y=y, **model_kwargs)`` that returns a compiled model. ``warm_start=True`` keeps
training the fitted ``model_`` on later ``fit`` calls. The classifier one-hot encodes the
targets (scikit-learn's ``OneHotEncoder``, as Keras), so the model ends in ``n_classes`` units
trained with ``categorical_crossentropy``.

scikit-learn is imported when this module is (``import fastff`` does not import it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from fastff.models import Sequential

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer", "clone_model"]


def clone_model(model: Sequential) -> Sequential:
    """A new model with ``model``'s architecture and compile settings and fresh weights
    (Keras's ``clone_model`` followed by a ``compile`` like the original's)."""
    clone = type(model).from_config(model.get_config())
    cfg = model.get_compile_config()
    if cfg is not None:
        clone.compile_from_config(cfg)
    return clone


_NO_Y = "no_validation"  # scikit-learn's marker for "validate X only"


class _PickledModel:
    """A model as plain data for pickling (config, compile config, weights): fastff models
    hold thread-local workspaces, which do not pickle. The optimizer state is not kept."""

    def __init__(self, model: Sequential):
        self.cls = type(model)
        self.config = model.get_config()
        self.compile_config = model.get_compile_config()
        self.weights = model.get_weights() if model.built else None

    def restore(self) -> Sequential:
        model = self.cls.from_config(self.config)
        if self.compile_config is not None:
            model.compile_from_config(self.compile_config)
        if self.weights is not None:
            model.set_weights(self.weights)
        return model


def _validate_data(estimator: BaseEstimator, X: Any, y: Any = _NO_Y, reset: bool = True) -> Any:
    """scikit-learn's input validation (sets/checks ``n_features_in_``); 2-D numeric X.
    ``y=None`` is refused with scikit-learn's message (a supervised fit needs y)."""
    try:  # scikit-learn >= 1.6
        from sklearn.utils.validation import validate_data
    except ImportError:  # pragma: no cover - older scikit-learn
        def validate_data(est: Any, X: Any, y: Any = "no_validation", **kw: Any) -> Any:
            return est._validate_data(X, y, **kw)
    if isinstance(y, str) and y == _NO_Y:
        return validate_data(estimator, X, reset=reset)
    return validate_data(estimator, X, y, reset=reset, multi_output=True, y_numeric=False)


def _check_model(model: Any) -> None:
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a fastff model (Sequential or Model), or a callable "
                        f"returning one, got {type(model).__name__}")
    if model.optimizer is None or model.loss is None:
        raise RuntimeError("model: the model must be compiled with a loss and an optimizer "
                           "(call model.compile(optimizer=..., loss=...))")


class SKLBase(BaseEstimator):
    """Shared ``fit``/``predict`` of the wrappers (Keras's ``SKLBase``).

    Attributes after ``fit``: ``model_`` (the fitted model), ``history_`` (the ``History``
    dict of the last ``fit``), ``n_features_in_``.
    """

    def __init__(self, model: Any, warm_start: bool = False,
                 model_kwargs: dict | None = None, fit_kwargs: dict | None = None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    def __sklearn_clone__(self) -> SKLBase:
        # the model (instance or callable) is shared: fit never trains the one given
        return type(self)(**self.get_params(deep=False))

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        return {k: _PickledModel(v) if isinstance(v, Sequential) else v
                for k, v in state.items()}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__({k: v.restore() if isinstance(v, _PickledModel) else v
                              for k, v in state.items()})

    def _get_model(self, X: np.ndarray, y: np.ndarray) -> Sequential:
        if self.warm_start and hasattr(self, "model_"):
            return self.model_
        if isinstance(self.model, Sequential):
            return clone_model(self.model)
        if not callable(self.model):
            raise TypeError(f"model: expected a fastff model or a callable returning one, got "
                            f"{type(self.model).__name__}")
        return self.model(X=X, y=y, **(self.model_kwargs or {}))

    def fit(self, X: Any, y: Any, **kwargs: Any) -> SKLBase:
        """Fit (a clone of) the model; ``kwargs`` go to ``model.fit`` and override
        ``fit_kwargs``."""
        X, y = _validate_data(self, X, y, reset=True)
        y = self._process_target(y, reset=True)
        model = self._get_model(X, y)
        _check_model(model)
        history = model.fit(X, y, **{**(self.fit_kwargs or {}), **kwargs})
        self.history_ = dict(getattr(history, "history", {}) or {})
        self.model_ = model
        return self

    def _predict_raw(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False)
        return self.model_.predict(X, verbose=0)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions for ``X`` (labels for the classifier)."""
        return self._reverse_process_target(self._predict_raw(X))

    # regressors and transformers: 1-D targets train as (n, 1) and predict back as (n,)
    def _process_target(self, y: np.ndarray, reset: bool = False) -> np.ndarray:
        type_of_target(y, raise_unknown=True)
        if reset:
            self._y_ndim = np.ndim(y)
        return np.reshape(y, (-1, 1)) if np.ndim(y) == 1 else y

    def _reverse_process_target(self, y: np.ndarray) -> np.ndarray:
        return y[:, 0] if self._y_ndim == 1 and y.ndim == 2 and y.shape[1] == 1 else y


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A scikit-learn classifier around a fastff model (Keras's ``SKLearnClassifier``).

    The targets are one-hot encoded (binary and multiclass targets; ``classes_`` holds the
    sorted labels), so the model outputs ``len(classes_)`` columns, typically a softmax
    trained with ``categorical_crossentropy``. ``predict`` returns the label of the largest
    output, ``predict_proba`` the model's outputs.
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags

    def _process_target(self, y: np.ndarray, reset: bool = False) -> np.ndarray:
        kind = type_of_target(y, raise_unknown=True)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"y: only binary and multiclass targets are supported, got a "
                             f"{kind!r} target")
        y = column_or_1d(y, warn=True)  # (n, 1) → (n,) with scikit-learn's warning
        col = y.reshape(-1, 1)
        if reset:
            self.classes_ = np.unique(y)
            if len(self.classes_) == 1:
                raise ValueError("y: the classifier cannot train when only one class is "
                                 f"present ({self.classes_[0]!r})")
            self._target_encoder = OneHotEncoder(sparse_output=False).fit(col)
        return self._target_encoder.transform(col)

    def _reverse_process_target(self, y: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(y, axis=1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """The model's outputs for ``X``: one column per class of ``classes_``."""
        return self._predict_raw(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores in scikit-learn's layout: the model's outputs, one column per class; with
        two classes the 1-D ``out[:, 1] - out[:, 0]`` (positive means ``classes_[1]``, the
        class ``predict`` picks)."""
        out = self._predict_raw(X)
        return out[:, 1] - out[:, 0] if len(self.classes_) == 2 else out


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A scikit-learn regressor around a fastff model (Keras's ``SKLearnRegressor``).

    A 1-D ``y`` trains as one output column and ``predict`` returns a 1-D array again; a
    2-D ``y`` trains one output per column.
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        tags.target_tags.multi_output = True
        return tags


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A scikit-learn transformer around a fastff model (Keras's ``SKLearnTransformer``):
    ``fit`` trains the model on ``(X, y)``, ``transform`` is ``model_.predict``."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags

    def transform(self, X: Any) -> np.ndarray:
        """The fitted model's outputs for ``X``."""
        return self._predict_raw(X)
