"""fastff.set_num_threads / get_num_threads: validation, C core and Numba kept in step."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fastff
from fastff import _threading


@pytest.fixture
def restore_threads():
    before = fastff.get_num_threads()
    req = _threading._requested
    yield
    from fastff._core import lib

    lib.fastff_set_num_threads(before)
    _threading._requested = req


def test_default_is_affinity():
    code = "import fastff; print(fastff.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert int(out) == len(os.sched_getaffinity(0))


def test_import_changes_nothing():
    code = ("import sys, fastff, fastff._threading; "
            "print('numba' in sys.modules, fastff._threading._requested)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "None"]


def test_set_get_roundtrip_and_numba(restore_threads):
    import numba

    fastff.set_num_threads(1)
    assert fastff.get_num_threads() == 1
    assert numba.get_num_threads() == 1
    cap = numba.config.NUMBA_NUM_THREADS
    fastff.set_num_threads(cap)
    assert fastff.get_num_threads() == cap == numba.get_num_threads()


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                      ("2", TypeError), (True, TypeError), (10**6, ValueError)])
def test_validation(bad, exc, restore_threads):
    with pytest.raises(exc, match="n"):
        fastff.set_num_threads(bad)


def test_setting_before_numba_import_reaches_numba():
    code = ("import fastff, sys; fastff.set_num_threads(1); assert 'numba' not in sys.modules; "
            "import fastff._native, numba; print(numba.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert int(out) == 1
