"""``evaluate`` from several threads sharing the metric objects given to ``compile``.

Each call works on its own copy of every metric (``fastff._metric_copies``) and writes its
final state back at the end, so concurrent calls give exactly the serial results, and after
an ``evaluate`` the user's metric objects hold an evaluation's state (Keras semantics).
"""

from __future__ import annotations

import threading

import numpy as np

import fastff
from fastff import _metric_copies, config, layers, metrics


class _Hits(metrics.Metric):
    """A user metric keeping its state in ``add_variable`` variables (Keras 3 style)."""

    def __init__(self, name="hits"):
        super().__init__(name=name)
        self.hits = self.add_variable((), name="hits")
        self.seen = self.add_variable((), name="seen")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.hits.assign_add(float(np.sum(np.argmax(y_pred, -1) == np.asarray(y_true))))
        self.seen.assign_add(float(len(y_true)))

    def result(self):
        return self.hits / self.seen if float(self.seen) else 0.0



def _model():
    config.set_seed(0)
    model = fastff.Sequential([layers.Input((6,)), layers.Dense(16, activation="relu"),
                               layers.Dense(3, activation="softmax")])
    acc = metrics.SparseCategoricalAccuracy()
    top2 = metrics.SparseTopKCategoricalAccuracy(k=2)
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=[acc, top2, "accuracy", _Hits()])
    return model, acc, top2


def test_four_threads_evaluate_like_serial():
    model, acc, _ = _model()
    rng = np.random.default_rng(1)
    # different rows per data set, so mixed-up state would show in the results
    sets = [(rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n))
            for n in (5, 40, 77, 130)]
    serial = [model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True) for x, y in sets]
    assert acc.result() == serial[-1]["sparse_categorical_accuracy"]  # the user's object

    n_threads, rounds = 4, 20
    barrier = threading.Barrier(n_threads)
    failures: list[str] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            for r in range(rounds):
                i = (k + r) % len(sets)
                got = model.evaluate(*sets[i], batch_size=16, verbose=0, return_dict=True)
                if got != serial[i]:
                    failures.append(f"thread {k} round {r} set {i}: {got} != {serial[i]}")
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(f"thread {k}: {e!r}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:3]
    # the shared object holds the state of one whole evaluation, not a mixture
    assert float(acc.result()) in {s["sparse_categorical_accuracy"] for s in serial}
    assert acc.count in {float(len(y)) for _, y in sets}


def test_copies_own_their_state_and_write_back():
    auc = metrics.AUC(num_thresholds=5)
    auc.update_state([0, 1, 1], [0.2, 0.7, 0.4])
    before = auc.result()
    (twin,) = _metric_copies.private([auc])
    assert twin is not auc and twin.true_positives is not auc.true_positives
    assert float(twin.result()) == 0.0 and auc.result() == before  # the original untouched
    twin.update_state([1, 0], [0.9, 0.1])
    _metric_copies.write_back([auc], [twin])
    assert auc.result() == twin.result() == 1.0


def test_user_metric_variables_are_per_call_and_keep_their_identity():
    hits = _Hits()
    var = hits.hits
    (twin,) = _metric_copies.private([hits])
    assert twin.hits is not var and twin.variables[0] is twin.hits  # copied, still linked
    twin.update_state([0, 1], np.array([[1.0, 0.0], [1.0, 0.0]]))
    assert float(var) == 0.0  # the original untouched
    _metric_copies.write_back([hits], [twin])
    assert hits.hits is var and float(var) == 1.0 and float(hits.result()) == 0.5
    assert hits.variables == [hits.hits, hits.seen]
