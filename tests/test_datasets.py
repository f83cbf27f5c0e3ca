"""fastff.utils.get_file and fastff.datasets, without network: files are served from a temp
directory (file:// URLs, or a local HTTP server for a cut connection) into a temp cache."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import os
import pickle
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastff
from fastff.data.idx import write_idx
from fastff.datasets import (
    _npz,
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)
from fastff.utils import file_utils, get_file
from fastff.utils.file_utils import DownloadError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A fresh ``$KERAS_HOME``."""
    h = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(h))
    return h


@pytest.fixture()
def src(tmp_path):
    """The folder the "remote" files are served from."""
    d = tmp_path / "remote"
    d.mkdir()
    return d


def url(path: Path) -> str:
    return path.resolve().as_uri()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# ------------------------------------------------------------------------------ get_file


def test_downloads_into_keras_cache_then_reuses_it(home, src):
    (src / "a.bin").write_bytes(b"hello")
    p = get_file("a.bin", origin=url(src / "a.bin"))
    assert p == str(home / "datasets" / "a.bin")
    assert Path(p).read_bytes() == b"hello"
    (src / "a.bin").unlink()  # the source is gone: the cached copy is used
    assert get_file("a.bin", origin=url(src / "a.bin"), file_hash=sha256(b"hello")) == p
    # fname defaults to the URL's last part; cache_dir and an absolute cache_subdir
    (src / "b.txt").write_bytes(b"x")
    assert get_file(origin=url(src / "b.txt"), cache_dir=str(home / "c"),
                    cache_subdir="s") == str(home / "c" / "s" / "b.txt")
    absdir = home / "abs"
    assert get_file(origin=url(src / "b.txt"), cache_subdir=str(absdir)) == str(absdir / "b.txt")


def test_force_download_and_md5(home, src):
    (src / "a.bin").write_bytes(b"one")
    p = get_file("a.bin", origin=url(src / "a.bin"))
    (src / "a.bin").write_bytes(b"two")
    assert Path(get_file("a.bin", origin=url(src / "a.bin"))).read_bytes() == b"one"
    get_file("a.bin", origin=url(src / "a.bin"), force_download=True)
    assert Path(p).read_bytes() == b"two"
    md5 = hashlib.md5(b"two").hexdigest()
    assert get_file("a.bin", origin=url(src / "a.bin"), md5_hash=md5) == p
    assert get_file("a.bin", origin=url(src / "a.bin"), file_hash=md5, hash_algorithm="md5") == p
    assert file_utils.validate_file(p, md5) and not file_utils.validate_file(p, sha256(b"one"))


def test_wrong_cached_hash_redownloads_then_bad_download_errors(home, src, capsys):
    data = b"the real file"
    (src / "d.npz").write_bytes(data)
    cache = home / "datasets"
    cache.mkdir(parents=True)
    (cache / "d.npz").write_bytes(b"stale")
    p = get_file("d.npz", origin=url(src / "d.npz"), file_hash=sha256(data))
    assert Path(p).read_bytes() == data
    assert "hash does not match" in capsys.readouterr().out

    (cache / "d.npz").write_bytes(b"stale")
    (src / "d.npz").write_bytes(b"tampered")
    with pytest.raises(ValueError) as e:
        get_file("d.npz", origin=url(src / "d.npz"), file_hash=sha256(data))
    msg = str(e.value)
    assert str(cache / "d.npz") in msg and sha256(data) in msg and sha256(b"tampered") in msg
    assert listing(cache) == ["d.npz"] and (cache / "d.npz").read_bytes() == b"stale"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_network_names_url_and_cache_path(home):
    origin = f"http://127.0.0.1:{_closed_port()}/tf-keras-datasets/mnist.npz"
    with pytest.raises(DownloadError) as e:
        get_file("mnist.npz", origin=origin)
    assert isinstance(e.value, OSError)
    assert origin in str(e.value) and str(home / "datasets" / "mnist.npz") in str(e.value)
    assert listing(home / "datasets") == []
    assert fastff.errors.DownloadError is DownloadError
    with pytest.raises(DownloadError, match="missing.bin"):
        get_file(origin=url(home / "missing.bin"))


class _ShortHandler(http.server.BaseHTTPRequestHandler):
    """Announces 1000 bytes, sends 10, hangs up."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_cut_connection_leaves_no_partial_file(home):
    server = http.server.HTTPServer(("127.0.0.1", 0), _ShortHandler)
    t = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}/f.bin"
        with pytest.raises(DownloadError, match="10 of 1000 bytes"):
            get_file("f.bin", origin=origin)
    finally:
        server.shutdown()
        server.server_close()
    assert listing(home / "datasets") == []


def test_ctrl_c_during_download_leaves_no_partial_file(home, src, monkeypatch):
    (src / "big.bin").write_bytes(b"x" * 300_000)

    def interrupt(self, n):
        raise KeyboardInterrupt

    monkeypatch.setattr(file_utils._Progress, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        get_file("big.bin", origin=url(src / "big.bin"))
    assert listing(home / "datasets") == []


def test_unwritable_cache_falls_back_to_temp_keras(tmp_path, src, monkeypatch):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    monkeypatch.setenv("KERAS_HOME", str(blocker))  # <file>/datasets cannot be created
    monkeypatch.setattr(file_utils, "_fallback_base", lambda: str(tmp_path / "tmp" / ".keras"))
    (src / "a.bin").write_bytes(b"A")
    p = get_file("a.bin", origin=url(src / "a.bin"))
    assert p == str(tmp_path / "tmp" / ".keras" / "datasets" / "a.bin")


def test_argument_errors(home, src):
    with pytest.raises(ValueError, match="origin"):
        get_file("a")
    with pytest.raises(ValueError, match="fname"):
        get_file("sub/a.bin", origin=url(src / "a.bin"))
    with pytest.raises(ValueError, match="hash_algorithm"):
        get_file("a.bin", origin=url(src / "a.bin"), file_hash="0" * 64, hash_algorithm="sha1")
    (home / "datasets" / "d").mkdir(parents=True)
    with pytest.raises(ValueError, match="is a directory"):
        get_file("d", origin=url(src / "a.bin"))
    with pytest.raises(ValueError, match="archive_format"):
        get_file("a.bin", origin=url(src / "a.bin"), extract=True, archive_format="rar")


# ------------------------------------------------------------------------------ extraction


def _tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> None:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            t.addfile(info)


def test_extract_tar_and_zip_layout(home, src):
    _tar(src / "pack.tar.gz", {"inner/a.txt": b"A", "b.txt": b"B"}, {"inner/l": "a.txt"})
    d = Path(get_file("pack", origin=url(src / "pack.tar.gz"), extract=True))
    assert d == home / "datasets" / "pack"
    assert (d / "inner" / "a.txt").read_bytes() == b"A" and (d / "b.txt").read_bytes() == b"B"
    assert (d / "inner" / "l").read_bytes() == b"A"
    assert (home / "datasets" / "pack_archive").is_file()
    # a dotted fname: the archive keeps the name, the folder is <stem>_extracted
    d2 = Path(get_file("pack.tar.gz", origin=url(src / "pack.tar.gz"), untar=True))
    assert d2 == home / "datasets" / "pack_extracted" and (d2 / "b.txt").is_file()
    with zipfile.ZipFile(src / "z.zip", "w") as z:
        z.writestr("dir/c.txt", "C")
    d3 = Path(get_file("z.zip", origin=url(src / "z.zip"), extract=True))
    assert (d3 / "dir" / "c.txt").read_text() == "C"
    assert not [p for p in (home / "datasets").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "zip"])
def test_unsafe_archive_is_refused(home, src, tmp_path, kind):
    if kind == "zip":
        with zipfile.ZipFile(src / "bad.zip", "w") as z:
            z.writestr("ok.txt", "fine")
            z.writestr("../escaped.txt", "bad")
        name = "bad.zip"
    else:
        members = {"ok.txt": b"fine"}
        links = None
        if kind == "dotdot":
            members["../escaped.txt"] = b"bad"
        elif kind == "absolute":
            members[str(tmp_path / "escaped.txt")] = b"bad"
        else:
            links = {"evil": "../../../../etc/passwd"}
        _tar(src / "bad.tar.gz", members, links)
        name = "bad.tar.gz"
    with pytest.raises(ValueError, match="unsafe"):
        get_file("bad", origin=url(src / name), extract=True)
    cache = home / "datasets"
    assert listing(cache) == ["bad_archive"]  # nothing extracted, no temp folder left
    assert not (cache.parent / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


# ------------------------------------------------------------------------------ safe npz


def _npy_protocol2(arr: np.ndarray) -> bytes:
    """An object-array .npy member pickled at protocol 2 (as older Keras files are)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
    pickle.dump(arr, buf, protocol=2)
    return buf.getvalue()


def _ragged(seqs: list[list[int]]) -> np.ndarray:
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = list(s)
    return out


def test_npz_object_arrays_read_without_unpickling(tmp_path):
    seqs = [[1, 2, 300], [70000, -5, 2**40], [], [7, 8, 9]]
    np.savez(tmp_path / "p4.npz", x=_ragged(seqs), y=np.arange(4))
    with zipfile.ZipFile(tmp_path / "p2.npz", "w") as z:
        z.writestr("x.npy", _npy_protocol2(_ragged(seqs)))
    for name in ("p4.npz", "p2.npz"):
        got = _npz.load_npz(tmp_path / name)
        assert got["x"].dtype == object and got["x"].shape == (4,)
        assert [list(s) for s in got["x"]] == seqs
    assert np.array_equal(_npz.load_npz(tmp_path / "p4.npz")["y"], np.arange(4))
    # long lists (several APPENDS batches, many scan chunks) of 1-, 2- and 4-byte ints
    rng = np.random.default_rng(5)
    long = [[int(v) for v in rng.choice([3, 255, 256, 65535, 65536, -1, -2**31], 2500)],
            [int(v) for v in rng.integers(0, 70000, 1500)], [2**31 - 1]]
    for proto in (2, 4):
        with zipfile.ZipFile(tmp_path / "long.npz", "w") as z:
            buf = io.BytesIO()
            arr = _ragged(long)
            np.lib.format.write_array_header_1_0(
                buf, np.lib.format.header_data_from_array_1_0(arr))
            pickle.dump(arr, buf, protocol=proto)
            z.writestr("x.npy", buf.getvalue())
        assert [list(s) for s in _npz.load_npz(tmp_path / "long.npz")["x"]] == long
    # equal-length lists stay a 1-D array of lists
    np.savez(tmp_path / "eq.npz", x=_ragged([[1, 2], [3, 4]]))
    got = _npz.load_npz(tmp_path / "eq.npz")["x"]
    assert got.shape == (2,) and got[1] == [3, 4]
    # numeric arrays and numpy scalars inside a pickle
    data = pickle.dumps({b"data": np.arange(6, dtype=">i4").reshape(2, 3),
                         "s": np.float32(1.5), "t": (1.0, None, True)}, protocol=2)
    d = _npz.parse_pickle(data)
    assert np.array_equal(d[b"data"], np.arange(6).reshape(2, 3)) and d["s"] == np.float32(1.5)
    assert d["t"] == (1.0, None, True)
    # Python 2 pickles (CIFAR's batches): 8-bit strings come back as bytes
    assert _npz.parse_pickle(b"\x80\x02}q\x00(U\x04dataq\x01U\x03abcq\x02u.") == {
        b"data": b"abc"}
    assert _npz.parse_pickle(b"(dp0\nS'k\\x00'\np1\nI5\nsS'l'\nL7L\ns.") == {
        b"k\x00": 5, b"l": 7}


class _Gadget:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_npz_with_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    arr = np.empty(1, dtype=object)
    arr[0] = _Gadget(str(marker))
    for proto in (2, 4):
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
        pickle.dump(arr, buf, protocol=proto)
        with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z:
            z.writestr("x_train.npy", buf.getvalue())
        with pytest.raises(ValueError, match=r"evil\.npz.*refusing.*names (io|builtins)\.open"):
            _npz.load_npz(tmp_path / "evil.npz")
    assert not marker.exists()
    with pytest.raises(ValueError, match="malformed|truncated"):
        _npz.parse_pickle(pickle.dumps([1, 2, 3], protocol=2)[:-3])


# ------------------------------------------------------------------------------ loaders


def _serve(monkeypatch, module, src: Path, name: str, data: bytes, attr: str = "SHA256",
           digest=sha256) -> None:
    (src / name).write_bytes(data)
    monkeypatch.setattr(module, "ORIGIN", url(src) + "/")
    if attr:
        monkeypatch.setattr(module, attr, digest(data))


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_mnist(home, src, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 5, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 3, dtype=np.uint8)}
    _serve(monkeypatch, mnist, src, "mnist.npz", _npz_bytes(**arrays))
    import fastff as keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    for got, key in ((x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"),
                     (y_test, "y_test")):
        assert got.dtype == np.uint8 and np.array_equal(got, arrays[key])
    assert (home / "datasets" / "mnist.npz").is_file()


def test_fashion_mnist(home, src, monkeypatch):
    rng = np.random.default_rng(1)
    parts = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
             "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 4, dtype=np.uint8),
             "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
             "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 2, dtype=np.uint8)}
    for name, arr in parts.items():
        write_idx(src / "raw", arr)
        (src / name).write_bytes(gzip.compress((src / "raw").read_bytes()))
    monkeypatch.setattr(fashion_mnist, "ORIGIN", url(src) + "/")
    (x_train, y_train), (x_test, y_test) = fastff.datasets.fashion_mnist.load_data()
    assert np.array_equal(x_train, parts["train-images-idx3-ubyte.gz"])
    assert np.array_equal(y_train, parts["train-labels-idx1-ubyte.gz"])
    assert np.array_equal(x_test, parts["t10k-images-idx3-ubyte.gz"])
    assert np.array_equal(y_test, parts["t10k-labels-idx1-ubyte.gz"])
    assert x_train.dtype == y_test.dtype == np.uint8 and x_test.shape == (2, 28, 28)
    assert (home / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_boston_housing_split_matches_keras_shuffle(home, src, monkeypatch):
    x = np.arange(11 * 13, dtype=np.float64).reshape(11, 13)
    y = np.arange(11, dtype=np.float64) * 2.5
    _serve(monkeypatch, boston_housing, src, "boston_housing.npz", _npz_bytes(x=x, y=y))
    (xtr, ytr), (xte, yte) = boston_housing.load_data(test_split=0.3, seed=7)
    order = np.arange(11)
    np.random.RandomState(7).shuffle(order)  # noqa: NPY002
    cut = int(11 * 0.7)  # 7
    assert np.array_equal(xtr, x[order[:cut]]) and np.array_equal(yte, y[order[cut:]])
    assert xtr.shape == (7, 13) and xte.shape == (4, 13) and ytr.shape == (7,)
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(test_split=1.0)


IMDB_TRAIN = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]]
IMDB_TEST = [[3, 11], [1, 1, 1, 1, 1]]


@pytest.fixture()
def imdb_file(home, src, monkeypatch):
    data = _npz_bytes(x_train=_ragged(IMDB_TRAIN), y_train=np.array([1, 0, 1, 0]),
                      x_test=_ragged(IMDB_TEST), y_test=np.array([0, 1]))
    _serve(monkeypatch, imdb, src, "imdb.npz", data)
    order_train = np.arange(4)
    order_test = np.arange(2)
    rng = np.random.RandomState(113)  # noqa: NPY002 - the order Keras draws
    rng.shuffle(order_train)
    rng.shuffle(order_test)
    return order_train, order_test


def test_imdb_index_from_start_char_num_words(imdb_file):
    tr, te = imdb_file
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10)
    assert x_train.dtype == object and x_train.shape == (4,) and x_test.shape == (2,)
    # start_char=1, w -> w + 3, indices >= 10 -> oov_char 2
    shifted = {0: [1, 4, 5, 6], 1: [1, 7, 8], 2: [1, 9, 2, 2, 2], 3: [1, 2]}
    assert [list(s) for s in x_train] == [shifted[i] for i in tr]
    assert list(y_train) == [[1, 0, 1, 0][i] for i in tr]
    assert [list(s) for s in x_test] == [{0: [1, 6, 2], 1: [1, 4, 4, 4, 4, 4]}[i] for i in te]
    assert list(y_test) == [[0, 1][i] for i in te]
    assert y_train.dtype == np.int64


def test_imdb_skip_top_oov_none_maxlen_and_default_num_words(imdb_file):
    tr, te = imdb_file
    # no start char, index_from 0, oov removed, skip_top 3: keep 3 <= w < 9
    (x_train, _), (x_test, _) = imdb.load_data(num_words=9, skip_top=3, start_char=None,
                                               oov_char=None, index_from=0)
    kept = {0: [3], 1: [4, 5], 2: [6, 7, 8], 3: []}
    assert [list(s) for s in x_train] == [kept[i] for i in tr]
    assert [list(s) for s in x_test] == [{0: [3], 1: []}[i] for i in te]
    # maxlen drops sequences of length >= maxlen (start mark counted), labels follow
    (x_train, y_train), (x_test, y_test) = imdb.load_data(maxlen=4)
    kept_train = [i for i in tr if len(IMDB_TRAIN[i]) + 1 < 4]
    assert [len(s) for s in x_train] == [len(IMDB_TRAIN[i]) + 1 for i in kept_train]
    assert list(y_train) == [[1, 0, 1, 0][i] for i in kept_train]
    assert [list(s) for s in x_test] == [[1, 6, 2]] and list(y_test) == [0]
    # without num_words the largest index (11 + 3 = 14) itself becomes oov, as in Keras
    assert 14 not in {w for s in x_test for w in s} and 2 in x_test[0]
    with pytest.raises(ValueError, match="maxlen"):
        imdb.load_data(maxlen=2)
    with pytest.raises(TypeError, match="nb_words"):
        imdb.load_data(nb_words=5)
    with pytest.raises(TypeError, match="num_words"):
        imdb.load_data(num_words=2.5)


def test_imdb_word_index(home, src, monkeypatch):
    data = json.dumps({"the": 1, "and": 2}).encode()
    _serve(monkeypatch, imdb, src, "imdb_word_index.json", data, attr="WORD_INDEX_MD5",
           digest=lambda b: hashlib.md5(b).hexdigest())
    assert imdb.get_word_index() == {"the": 1, "and": 2}


def test_reuters(home, src, monkeypatch):
    xs = [[1, 2], [3], [4, 5, 6], [7], [8, 9]]
    ys = np.array([3, 4, 3, 1, 0])
    _serve(monkeypatch, reuters, src, "reuters.npz", _npz_bytes(x=_ragged(xs), y=ys))
    (x_train, y_train), (x_test, y_test) = reuters.load_data(test_split=0.4, seed=5,
                                                             num_words=8)
    order = np.arange(5)
    np.random.RandomState(5).shuffle(order)  # noqa: NPY002
    expect = [[1] + [w + 3 if w + 3 < 8 else 2 for w in xs[i]] for i in order]
    assert [list(s) for s in x_train] == expect[:3] and [list(s) for s in x_test] == expect[3:]
    assert list(y_train) == list(ys[order[:3]]) and list(y_test) == list(ys[order[3:]])
    assert len(reuters.get_label_names()) == 46 and reuters.get_label_names()[3] == "earn"


def test_cifar10(home, src, monkeypatch):
    rng = np.random.default_rng(2)
    batches = {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, 10, 2)]
            batches[name] = (data, labels)
            blob = pickle.dumps({b"batch_label": b"x", b"labels": labels, b"data": data},
                                protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            t.addfile(info, io.BytesIO(blob))
    (src / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    monkeypatch.setattr(cifar10, "ORIGIN", url(src / "cifar-10-python.tar.gz"))
    monkeypatch.setattr(cifar10, "SHA256", sha256(buf.getvalue()))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (10, 32, 32, 3) and y_train.shape == (10, 1)
    assert x_test.shape == (2, 32, 32, 3) and y_test.shape == (2, 1)
    assert x_train.dtype == y_train.dtype == np.uint8
    d, lab = batches["data_batch_2"]
    assert np.array_equal(x_train[2], d[0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert list(y_train[2:4, 0]) == lab
    assert (home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py").is_dir()


def test_cifar100_label_modes(home, src, monkeypatch):
    rng = np.random.default_rng(4)
    parts = {name: (rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                    [int(v) for v in rng.integers(0, 100, n)],
                    [int(v) for v in rng.integers(0, 20, n)])
             for name, n in (("train", 3), ("test", 2))}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, (data, fine, coarse) in parts.items():
            blob = pickle.dumps({b"data": data, b"fine_labels": fine, b"coarse_labels": coarse},
                                protocol=4)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(blob)
            t.addfile(info, io.BytesIO(blob))
    (src / "c100.tar.gz").write_bytes(buf.getvalue())
    monkeypatch.setattr(cifar100, "ORIGIN", url(src / "c100.tar.gz"))
    monkeypatch.setattr(cifar100, "SHA256", sha256(buf.getvalue()))
    (x_train, y_train), (x_test, y_test) = cifar100.load_data()
    assert x_train.shape == (3, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (3, 1) and y_train.dtype == np.int64  # as Keras (from a list)
    assert list(y_train[:, 0]) == parts["train"][1] and list(y_test[:, 0]) == parts["test"][1]
    (_, y_train), _ = cifar100.load_data(label_mode="coarse")
    assert list(y_train[:, 0]) == parts["train"][2]
    assert np.array_equal(x_test[1], parts["test"][0][1].reshape(3, 32, 32).transpose(1, 2, 0))
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data(label_mode="medium")


def test_california_housing_versions(home, src, monkeypatch):
    x = np.arange(700 * 8, dtype=np.float32).reshape(700, 8)
    y = np.arange(700, dtype=np.float32)
    _serve(monkeypatch, california_housing, src, "california_housing.npz",
           _npz_bytes(x=x, y=y))
    (xtr, ytr), (xte, yte) = california_housing.load_data(version="small", seed=3)
    order = np.arange(600)
    np.random.RandomState(3).shuffle(order)  # noqa: NPY002
    assert xtr.shape == (480, 8) and xte.shape == (120, 8)
    assert np.array_equal(ytr, y[order[:480]]) and np.array_equal(xte, x[order[480:]])
    (xtr, _), (xte, _) = california_housing.load_data(test_split=0.0)
    assert xtr.shape == (700, 8) and xte.shape == (0, 8)
    with pytest.raises(ValueError, match="version"):
        california_housing.load_data(version="tiny")


def test_datasets_are_lazy_and_load_no_numba():
    code = ("import sys, fastff\n"
            "assert 'fastff.datasets' not in sys.modules\n"
            "fastff.datasets.mnist.load_data, fastff.utils.get_file\n"
            "print(any(m == 'numba' or m.startswith('numba.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(ROOT), env={**os.environ})
    assert out.stdout.strip() == "False"
