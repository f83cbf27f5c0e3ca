"""MPI fault injection under ``mpirun -n 2``: no failure hangs the job.

Every job runs with ``FASTFF_DISTRIBUTED_TIMEOUT=3`` (the collective watchdog) and a subprocess
timeout, so a hang fails the test instead of stalling the suite. Covered: ranks that disagree
on the model, the optimizer, ``fit``'s settings or the evaluation data (the same clear
``ValueError`` on every rank, before anything is exchanged); a rank that leaves ``fit`` early
by ``sys.exit``, ``os._exit``, SIGKILL, or by catching an exception and carrying on; ranks
holding different numbers of rows (different step counts). See docs/distributed.md.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MPIRUN = shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(
    MPIRUN is None or importlib.util.find_spec("mpi4py") is None,
    reason="needs Open MPI's mpirun and mpi4py (pip install 'fastff[mpi]')")
_ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "OMPI_MCA_rmaps_base_oversubscribe": "1", "NUMBA_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent),
        "FASTFF_DISTRIBUTED_TIMEOUT": "3"}


def mpirun(n: int, script: str, timeout: float) -> subprocess.CompletedProcess:
    cmd = [MPIRUN, "-n", str(n), "--oversubscribe", sys.executable, script]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_ENV)

PRELUDE = """
import os, signal, sys, time
import numpy as np
import fastff
from fastff import callbacks, distribution, layers

dist = distribution.DataParallel()
distribution.set_distribution(dist)
rank = dist.rank


def model(units=2, lr=0.01):
    fastff.config.set_seed(0)
    m = fastff.Sequential([layers.Input((4,)), layers.Dense(units, activation="softmax")])
    m.compile(fastff.optimizers.SGD(learning_rate=lr), "sparse_categorical_crossentropy")
    return m


x = np.zeros((64, 4), dtype="float32")
y = np.zeros(64, dtype="int64")
"""

AGREEMENT = PRELUDE + """
def attempt(label, fn):
    try:
        fn()
    except ValueError as e:
        print(f"rank {rank} {label}: {e}", flush=True)
    else:
        print(f"rank {rank} {label}: no error", flush=True)


attempt("units", lambda: model(units=2 + rank).fit(x, y, epochs=1, verbose=0))
attempt("lr", lambda: model(lr=0.01 * (1 + rank)).fit(x, y, epochs=1, verbose=0))
attempt("settings", lambda: dist.setup_fit(model(), rows=480 + 32 * rank, batch_size=32))
attempt("evaluate", lambda: model().evaluate(x[: 60 + rank], y[: 60 + rank], verbose=0))
n = 64 - 4 * rank  # 8 steps of 8 rows on both ranks, but a last batch of 8 against 4
attempt("rows", lambda: model().fit(x[:n], y[:n], batch_size=8, verbose=0))
w = np.full(64, 1.0 + rank)
attempt("weights", lambda: model().fit(x, y, sample_weight=w, batch_size=8, verbose=0))
m = model()
m.fit(x, y, epochs=1, verbose=0)  # the ranks still work together afterwards
print(f"rank {rank} done", flush=True)
"""


@needs_mpi
def test_disagreeing_ranks_get_the_same_clear_error(tmp_path):
    """Different layer sizes, learning rates, fit settings, evaluation rows, training rows (same
    step count) or sample weights: every rank
    raises a ValueError naming what differs and each rank's value; nothing hangs, and the
    ranks can go on together once they agree."""
    script = tmp_path / "agree.py"
    script.write_text(AGREEMENT)
    r = mpirun(2, str(script), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for rank in (0, 1):
        assert (f"rank {rank} units: fit: the ranks disagree on layers (type, parameters) "
                f"(rank 0: [('Dense', 10)]; rank 1: [('Dense', 15)])") in out, out
        assert f"rank {rank} lr: fit: the ranks disagree on optimizer" in out, out
        assert "'learning_rate': 0.01," in out and "'learning_rate': 0.02," in out
        assert (f"rank {rank} settings: fit: the ranks disagree on rows (rank 0: 480; "
                "rank 1: 512)") in out, out
        assert (f"rank {rank} evaluate: evaluate: the ranks disagree on x shape "
                "(rank 0: (60, 4); rank 1: (61, 4))") in out, out
        assert (f"rank {rank} rows: fit: the ranks disagree on the training data since the "
                "last epoch (rows from 60 to 64 across the ranks)") in out, out
        assert (f"rank {rank} weights: fit: the ranks disagree on the training data since the "
                "last epoch (sample-weight sum from 64 to 128 across the ranks)") in out, out
        assert f"rank {rank} done" in out


FAULTS = {
    # rank 1 leaves fit mid-epoch in several ways; rank 0 is then alone in a collective
    "sys_exit": "sys.exit(3)",
    "os_exit": "os._exit(0)",
    "sigkill": "os.kill(os.getpid(), signal.SIGKILL)",
    "returns_early": "raise RuntimeError('caught below')",
}

LEAVING = PRELUDE + """
class Leave(callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if rank == 1 and batch == 3:
            {action}


try:
    model().fit(x, y, batch_size=8, epochs=1000, verbose=0, callbacks=[Leave()])
except RuntimeError:
    time.sleep(60)  # rank 1 caught it and does something else, never coming back
"""


@needs_mpi
@pytest.mark.parametrize("fault", FAULTS)
def test_a_rank_leaving_fit_ends_the_job(tmp_path, fault):
    script = tmp_path / f"{fault}.py"
    script.write_text(LEAVING.replace("{action}", FAULTS[fault]))
    t0 = time.monotonic()
    r = mpirun(2, str(script), timeout=90)
    elapsed = time.monotonic() - t0
    assert r.returncode != 0, r.stdout + r.stderr
    assert elapsed < 60
    text = r.stdout + r.stderr
    if fault != "sigkill" and fault != "os_exit":  # (Open MPI itself may end those first)
        assert "fastff.distribution: rank 0 of 2 waited" in text, text
        assert "aborting all ranks (MPI_Abort)" in text


ROWS = PRELUDE + """
n = 64 if rank == 0 else 56  # 8 steps of 8 rows against 7
model().fit(x[:n], y[:n], batch_size=8, epochs=3, verbose=0)
print("finished", flush=True)
"""


@needs_mpi
def test_ranks_with_different_row_counts_do_not_hang(tmp_path):
    """Until fit passes its row and step counts to ``setup_fit``, the watchdog ends the job."""
    script = tmp_path / "rows.py"
    script.write_text(ROWS)
    r = mpirun(2, str(script), timeout=90)
    assert r.returncode != 0 and "finished" not in r.stdout, r.stdout + r.stderr
    assert "waited" in r.stderr and "MPI_Abort" in r.stderr


def test_timeout_setting_is_checked(monkeypatch):
    from fastff.distribution import data_parallel

    monkeypatch.setenv(data_parallel.TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="FASTFF_DISTRIBUTED_TIMEOUT: expected a number"):
        data_parallel._default_timeout()
    monkeypatch.setenv(data_parallel.TIMEOUT_ENV, "-1")
    with pytest.raises(ValueError, match="FASTFF_DISTRIBUTED_TIMEOUT"):
        data_parallel._default_timeout()
    monkeypatch.setenv(data_parallel.TIMEOUT_ENV, "0")
    assert data_parallel._default_timeout() is None
    monkeypatch.delenv(data_parallel.TIMEOUT_ENV)
    assert data_parallel._default_timeout() == data_parallel.DEFAULT_TIMEOUT
