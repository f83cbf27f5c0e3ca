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


def mpirun(n: int, script: str, timeout: float, watchdog: float = 3
           ) -> subprocess.CompletedProcess:
    cmd = [MPIRUN, "-n", str(n), "--oversubscribe", sys.executable, script]
    env = {**_ENV, "FASTFF_DISTRIBUTED_TIMEOUT": str(watchdog)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)

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
        assert (f"rank {rank} rows: fit: the ranks disagree on rows (rank 0: 64; "
                "rank 1: 60)") in out, out
        assert (f"rank {rank} weights: fit: the ranks disagree on the training data since the "
                "last epoch (sample-weight sum from 64 to 128 across the ranks)") in out, out
        assert f"rank {rank} done" in out


FAULTS = {
    # rank 1 leaves fit mid-epoch in several ways; rank 0 is then alone in a collective.
    # (hook, action, what rank 1 reports; None: the watchdog on rank 0 or mpirun ends it)
    "sys_exit": ("on_train_batch_end", "sys.exit(3)", "SystemExit: 3; leaving fit early"),
    "os_exit": ("on_train_batch_end", "os._exit(0)", None),
    "sigkill": ("on_train_batch_end", "os.kill(os.getpid(), signal.SIGKILL)", None),
    "returns_early": ("on_train_batch_end", "raise RuntimeError('caught below')",
                      "RuntimeError: caught below; leaving fit early"),
    "ctrl_c": ("on_train_batch_end", "os.kill(os.getpid(), signal.SIGINT)",
               "KeyboardInterrupt; leaving fit early"),
    "in_validation": ("on_test_batch_end", "raise RuntimeError('caught below')",
                      "RuntimeError: caught below; leaving fit early"),
}

LEAVING = PRELUDE + """
class Leave(callbacks.Callback):
    def {hook}(self, batch, logs=None):
        if rank == 1 and batch == 3:
            {action}


try:
    model().fit(x, y, batch_size=8, epochs=1000, verbose=0, callbacks=[Leave()],
                validation_data=(x, y), validation_batch_size=4)
except (RuntimeError, KeyboardInterrupt, SystemExit):
    time.sleep(60)  # rank 1 caught it and does something else, never coming back
"""


@needs_mpi
@pytest.mark.parametrize("fault", FAULTS)
def test_a_rank_leaving_fit_ends_the_job(tmp_path, fault):
    """A rank leaving by an exception (SystemExit, KeyboardInterrupt included), even one the
    script catches, aborts the job at once from that rank (the watchdog is set to 60 s, so a
    quick end shows it was not needed); a rank that vanishes is ended by the watchdog."""
    hook, action, reported = FAULTS[fault]
    script = tmp_path / f"{fault}.py"
    script.write_text(LEAVING.replace("{hook}", hook).replace("{action}", action))
    t0 = time.monotonic()
    r = mpirun(2, str(script), timeout=90, watchdog=3 if reported is None else 60)
    elapsed = time.monotonic() - t0
    assert r.returncode != 0, r.stdout + r.stderr
    assert elapsed < 50
    text = r.stdout + r.stderr
    if reported is not None:
        assert f"fastff.distribution: rank 1 of 2 raised {reported}" in text, text
        assert "aborting all ranks (MPI_Abort)" in text


ROWS = PRELUDE + """
n = 64 if rank == 0 else 56  # 8 steps of 8 rows against 7
try:
    model().fit(x[:n], y[:n], batch_size=8, epochs=3, verbose=0)
except ValueError as e:
    print(f"rank {rank}: {e}", flush=True)
m = model()
m.fit(x, y, batch_size=8, verbose=0, validation_data=(x[:10 + rank], y[:10 + rank]))
"""


@needs_mpi
def test_ranks_with_different_step_counts_fail_at_once(tmp_path):
    """fit passes its rows, steps and settings to ``setup_fit``: different step counts (or
    validation sets) are the same clear ValueError on every rank before the first step (the
    watchdog is 60 s: no timeout is involved)."""
    script = tmp_path / "rows.py"
    script.write_text(ROWS)
    t0 = time.monotonic()
    r = mpirun(2, str(script), timeout=90, watchdog=60)
    assert time.monotonic() - t0 < 50
    text = r.stdout + r.stderr
    for rank in (0, 1):
        assert (f"rank {rank}: fit: the ranks disagree on rows (rank 0: 64; rank 1: 56)"
                in r.stdout), text
    assert "the ranks disagree on validation_rows (rank 0: 10; rank 1: 11)" in text, text
    assert r.returncode != 0 and "waited" not in text


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
