"""Bucketize with the lecture's distance buckets; one-hot; the package surface."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastff.data
from fastff.data import DISTANCE_BOUNDARIES, DISTANCE_BUCKET_NAMES, bucketize, one_hot


def test_distance_buckets():
    distances = np.arange(70)
    ids = bucketize(distances, DISTANCE_BOUNDARIES)
    assert len(DISTANCE_BUCKET_NAMES) == len(DISTANCE_BOUNDARIES) + 1 == 10
    # [0, 1, 2, 3, 4, 5-7, 8-15, 16-31, 32-63, 64+]
    for name, bucket in zip(DISTANCE_BUCKET_NAMES, range(10)):
        lo, _, hi = name.rstrip("+").partition("-")
        members = distances[ids == bucket]
        assert members.min() == int(lo)
        if name.endswith("+"):
            assert members.max() == 69
        else:
            assert members.max() == int(hi or lo)
    assert bucketize([1000, -3]).tolist() == [9, 0]  # the constant is the default
    assert bucketize(np.array([[0, 5], [8, 64]])).tolist() == [[0, 5], [6, 9]]
    assert bucketize([0.5, 1.0, 7.9], [1, 2]).tolist() == [0, 1, 2]


def test_bucketize_rejects_unsorted_boundaries():
    with pytest.raises(ValueError, match="increasing"):
        bucketize([1], [2, 1])
    with pytest.raises(ValueError, match="increasing"):
        bucketize([1], [1, 1])


def test_one_hot():
    out = one_hot([2, 0, 1], 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(3)[[2, 0, 1]])
    assert one_hot(np.array([[1], [0]]), 2, dtype="int8").tolist() == [[[0, 1]], [[1, 0]]]
    assert one_hot(np.array([], dtype=int), 4).shape == (0, 4)
    assert one_hot(bucketize([0, 100]), 10).argmax(axis=1).tolist() == [0, 9]
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        one_hot([3], 3)
    with pytest.raises(ValueError):
        one_hot([-1], 3)
    with pytest.raises(TypeError):
        one_hot([0.5], 3)


def test_public_names_exported():
    for name in fastff.data.__all__:
        assert hasattr(fastff.data, name), name
    assert fastff.data.__doc__ and "Vocabulary" in fastff.data.__doc__


def test_import_does_not_load_numba():
    repo = Path(__file__).resolve().parents[1]
    code = "import sys, fastff.data; print('numba' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=repo, env={"PYTHONPATH": str(repo), "PATH": ""}, check=True)
    assert result.stdout.strip() == "False"
