"""One CUDA-simulator run for every simulator module of a pytest session.

The simulator must be on before Numba is imported, so each ``*_sim`` module, in a normal run,
collects one test that asks for its kernel tests to run in a fresh Python process with
``NUMBA_ENABLE_CUDASIM=1``. ``module_report`` starts that process once per session, for all
the simulator modules the session collected (so a full run pays one interpreter, Numba and
fastff start-up and one set of first-call warm-ups instead of four), and reads each module's
results from a JUnit XML report: a module's test fails only on its own module's failures.

The simulator runs every GPU thread of a block as a Python thread and polls them from the
launching one; with Python's default 5 ms GIL switch interval the poller spins through its
whole slice while the threads wait, so ``tests/conftest.py`` sets 0.5 ms in the simulator's
process (measured: 34 s -> 22 s of CPU for the fit and normalization modules).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
#: the modules whose kernel tests run under the simulator (each collects one outer test)
MODULES = ("test_cuda_sim.py", "test_cuda_fit_sim.py", "test_cuda_normalization_sim.py",
           "test_losses_cuda_sim.py")
TIMEOUT = 1200

_runs: dict[tuple[str, ...], dict] = {}


def _wanted(session: pytest.Session, module: str) -> tuple[str, ...]:
    """The simulator modules among the session's collected items (always ``module``)."""
    names = {Path(str(item.fspath)).name for item in getattr(session, "items", ())}
    return tuple(m for m in MODULES if m in names or m == module)


def _run(modules: tuple[str, ...]) -> dict:
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env.pop("FASTFF_TEST_CUDA", None)
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "sim.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-W", "ignore::pytest.PytestUnraisableExceptionWarning",
               f"--junitxml={xml}", *(str(HERE / m) for m in modules)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=HERE.parent)
        took = time.perf_counter() - t0
        cases = list(ET.parse(xml).getroot().iter("testcase")) if xml.exists() else []
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
    return {"rc": proc.returncode, "cases": cases, "tail": tail, "took": took,
            "modules": modules}


def module_report(request: pytest.FixtureRequest, module_file: str) -> str:
    """Runs (once per session) the simulator process and asserts that ``module_file``'s
    kernel tests all passed there; returns a one-line summary."""
    module = Path(module_file).name
    wanted = _wanted(request.session, module)
    run = _runs.get(wanted)
    if run is None:
        run = _runs[wanted] = _run(wanted)
    stem = module[:-3]  # classname "tests.<stem>" (a collection error: name "tests.<stem>")
    mine = [c for c in run["cases"]
            if stem in (c.get("classname") or c.get("name", "")).split(".")]
    bad = [c for c in mine if c.find("failure") is not None or c.find("error") is not None]
    head = (f"simulator run of {', '.join(run['modules'])} (rc {run['rc']}, "
            f"{run['took']:.0f} s)")
    if bad:
        lines = []
        for c in bad:
            el = c.find("failure") if c.find("failure") is not None else c.find("error")
            text = (el.text or el.get("message") or "").strip().splitlines()[-15:]
            lines.append(f"{c.get('name')}:\n" + "\n".join(text))
        pytest.fail(f"{head}: {len(bad)} of {len(mine)} {module} tests failed\n"
                    + "\n\n".join(lines), pytrace=False)
    ran = [c for c in mine if c.find("skipped") is None]
    if not ran or run["rc"] not in (0, 1):
        pytest.fail(f"{head}: no {module} test ran to a result\n{run['tail']}", pytrace=False)
    return f"{head}: {len(ran)} {module} tests passed"
