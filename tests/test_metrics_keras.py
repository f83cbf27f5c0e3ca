"""Metrics against scikit-learn and Keras's documented examples: confusion-matrix metrics,
AUC, F-scores, top-k, regression metrics, streaming, names, configs, and compile/fit/evaluate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

import fastff
from fastff import layers as L
from fastff import metrics as M

RNG = np.random.default_rng(7)
N = 300
Y_BIN = RNG.integers(0, 2, N)
P_BIN = np.clip(0.35 * Y_BIN + 0.65 * RNG.random(N), 0, 1)
W = RNG.random(N) + 0.1
K = 5
Y_CLS = RNG.integers(0, K, N)
S_CLS = RNG.random((N, K)) + 0.6 * np.eye(K)[Y_CLS]


def _result(metric, *args, **kwargs):
    metric.update_state(*args, **kwargs)
    return metric.result()


def _streamed(make, y, p, w=None, cuts=(0, 37, 38, 200, N)):
    m = make()
    for s, e in zip(cuts[:-1], cuts[1:]):
        m.update_state(y[s:e], p[s:e], None if w is None else w[s:e])
    return m.result()


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_precision_recall_match_sklearn(threshold):
    pred = (P_BIN > threshold).astype(int)
    for cls, sk in ((M.Precision, skm.precision_score), (M.Recall, skm.recall_score)):
        got = _result(cls(thresholds=threshold), Y_BIN, P_BIN)
        assert got == pytest.approx(sk(Y_BIN, pred), abs=1e-12)
        got_w = _result(cls(thresholds=threshold), Y_BIN, P_BIN, sample_weight=W)
        assert got_w == pytest.approx(sk(Y_BIN, pred, sample_weight=W), abs=1e-12)
        assert _streamed(lambda c=cls: c(thresholds=threshold), Y_BIN, P_BIN, W) == \
            pytest.approx(got_w, abs=1e-12)


def test_precision_several_thresholds_class_id_and_top_k():
    got = _result(M.Precision(thresholds=[0.2, 0.5, 0.8]), Y_BIN, P_BIN)
    want = [skm.precision_score(Y_BIN, P_BIN > t) for t in (0.2, 0.5, 0.8)]
    np.testing.assert_allclose(got, want, atol=1e-12)
    onehot = np.eye(K)[Y_CLS]
    probs = S_CLS / S_CLS.sum(1, keepdims=True)
    got = _result(M.Recall(class_id=2), onehot, probs)
    assert got == pytest.approx(skm.recall_score(Y_CLS == 2, probs[:, 2] > 0.5), abs=1e-12)
    # top_k=1: precision of the argmax class against one-hot labels = accuracy
    got = _result(M.Precision(top_k=1), onehot, probs)
    assert got == pytest.approx(np.mean(np.argmax(probs, 1) == Y_CLS), abs=1e-12)
    # Keras's docstring examples
    assert _result(M.Precision(top_k=2), [0, 0, 1, 1], [1, 1, 1, 1]) == 0.0
    assert _result(M.Precision(top_k=4), [0, 0, 1, 1], [1, 1, 1, 1]) == 0.5


def test_confusion_counts():
    pred = P_BIN > 0.5
    tn, fp, fn, tp = skm.confusion_matrix(Y_BIN, pred, sample_weight=W).ravel()
    for cls, want in ((M.TruePositives, tp), (M.FalsePositives, fp), (M.TrueNegatives, tn),
                      (M.FalseNegatives, fn)):
        assert _result(cls(), Y_BIN, P_BIN, sample_weight=W) == pytest.approx(want, rel=1e-12)


def test_auc_roc_matches_sklearn_within_bucketing():
    exact = skm.roc_auc_score(Y_BIN, P_BIN)
    assert _result(M.AUC(), Y_BIN, P_BIN) == pytest.approx(exact, abs=5e-3)
    fine = _result(M.AUC(num_thresholds=20001), Y_BIN, P_BIN)
    assert fine == pytest.approx(exact, abs=2e-4)
    exact_w = skm.roc_auc_score(Y_BIN, P_BIN, sample_weight=W)
    assert _result(M.AUC(num_thresholds=20001), Y_BIN, P_BIN, sample_weight=W) == \
        pytest.approx(exact_w, abs=2e-4)
    assert _streamed(lambda: M.AUC(), Y_BIN, P_BIN, W) == pytest.approx(
        _result(M.AUC(), Y_BIN, P_BIN, sample_weight=W), abs=1e-12)


def test_auc_pr_and_keras_examples():
    ap = skm.average_precision_score(Y_BIN, P_BIN)
    assert _result(M.AUC(curve="PR", num_thresholds=2001), Y_BIN, P_BIN) == \
        pytest.approx(ap, abs=2e-2)
    # the docstring example: thresholds [0-ε, 0.5, 1+ε]
    assert _result(M.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == 0.75
    assert _result(M.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9],
                   sample_weight=[1, 0, 0, 1]) == 1.0
    logits = np.log(P_BIN + 1e-9) - np.log1p(-P_BIN + 1e-9)
    assert _result(M.AUC(from_logits=True), Y_BIN, logits) == pytest.approx(
        _result(M.AUC(), Y_BIN, P_BIN), abs=2e-3)


def test_auc_multi_label_averages_labels():
    y = RNG.integers(0, 2, (N, 3))
    p = np.clip(0.4 * y + 0.6 * RNG.random((N, 3)), 0, 1)
    got = _result(M.AUC(multi_label=True, num_thresholds=20001), y, p)
    want = np.mean([skm.roc_auc_score(y[:, j], p[:, j]) for j in range(3)])
    assert got == pytest.approx(want, abs=3e-4)


def test_at_value_metrics_keras_examples():
    y, p = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    assert _result(M.PrecisionAtRecall(0.5), y, p) == pytest.approx(0.5)
    assert _result(M.PrecisionAtRecall(0.5), y, p, sample_weight=[2, 2, 2, 1, 1]) == \
        pytest.approx(1 / 3)
    assert _result(M.SensitivityAtSpecificity(0.5), y, p) == pytest.approx(0.5)
    assert _result(M.SpecificityAtSensitivity(0.5), y, p) == pytest.approx(2 / 3)
    assert _result(M.RecallAtPrecision(0.8), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == 0.5


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f_scores_match_sklearn(average):
    onehot = np.eye(K)[Y_CLS]
    pred = np.argmax(S_CLS, 1)
    want = skm.f1_score(Y_CLS, pred, average=average)
    np.testing.assert_allclose(_result(M.F1Score(average=average), onehot, S_CLS), want,
                               atol=1e-6)
    want_b = skm.fbeta_score(Y_CLS, pred, beta=2.0, average=average, sample_weight=W)
    got_b = _streamed(lambda: M.FBetaScore(average=average, beta=2.0), onehot, S_CLS, W)
    np.testing.assert_allclose(got_b, want_b, atol=1e-6)
    # multi-label with a threshold
    y = RNG.integers(0, 2, (N, 3))
    p = RNG.random((N, 3))
    np.testing.assert_allclose(_result(M.F1Score(average=average, threshold=0.5), y, p),
                               skm.f1_score(y, p > 0.5, average=average), atol=1e-6)


def test_f_score_arguments():
    with pytest.raises(ValueError, match="average"):
        M.F1Score(average="samples")
    with pytest.raises(ValueError, match="beta"):
        M.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="threshold"):
        M.F1Score(threshold=1.5)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_match_sklearn(k):
    want = skm.top_k_accuracy_score(Y_CLS, S_CLS, k=k, labels=range(K))
    assert _result(M.SparseTopKCategoricalAccuracy(k=k), Y_CLS, S_CLS) == pytest.approx(want)
    assert _result(M.TopKCategoricalAccuracy(k=k), np.eye(K)[Y_CLS], S_CLS) == \
        pytest.approx(want)
    assert M.TopKCategoricalAccuracy().k == 5


def test_regression_metrics_match_sklearn():
    y = RNG.standard_normal((N, 3))
    p = y + 0.5 * RNG.standard_normal((N, 3))
    assert _result(M.MeanSquaredError(), y, p) == pytest.approx(skm.mean_squared_error(y, p))
    assert _result(M.MeanAbsoluteError(), y, p, sample_weight=W) == pytest.approx(
        skm.mean_absolute_error(y, p, sample_weight=W))
    assert _streamed(M.RootMeanSquaredError, y, p, W) == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, p, sample_weight=W)))
    for agg, sk in (("uniform_average", "uniform_average"),
                    ("variance_weighted_average", "variance_weighted"), (None, "raw_values")):
        np.testing.assert_allclose(_streamed(lambda a=agg: M.R2Score(class_aggregation=a), y, p),
                                   skm.r2_score(y, p, multioutput=sk), rtol=1e-10)
    assert _result(M.R2Score(), y, p, sample_weight=W) == pytest.approx(
        skm.r2_score(y, p, sample_weight=W))
    n, k = N * 3, 2
    r2 = skm.r2_score(y, p)
    assert _result(M.R2Score(num_regressors=k), y, p) == pytest.approx(
        1 - (1 - r2) * (n - 1) / (n - k - 1))
    yp, pp = np.abs(y) + 0.5, np.abs(p) + 0.5
    assert _result(M.MeanAbsolutePercentageError(), yp, pp) == pytest.approx(
        100 * skm.mean_absolute_percentage_error(yp, pp))
    assert _result(M.MeanSquaredLogarithmicError(), yp, pp) == pytest.approx(
        skm.mean_squared_log_error(yp, pp))


def test_keras_doc_values_of_loss_metrics():
    y, p = [[0, 1], [0, 0]], [[1, 1], [0, 0]]
    assert _result(M.LogCoshError(), y, p) == pytest.approx(0.10844523, abs=1e-7)
    assert _result(M.MeanSquaredLogarithmicError(), y, p, sample_weight=[1, 0]) == \
        pytest.approx(0.24022643, abs=1e-7)
    assert _result(M.RootMeanSquaredError(), y, p, sample_weight=[1, 0]) == \
        pytest.approx(0.70710677, abs=1e-7)
    assert _result(M.CosineSimilarity(axis=1), [[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]],
                   sample_weight=[0.3, 0.7]) == pytest.approx(0.7)
    q = np.array([[0.3, 0.7], [0.6, 0.4]])
    t = np.array([[0.2, 0.8], [0.5, 0.5]])
    want = np.mean(np.sum(t * np.log(t / q), 1))
    assert _result(M.KLDivergence(), t, q) == pytest.approx(want)


def test_mean_and_sum():
    assert _result(M.Mean(), [1, 3, 5, 7]) == 4.0
    assert _result(M.Mean(), [1, 3, 5, 7], sample_weight=[1, 1, 0, 0]) == 2.0
    assert _result(M.Sum(), [1, 3, 5, 7], sample_weight=[1, 1, 0, 0]) == 4.0
    m = M.Mean()
    m.update_state([[1.0, 2.0], [3.0, 4.0]])  # two samples, each the mean of its row
    assert m.count == 2 and m.result() == 2.5
    m.reset_state()
    assert m.result() == 0.0


def test_names_strings_and_configs():
    fastff.utils.clear_session()
    assert [M.AUC().name, M.AUC().name, M.Precision().name] == ["auc", "auc_1", "precision"]
    fastff.utils.clear_session()
    assert M.AUC().name == "auc"
    for key, cls in (("precision", M.Precision), ("recall", M.Recall), ("auc", M.AUC),
                     ("top_k_categorical_accuracy", M.TopKCategoricalAccuracy),
                     ("mse", M.MeanSquaredError), ("root_mean_squared_error",
                                                    M.RootMeanSquaredError),
                     ("r2_score", M.R2Score), ("f1_score", M.F1Score), ("AUC", M.AUC)):
        m = M.get(key)
        assert type(m) is cls and m.name == key
    for m in (M.AUC(curve="PR", num_thresholds=50, name="pr"), M.Precision(thresholds=[0.3, 0.6]),
              M.F1Score(average="macro", threshold=0.4), M.R2Score(num_regressors=2),
              M.TopKCategoricalAccuracy(k=3), M.AUC(thresholds=[0.1, 0.5, 0.9]),
              M.SparseTopKCategoricalAccuracy(k=2)):
        clone = M.deserialize(M.serialize(m))
        assert type(clone) is type(m) and clone.get_config() == m.get_config()
    with pytest.raises(ValueError, match="thresholds"):
        M.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="curve"):
        M.AUC(curve="ROCK")


def test_nan_predictions_give_nan():
    p = P_BIN.copy()
    p[3] = np.nan
    assert np.isnan(_result(M.AUC(), Y_BIN, p))
    assert np.isnan(_result(M.Precision(), Y_BIN, p))


def _binary_model():
    fastff.utils.set_random_seed(3)
    model = fastff.Sequential([L.Input((4,)), L.Dense(8, activation="relu"),
                               L.Dense(1, activation="sigmoid")])
    return model


def test_compile_fit_evaluate_history_keys_and_values():
    fastff.utils.clear_session()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.standard_normal(120) > 0).astype(float)
    model = _binary_model()
    model.compile("adam", "binary_crossentropy",
                  metrics=["accuracy", M.Precision(), M.AUC(), "recall"])
    hist = model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_split=0.25)
    # Keras 3's order: sorted training keys, then sorted val_ keys
    assert list(hist.history) == ["accuracy", "auc", "loss", "precision", "recall",
                                  "val_accuracy", "val_auc", "val_loss", "val_precision",
                                  "val_recall"]
    logs = model.evaluate(x, y, batch_size=17, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0]
    assert logs["accuracy"] == pytest.approx(np.mean((p > 0.5) == y))
    assert logs["precision"] == pytest.approx(skm.precision_score(y, p > 0.5, zero_division=0))
    assert logs["recall"] == pytest.approx(skm.recall_score(y, p > 0.5))
    assert logs["auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=5e-3)
    assert logs["auc"] == pytest.approx(_result(M.AUC(), y, p), abs=1e-12)


def test_accuracy_string_follows_keras_for_other_losses():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 4))
    y = (x[:, 0] > 0).astype(float)
    model = _binary_model()
    model.compile("adam", "binary_focal_crossentropy", metrics=["accuracy"])
    assert type(model._new_metrics()[0]) is M.BinaryAccuracy
    model.compile("adam", "mse", metrics=["acc"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0]
    assert logs["acc"] == pytest.approx(np.mean((p > 0.5) == y))  # binary: one output column
    shape_acc = M.get("accuracy", fastff.losses.get("mse"))
    labels = np.array([2, 0, 1])
    scores = np.eye(3)[[2, 1, 1]]
    assert _result(shape_acc, labels, scores) == pytest.approx(2 / 3)  # sparse: lower rank


def _softmax_model(seed=0):
    fastff.utils.set_random_seed(seed)
    return fastff.Sequential([L.Input((4,)), L.Dense(3, activation="softmax")])


def test_duplicate_names_and_array_results_in_history_as_keras(tmp_path):
    """Keras 3 names a repeated metric ``accuracy_1``; an array result (F1Score with
    average=None) stays an array in the logs and History."""
    fastff.utils.clear_session()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 4))
    y = rng.integers(0, 3, 60)
    onehot = np.eye(3)[y]
    model = _softmax_model()
    model.compile("adam", "categorical_crossentropy",
                  metrics=["accuracy", M.F1Score(average=None), "accuracy", "accuracy"])
    assert model.metrics_names == ["loss", "compile_metrics"]  # Keras 3's
    csv = tmp_path / "log.csv"
    hist = model.fit(x, onehot, epochs=2, verbose=0, validation_data=(x, onehot),
                     callbacks=[fastff.callbacks.CSVLogger(str(csv))])
    assert list(hist.history) == ["accuracy", "accuracy_1", "accuracy_2", "f1_score", "loss",
                                  "val_accuracy", "val_accuracy_1", "val_accuracy_2",
                                  "val_f1_score", "val_loss"]
    f1 = hist.history["val_f1_score"][-1]
    assert isinstance(f1, np.ndarray) and f1.shape == (3,)
    pred = model.predict(x, verbose=0).argmax(1)
    np.testing.assert_allclose(f1, skm.f1_score(y, pred, average=None, labels=[0, 1, 2]),
                               atol=1e-6)
    logs = model.evaluate(x, onehot, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["f1_score"], f1, atol=1e-12)
    assert logs["accuracy"] == logs["accuracy_1"] == pytest.approx(np.mean(pred == y))
    assert "f1_score" in csv.read_text().splitlines()[0]


def test_weighted_metrics_take_sample_weights_and_metrics_do_not():
    fastff.utils.clear_session()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 4))
    y = rng.integers(0, 3, 50)
    sw = rng.uniform(0.0, 2.0, 50)
    model = _softmax_model()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", M.SparseCategoricalAccuracy(name="acc")])
    assert model.metrics_names == ["loss", "compile_metrics"]
    logs = model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    hit = model.predict(x, verbose=0).argmax(1) == y
    assert logs["accuracy"] == pytest.approx(hit.mean())
    assert logs["weighted_accuracy"] == pytest.approx(np.sum(hit * sw) / sw.sum())
    assert logs["acc"] == logs["weighted_accuracy"]
    # without sample weights the weighted metric is the plain one
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["weighted_accuracy"] == logs["accuracy"]
    h = model.fit(x, y, sample_weight=sw, epochs=1, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "weighted_accuracy", "acc"}
    cfg = model.get_compile_config()
    assert cfg["weighted_metrics"][0] == "accuracy"
    clone = _softmax_model()
    clone.compile_from_config(cfg)
    assert clone.metrics_names == model.metrics_names


def test_weighted_name_collisions_follow_keras():
    from fastff.metrics.compiled import log_names

    assert log_names(["a", "a", "b"], ["a", "a", "c", "b"]) == \
        ["a", "a_1", "b", "weighted_a", "weighted_a_1", "c", "weighted_b"]
