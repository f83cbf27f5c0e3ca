"""Data-parallel training over MPI (``fastff.distribution``), run for real with ``mpirun -n 2``.

One ``mpirun`` job (tests/_distribution_worker.py) does all the fits, so the MPI start-up is
paid once; the tests below read its results. Skipped only when ``mpirun`` or ``mpi4py`` is absent.
Every subprocess has a timeout, so a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
MPIRUN = shutil.which("mpirun")
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    MPIRUN is None or not HAVE_MPI4PY,
    reason="needs Open MPI's mpirun (apt-get install openmpi-bin libopenmpi-dev) and mpi4py "
           "(pip install 'fastff[mpi]')")

_ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "OMPI_MCA_rmaps_base_oversubscribe": "1", "NUMBA_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}


def mpirun(n: int, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [MPIRUN, "-n", str(n), "--oversubscribe", sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_ENV)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The results of the worker's 2-rank job: (rank 0 json, rank 1 json, output dir)."""
    out = tmp_path_factory.mktemp("dp")
    r = mpirun(2, str(HERE / "_distribution_worker.py"), str(out), timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    res = [json.loads((out / f"result-{k}.json").read_text()) for k in (0, 1)]
    return res[0], res[1], out


@needs_mpi
@pytest.mark.parametrize("name", ["sgd", "adam", "adam_weighted", "rmsprop", "adam_clipnorm"])
def test_two_ranks_match_one_process(job, name):
    """Global batch 25 over 2 ranks (13 + 12 rows; a final batch of 12 = 6 + 6) gives the
    weights, optimizer state, History and evaluate() of one process with batch 25 - with the
    optimizer sharded across the ranks (sgd, adam, rmsprop) or not (clipnorm)."""
    r0, r1, _ = job
    ref = r0["reference"][name]
    np.testing.assert_allclose(r0[name]["weights"], ref["weights"], rtol=0, atol=1e-10)
    assert r0[name]["weights"] == r1[name]["weights"]  # the ranks hold bitwise one model
    assert r0[name]["optimizer"] == r1[name]["optimizer"]  # the state gathered whole
    assert r0[name]["optimizer"].keys() == ref["optimizer"].keys()
    for key, values in ref["optimizer"].items():
        np.testing.assert_allclose(r0[name]["optimizer"][key], values, rtol=1e-9, atol=1e-12)
    for key, values in ref["history"].items():
        np.testing.assert_allclose(r0[name]["history"][key], values, rtol=1e-10, atol=1e-12)
    for key, value in ref["evaluate"].items():
        assert r0[name]["evaluate"][key] == pytest.approx(value, rel=1e-10, abs=1e-12)


@needs_mpi
@pytest.mark.parametrize("reduction", ["sum", "mean_with_sample_weight"])
def test_loss_reductions_weight_each_part_as_the_whole(job, reduction):
    """With sample weights, ``sum`` and ``mean_with_sample_weight`` scale a batch by its rows
    and weight sum: each rank's part is scaled by the global batch's, so two ranks train the
    one-process model, and History (validation included) and evaluate() are the one-process
    values."""
    r0, r1, _ = job
    got, ref = r0[f"adam_{reduction}"], r0["reference"][f"adam_{reduction}"]
    np.testing.assert_allclose(got["weights"], ref["weights"], rtol=0, atol=1e-10)
    for key, values in ref["history"].items():
        np.testing.assert_allclose(got["history"][key], values, rtol=1e-10, atol=1e-12)
    for key, value in ref["evaluate"].items():
        assert got["evaluate"][key] == pytest.approx(value, rel=1e-10, abs=1e-12)
    assert got == r1[f"adam_{reduction}"]
    assert ref["history"]["loss"] != r0["reference"]["adam_weighted"]["history"][
        "loss"]  # the reduction matters here


@needs_mpi
def test_sharded_optimizer_matches_full_updates(job):
    """Each rank updating its slice (Reduce_scatter + Allgatherv) = one Allreduce and a full
    update on every rank."""
    r0, r1, _ = job
    np.testing.assert_allclose(r0["adam"]["weights"], r0["adam_unsharded"]["weights"],
                               rtol=0, atol=1e-12)
    assert r1["adam_unsharded"]["weights"] == r0["adam_unsharded"]["weights"]


@needs_mpi
def test_row_sparse_embedding_matches_one_process(job):
    """Lazy Adam row updates: each rank touches other rows; all update their union."""
    r0, r1, _ = job
    ref = r0["reference"]["embedding"]
    assert r0["embedding"]["sparse"]
    np.testing.assert_allclose(r0["embedding"]["weights"], ref["weights"], rtol=0, atol=1e-10)
    assert r0["embedding"] == r1["embedding"]
    np.testing.assert_allclose(r0["embedding"]["history"]["loss"], ref["history"]["loss"],
                               rtol=1e-10)


@needs_mpi
def test_train_on_batch_takes_the_global_batch(job):
    r0, r1, _ = job
    ref = r0["reference"]["train_on_batch"]
    np.testing.assert_allclose(r0["train_on_batch"]["weights"], ref["weights"], atol=1e-10)
    assert r0["train_on_batch"] == r1["train_on_batch"]
    for got, want in zip(r0["train_on_batch"]["logs"], ref["logs"]):
        assert got == pytest.approx(want, rel=1e-10)


@needs_mpi
def test_metrics_aggregated_identically_on_every_rank(job):
    r0, r1, _ = job
    for name in ("sgd", "adam", "adam_weighted"):
        assert r0[name]["history"] == r1[name]["history"]
        assert r0[name]["evaluate"] == r1[name]["evaluate"]
        assert set(r0[name]["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}


@needs_mpi
def test_dropout_reproducible_and_salted_by_rank(job):
    r0, r1, _ = job
    assert r0["dropout_repeat_diff"] == 0.0 and r1["dropout_repeat_diff"] == 0.0
    assert r0["dropout_seed"] == r0["reference_dropout_seed"]  # rank 0 keeps the saved seed
    assert r1["dropout_seed"] != r0["dropout_seed"]


@needs_mpi
def test_stop_training_is_collective(job):
    """stop_training set on one rank only (epoch end, or mid-epoch) stops every rank."""
    r0, r1, _ = job
    assert r0["stop_epochs"] == r1["stop_epochs"] == 1
    assert r0["stop_batch_epochs"] == r1["stop_batch_epochs"] == 1


@needs_mpi
def test_only_rank_zero_writes(job):
    _, _, out = job
    assert sorted(p.name for p in (out / "mpi-rank0").iterdir()) == ["ckpt-1.fastff",
                                                                     "ckpt-2.fastff"]
    assert not (out / "mpi-rank1").exists() or not any((out / "mpi-rank1").iterdir())
    assert (out / "mpi-log-0.csv").exists() and not (out / "mpi-log-1.csv").exists()


@needs_mpi
def test_resume_with_another_rank_count(job):
    """A 2-rank checkpoint after epoch 1, resumed in one process, ends where an uninterrupted
    one-process run ends (the global batch makes the rank count invisible)."""
    import fastff

    sys.path.insert(0, str(HERE))
    try:
        from _distribution_worker import data
    finally:
        sys.path.remove(str(HERE))
    _, _, out = job
    x, y, _ = data()
    model = fastff.models.load_model(out / "mpi-rank0" / "ckpt-1.fastff")
    model.fit(x, y, batch_size=25, epochs=2, initial_epoch=1, verbose=0, validation_split=0.2)
    ref = fastff.models.load_model(out / "single-rank0" / "ckpt-2.fastff")
    np.testing.assert_allclose(model.params, ref.params, rtol=0, atol=1e-10)


FAILING = textwrap.dedent("""
    import numpy as np
    import fastff
    from fastff import callbacks, distribution, layers

    distribution.set_distribution(distribution.DataParallel())

    class Boom(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if distribution.rank() == 1:
                raise RuntimeError("disk full on rank one")

    m = fastff.Sequential([layers.Input((4,)), layers.Dense(2, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy")
    x = np.zeros((64, 4), dtype="float32")
    y = np.zeros(64, dtype="int64")
    m.fit(x, y, batch_size=8, epochs=100000, verbose=0, callbacks=[Boom()])
""")


@needs_mpi
def test_failing_rank_aborts_the_job(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    t0 = time.monotonic()
    r = mpirun(2, str(script), timeout=60)
    assert r.returncode != 0
    assert time.monotonic() - t0 < 60
    text = r.stdout + r.stderr
    assert "rank 1 of 2 raised RuntimeError: disk full on rank one" in text, text
    assert "MPI_Abort" in text


THREE_RANKS = """
import sys
sys.path.insert(0, {tests!r})
import numpy as np
import fastff
from fastff import distribution
import _distribution_worker as w

d = distribution.DataParallel()
distribution.set_distribution(d)
m, _, _ = w.train("adam")
state = m.optimizer.get_state()
distribution.set_distribution(None)
every = d.comm.gather(m.params.copy(), root=0)
if d.rank == 0:
    ref, _, _ = w.train("adam")
    ref_state = ref.optimizer.get_state()
    print("weights", float(np.abs(m.params - ref.params).max()))
    print("state", max(float(np.abs(state[k] - ref_state[k]).max()) for k in ref_state))
    print("identical", all(np.array_equal(every[0], p) for p in every))
"""


@needs_mpi
def test_three_ranks_match_one_process(tmp_path):
    """The ring reduce-scatter and the slice bounds for N > 2 (batch 25 = 9 + 8 + 8 rows, a
    final batch of 12 = 4 + 4 + 4): 3 ranks end where 1 process does, holding one model."""
    script = tmp_path / "three.py"
    script.write_text(THREE_RANKS.format(tests=str(HERE)))
    r = mpirun(3, str(script), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    got = dict(line.split(maxsplit=1) for line in r.stdout.splitlines()
               if line.split(maxsplit=1)[:1] in (["weights"], ["state"], ["identical"]))
    assert float(got["weights"]) < 1e-10 and float(got["state"]) < 1e-10
    assert got["identical"] == "True"


def test_clear_error_without_mpi4py():
    """Without mpi4py the rest of fastff works and DataParallel names what is missing."""
    code = textwrap.dedent("""
        import sys
        sys.modules["mpi4py"] = None  # as if mpi4py were not installed
        import numpy as np
        import fastff
        from fastff import distribution, layers
        assert distribution.get_distribution() is None and distribution.is_chief()
        m = fastff.Sequential([layers.Input((3,)), layers.Dense(1)])
        m.compile("sgd", "mse")
        m.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0)
        try:
            distribution.DataParallel()
        except distribution.MissingMPIError as e:
            assert isinstance(e, ImportError)
            print("ERROR:", e)
        else:
            raise SystemExit("no error")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pip install 'fastff[mpi]'" in r.stdout


def test_set_distribution_rejects_other_objects():
    from fastff import distribution

    with pytest.raises(TypeError, match="DataParallel"):
        distribution.set_distribution("data_parallel")
    assert distribution.get_distribution() is None
