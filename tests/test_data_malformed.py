"""Hostile and damaged input to every data reader (CoNLL-U, GloVe, sentence files, MNIST CSV,
IDX): a ``ValueError`` naming the file (and the line for text) and what was expected - never a
bare ``UnicodeDecodeError``, ``EOFError``, ``BadGzipFile`` or NumPy reshape error - and a
lying IDX header costs no allocation beyond the bytes present. Ends with a deterministic
mutation fuzz of every reader over small valid files."""

from __future__ import annotations

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from fastff.data import idx as idx_module
from fastff.data import (
    load_glove,
    read_blind,
    read_conllu_documents,
    read_idx,
    read_labeled,
    read_mnist_csv,
    write_idx,
)

CONLLU = (
    "# newdoc id = d1\n"
    "# global.Entity = eid-etype-head-other\n"
    "# sent_id = 1\n"
    "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\tEntity=(1-person-2\n"
    "2\tcat\tcat\tNOUN\tNN\t_\t0\troot\t_\tEntity=1)\n"
    "\n"
)
GLOVE = "the 0.5 -1.0 2\ncat 1e-3 0 0.25\n"
LABELED = "1\tgood film\n0\tbad film\n"
BLIND = "good film\nbad film\n"
CSV = ",".join(["0"] * 784 + ["3"]) + "\n" + ",".join(["255"] * 784 + ["7"]) + "\n"

READERS = {
    "conllu": (read_conllu_documents, CONLLU),
    "glove": (load_glove, GLOVE),
    "labeled": (read_labeled, LABELED),
    "blind": (read_blind, BLIND),
    "csv": (read_mnist_csv, CSV),
}


@pytest.mark.parametrize("kind", READERS)
def test_non_utf8_names_file_and_line(tmp_path, kind):
    reader, text = READERS[kind]
    lines = text.encode().split(b"\n")
    lines[1] = lines[1][:3] + b"\xff\xfe" + lines[1][3:]
    path = tmp_path / f"bad-{kind}.txt"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match=rf"bad-{kind}.txt:2: not UTF-8 text \(byte 0xff at "
                                         r"byte 4 of the line\); expected a UTF-8"):
        reader(path)


@pytest.mark.parametrize("kind", READERS)
def test_truncated_and_corrupt_gzip_name_the_file(tmp_path, kind):
    reader, text = READERS[kind]
    data = gzip.compress(text.encode() * 50)
    path = tmp_path / f"cut-{kind}.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"cut-{kind}.gz:\d+: corrupt or truncated gzip"):
        reader(path)
    broken = bytearray(data)
    broken[-6] ^= 0xFF  # the CRC trailer
    path.write_bytes(bytes(broken))
    with pytest.raises(ValueError, match=rf"cut-{kind}.gz:\d+: corrupt or truncated gzip"):
        reader(path)


@pytest.mark.parametrize(("value", "reason"), [("nan", "is not a finite number"),
                                               ("-inf", "is not a finite number"),
                                               ("1e999", "is not a finite number"),
                                               ("1e39", "overflows float32")])
def test_glove_refuses_non_finite_and_overflowing_values(tmp_path, value, reason):
    path = tmp_path / "v.txt"
    path.write_text(f"a 1 2 3\nb 4 {value} 6\n")
    with pytest.raises(ValueError, match=rf"v.txt:2: value 2 \('{value}'\) {reason}"):
        load_glove(path)


def test_glove_float64_keeps_what_fits_and_checks_arguments(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("a 1 2 3\nb 4 1e39 6\n")
    _, vectors = load_glove(path, dtype=np.float64)
    assert vectors[1, 1] == 1e39
    with pytest.raises(ValueError, match="max_words"):
        load_glove(path, max_words=-1)
    with pytest.raises(ValueError, match="dtype"):
        load_glove(path, dtype=np.int32)


def test_glove_inconsistent_dimension_names_line_and_expected_count(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("a 1 2 3\nb 1 2 3\nc 1 2\n")
    with pytest.raises(ValueError, match=r"v.txt:3: expected a word and 3 values \(the first "
                                         r"line's count\), got 2"):
        load_glove(path)


def test_conllu_huge_numbers_name_the_line(tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text("1\ta\ta\tX\tX\t_\t" + "9" * 5000 + "\tdep\t_\t_\n\n")
    with pytest.raises(ValueError, match=r"x.conllu:1: head '9+' is not an integer"):
        read_conllu_documents(path)
    path.write_text("9" * 5000 + "\ta\ta\tX\tX\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(ValueError, match=r"x.conllu:1: word id '9+', expected 1"):
        read_conllu_documents(path)


def test_label_out_of_int64_range_names_line(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("1\tok\n" + str(2**63) + "\ttoo big\n")
    with pytest.raises(ValueError, match=r"l.txt:2: label '9223372036854775808' is not an "
                                         "integer"):
        read_labeled(path)


def idx_header(code: int, shape: tuple[int, ...]) -> bytes:
    return struct.pack(">HBB", 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


def test_idx_lying_header_costs_no_big_allocation(tmp_path):
    """A header claiming 2**32-1 x 2**32-1 x 255 floats (far past int64) over 1 KB of data, plain
    and gzipped (also a 64 MiB gzip bomb claiming 4 GB): refused naming the file, with a peak
    allocation of about the bytes really present."""
    claim = (2**32 - 1, 2**32 - 1, 255)
    plain = tmp_path / "lie.idx"
    plain.write_bytes(idx_header(0x0E, claim) + bytes(1024))
    packed = tmp_path / "lie.idx.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    bomb = tmp_path / "bomb.idx.gz"
    bomb.write_bytes(gzip.compress(idx_header(0x08, (2**32 - 1,)) + bytes(64 << 20),
                                   compresslevel=1))
    for path, limit in ((plain, 1 << 20), (packed, 3 << 20), (bomb, 80 << 20)):
        tracemalloc.start()
        with pytest.raises(ValueError, match=rf"{path.name}: IDX data length .* does not match "
                                             r"shape \(4294967295"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < limit, (path.name, peak)


def test_idx_dimension_count_and_trailing_bytes(tmp_path):
    path = tmp_path / "d.idx"
    path.write_bytes(idx_header(0x08, (1,) * 40) + b"\x00")
    with pytest.raises(ValueError, match=r"d.idx: bad IDX magic number 0x00000828 .* NN from 1 "
                                         "to 32 dimensions"):
        read_idx(path)
    path.write_bytes(idx_header(0x08, (2, 2)) + bytes(5))
    with pytest.raises(ValueError, match=r"d.idx: IDX data length 5 bytes does not match"):
        read_idx(path)
    path.write_bytes(gzip.compress(idx_header(0x08, (2, 2)) + bytes(5)))
    with pytest.raises(ValueError, match=r"d.idx: IDX data length more than 4 bytes"):
        read_idx(path)
    with pytest.raises(ValueError, match="array: IDX needs 1 to 32 dimensions"):
        write_idx(path, np.zeros((1,) * 33))


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "float32", "float64"])
def test_idx_reads_native_writable_arrays(tmp_path, dtype, monkeypatch):
    monkeypatch.setattr(idx_module, "_CHUNK", 7)  # several chunks of the gzip stream
    a = (np.arange(60).reshape(3, 4, 5) * 3 - 50).astype(dtype) if dtype != "uint8" \
        else np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    write_idx(tmp_path / "a.idx", a)
    (tmp_path / "a.gz").write_bytes(gzip.compress((tmp_path / "a.idx").read_bytes()))
    for name in ("a.idx", "a.gz"):
        got = read_idx(tmp_path / name)
        assert got.dtype == np.dtype(dtype) and got.dtype.isnative and got.flags.writeable
        np.testing.assert_array_equal(got, a)


# ------------------------------------------------------------------ mutation fuzz
def _mutations(data: bytes, rng: np.random.Generator, count: int):
    """Deterministic damage: byte flips, random bytes, truncations, insertions of bytes that
    matter to the formats (tabs, spaces, newlines, digits, signs, invalid UTF-8)."""
    specials = b"\t \n\r-#()=|.0123456789eE+\xff\x80\xc3"
    for k in range(count):
        b = bytearray(data)
        op = k % 4
        i = int(rng.integers(0, len(b)))
        if op == 0:
            b[i] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:
            b[i] = int(rng.integers(0, 256))
        elif op == 2:
            del b[i:]
        else:
            b[i:i] = bytes([specials[int(rng.integers(0, len(specials)))]])
        yield bytes(b)


@pytest.mark.parametrize("kind", [*READERS, "idx"])
def test_mutation_fuzz_raises_only_value_errors_naming_the_file(tmp_path, kind):
    """300 mutations of a small valid file per reader (plain, and gzip-compressed for every
    fifth): each loads or raises ``ValueError`` naming the file; nothing else escapes."""
    seed = tmp_path / "seed"
    if kind == "idx":
        reader = read_idx
        write_idx(seed, np.arange(24, dtype=">i2").reshape(2, 3, 4))
    else:
        reader, text = READERS[kind]
        seed.write_text(text)
    reader(seed)  # the unmutated file is valid
    data = seed.read_bytes()
    rng = np.random.default_rng(15)
    path = tmp_path / f"fuzz-{kind}"
    outcomes = {"loaded": 0, "refused": 0}
    for k, mutated in enumerate(_mutations(data, rng, 300)):
        path.write_bytes(gzip.compress(mutated) if k % 5 == 4 else mutated)
        try:
            reader(path)
        except ValueError as e:
            assert str(path) in str(e), (k, mutated, e)
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 30, outcomes
