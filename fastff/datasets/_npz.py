"""Read Keras's dataset ``.npz`` / pickle files without unpickling.

IMDB and Reuters store ragged sequences as NumPy object arrays, which ``np.save`` writes as
a pickle stream; CIFAR batches are pickled dicts. ``pickle.load`` on such a file can run
any code the file names, so it is never called here. Instead :func:`parse_pickle` walks the
stream's opcodes itself and understands only plain data (ints, floats, strings, bytes,
lists, tuples, dicts) plus the three NumPy reconstructions these files use (``ndarray``,
``dtype``, ``scalar``) and ``_codecs.encode`` for bytes written by Python 3 at protocol 2.
Anything else is refused with a ``ValueError`` naming the file; nothing is ever called.
"""

from __future__ import annotations

import codecs
import io
import math
import os
import re
import struct
import zipfile
from typing import Any

import numpy as np

__all__ = ["load_npz", "parse_pickle"]

_RECONSTRUCT, _NDARRAY, _DTYPE, _SCALAR, _ENCODE = (
    "ndarray._reconstruct", "ndarray", "dtype", "scalar", "_codecs.encode")
_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DTYPE,
    ("_codecs", "encode"): _ENCODE,
}


class _Global:
    """A permitted global, named only: it is interpreted, never imported or called."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


class _Pending:
    """An ndarray or dtype whose state (the pickle's BUILD) has not arrived yet."""

    __slots__ = ("kind", "args", "value")

    def __init__(self, kind: str, args: tuple) -> None:
        self.kind, self.args, self.value = kind, args, None


class _Mark:
    __slots__ = ()


_MARK = _Mark()
_INT_RUN = re.compile(rb"(?:K.|M..|J....)+", re.S)  # BININT1 / BININT2 / BININT opcodes
#: one match per int opcode; its group is the opcode letter
_INT_OPS = re.compile(rb"([KMJ])(?:(?<=K).|(?<=M)..|(?<=J)....)", re.S)


def _decode_int_run(run: bytes) -> tuple[int, ...]:
    """The ints of a run of BININT1/BININT2/BININT opcodes, decoded by ``struct``: the
    opcode letters become its format (``K`` -> ``xB``, ``M`` -> ``xH``, ``J`` -> ``xi``)."""
    ops = b"".join(_INT_OPS.findall(run))
    fmt = ops.replace(b"K", b"xB").replace(b"M", b"xH").replace(b"J", b"xi")
    return struct.unpack(b"<" + fmt, run)


_TOKEN_LEN = np.zeros(256, dtype=np.int8)
_TOKEN_LEN[ord("K")], _TOKEN_LEN[ord("M")], _TOKEN_LEN[ord("J")] = 2, 3, 5


# (bytes still to skip, token length of this byte) -> bytes still to skip after it
_STEP = np.array([[max(length - 1, 0) if skip == 0 else skip - 1 for length in range(6)]
                  for skip in range(5)], dtype=np.int8).ravel()


def _token_starts(lengths: np.ndarray) -> np.ndarray:
    """Which bytes of a stream of K/M/J tokens (starting at byte 0) start a token, given the
    token length each byte would have as an opcode. A sequential scan, vectorized: the stream
    is cut into chunks, each chunk is run from all 5 possible entry states at once (bytes
    still to skip), the chunks' true entry states are chained, and one more pass marks the
    starts."""
    n = len(lengths)
    m = max(64, int(np.sqrt(n / 5)))  # chunk length: balances the loops
    c = -(-n // m)
    lt = np.full(c * m, 2, dtype=np.int8)
    lt[:n] = lengths
    lt = np.ascontiguousarray(lt.reshape(c, m).T)  # lt[t] = byte t of every chunk
    state = np.repeat(np.arange(5, dtype=np.intp)[None, :] * 6, c, axis=0)
    for t in range(m):
        state = _STEP.take(state + lt[t][:, None]).astype(np.intp) * 6
    exits = (state // 6).tolist()
    entry = [0] * c
    for i in range(c - 1):
        entry[i + 1] = exits[i][entry[i]]
    state = np.array(entry, dtype=np.intp) * 6
    starts = np.empty((m, c), dtype=bool)
    for t in range(m):
        np.equal(state, 0, out=starts[t])
        state = _STEP.take(state + lt[t]).astype(np.intp) * 6
    return starts.T.ravel()[:n]


def _decode_runs(data: bytes, runs: list[tuple[list, int, int]]) -> None:
    """Extend each list by the ints of its run ``data[start:end]`` of K/M/J tokens, all runs
    decoded at once with NumPy."""
    buf = np.frombuffer(b"".join(data[a:b] for _, a, b in runs), dtype=np.uint8)
    first = np.flatnonzero(_token_starts(_TOKEN_LEN[buf]))
    ops = buf[first]
    values = np.empty(len(first), dtype=np.int64)
    k = ops == ord("K")
    values[k] = buf[first[k] + 1]
    at = first[ops == ord("M")] + 1
    values[ops == ord("M")] = buf[at].astype(np.int64) | (buf[at + 1].astype(np.int64) << 8)
    j = ops == ord("J")
    if j.any():
        at = first[j] + 1
        word = sum(buf[at + i].astype(np.int64) << (8 * i) for i in range(4))
        values[j] = word - ((word >> 31) << 32)  # as a signed int32
    values = values.tolist()
    offsets = np.cumsum([0] + [b - a for _, a, b in runs])
    bounds = np.searchsorted(first, offsets).tolist()
    for (lst, _, _), lo, hi in zip(runs, bounds, bounds[1:]):
        lst.extend(values[lo:hi])


def _resolve(x: Any) -> Any:
    if isinstance(x, _Pending):
        if x.value is None:  # a dtype pickled without state: its native byte order
            if x.kind == _DTYPE:
                return _make_dtype(x.args, None)
            raise ValueError("an ndarray without its state")
        return x.value
    return x


def _text(x: Any) -> str:
    return x.decode("latin-1") if isinstance(x, bytes) else str(x)


def _make_dtype(args: tuple, state: tuple | None) -> np.dtype:
    if not args:
        raise ValueError("dtype without arguments")
    name = _text(args[0])
    if not re.fullmatch(r"[A-Za-z]\d*", name):
        raise ValueError(f"unsupported dtype {name!r}")
    dt = np.dtype(name)
    if state is not None:
        if len(state) < 5 or any(s is not None for s in state[2:5]):
            raise ValueError("structured or sub-array dtypes are not supported")
        order = _text(state[1])
        if order in ("<", ">"):
            dt = dt.newbyteorder(order)
    return dt


def _make_array(args: tuple, state: tuple) -> np.ndarray:
    if len(state) != 5:
        raise ValueError("unexpected ndarray state")
    _, shape, dtype, fortran, data = state
    dtype = _resolve(dtype)
    if not isinstance(dtype, np.dtype) or not isinstance(shape, tuple) or \
            not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError("malformed ndarray state")
    order = "F" if fortran else "C"
    size = math.prod(shape)
    if dtype.hasobject:
        if not isinstance(data, list) or len(data) != size:
            raise ValueError(f"object array of shape {shape} with {type(data).__name__} data")
        out = np.empty(size, dtype=object)
        for i, v in enumerate(data):  # one by one: equal-length lists must stay lists
            out[i] = _resolve(v)
        return out.reshape(shape, order=order)
    if isinstance(data, str):  # Python 2 str read as text
        data = data.encode("latin-1")
    if not isinstance(data, (bytes, bytearray)) or len(data) != size * dtype.itemsize:
        raise ValueError(f"array of shape {shape} and dtype {dtype} with the wrong data length")
    return np.frombuffer(bytes(data), dtype=dtype).reshape(shape, order=order).copy()


def _reduce(func: Any, args: Any) -> Any:
    if not isinstance(func, _Global) or not isinstance(args, tuple):
        raise ValueError("a call of something that is not a permitted NumPy reconstruction")
    if func.kind == _RECONSTRUCT:
        if not (args and isinstance(args[0], _Global) and args[0].kind == _NDARRAY):
            raise ValueError("_reconstruct of something other than numpy.ndarray")
        return _Pending(_NDARRAY, args)
    if func.kind == _DTYPE:
        return _Pending(_DTYPE, args)
    if func.kind == _SCALAR:
        if len(args) != 2:
            raise ValueError("malformed numpy scalar")
        dtype, data = _resolve(args[0]), args[1]
        if isinstance(data, str):
            data = data.encode("latin-1")
        if not isinstance(dtype, np.dtype) or dtype.hasobject or \
                not isinstance(data, bytes) or len(data) != dtype.itemsize:
            raise ValueError("malformed numpy scalar")
        return np.frombuffer(data, dtype=dtype)[0]
    if func.kind == _ENCODE:
        if len(args) != 2 or not isinstance(args[0], str) or \
                _text(args[1]).lower() not in ("latin1", "latin-1"):
            raise ValueError("_codecs.encode other than a latin-1 encoding of a string")
        return args[0].encode("latin-1")
    raise ValueError(f"{func.kind} cannot be called")


def parse_pickle(data: bytes, where: str = "pickle") -> Any:
    """Decode a pickle stream of plain data and NumPy arrays, calling nothing.

    ``where`` names the source in error messages. Python 2 strings come back as ``bytes``.
    """
    try:
        return _parse(memoryview(data).tobytes(), where)
    except ValueError as e:
        if str(e).startswith(where):
            raise
        raise ValueError(f"{where}: refusing to load: {e} (only plain data and NumPy arrays "
                         "are read; the file is not unpickled)") from None
    except (IndexError, KeyError, struct.error, UnicodeDecodeError, TypeError) as e:
        raise ValueError(f"{where}: malformed pickle stream ({type(e).__name__}: {e})") from None


def _parse(data: bytes, where: str) -> Any:  # noqa: C901 - one dispatch over opcodes
    stack: list[Any] = []
    marks: list[int] = []
    # int runs appended to lists, decoded together later (before anything reads the lists)
    pending: list[tuple[list, int, int]] = []
    pending_ids: set[int] = set()

    def flush() -> None:
        if pending:
            _decode_runs(data, pending)
            pending.clear()
            pending_ids.clear()

    memo: dict[int, Any] = {}
    pos, n = 0, len(data)
    unpack_from = struct.unpack_from

    def line() -> bytes:
        nonlocal pos
        end = data.index(b"\n", pos)
        out, pos = data[pos:end], end + 1
        return out

    def take(k: int) -> bytes:
        nonlocal pos
        if pos + k > n:
            raise ValueError("truncated pickle stream")
        out, pos = data[pos:pos + k], pos + k
        return out

    def pop_mark() -> list[Any]:
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    def push_global(module: str, name: str) -> None:
        kind = _GLOBALS.get((module, name))
        if kind is None:
            raise ValueError(f"it names {module}.{name}")
        stack.append(_Global(kind))

    while pos < n:
        op = data[pos]
        pos += 1
        if op in (0x4B, 0x4D, 0x4A):  # K / M / J: a run of small ints (the bulk of IMDB)
            m = _INT_RUN.match(data, pos - 1)
            if m is None:
                raise ValueError("truncated pickle stream")
            end = m.end()
            if end < n and data[end] == 0x65 and marks and marks[-1] == len(stack) \
                    and stack and isinstance(stack[-1], list):  # MARK ints APPENDS
                marks.pop()
                pending.append((stack[-1], pos - 1, end))
                pending_ids.add(id(stack[-1]))
                pos = end + 1
            else:
                stack.extend(_decode_int_run(m.group()))
                pos = end
        elif op == 0x65:  # e APPENDS
            items = pop_mark()
            lst = stack[-1]
            if id(lst) in pending_ids:
                flush()
            if not isinstance(lst, list):
                raise ValueError("APPENDS to a non-list")
            lst.extend(items)
        elif op == 0x61:  # a APPEND
            v = stack.pop()
            if id(stack[-1]) in pending_ids:
                flush()
            if not isinstance(stack[-1], list):
                raise ValueError("APPEND to a non-list")
            stack[-1].append(v)
        elif op == 0x5D:  # ] EMPTY_LIST
            stack.append([])
        elif op == 0x28:  # ( MARK
            marks.append(len(stack))
        elif op == 0x71:  # q BINPUT
            memo[data[pos]] = stack[-1]
            pos += 1
        elif op == 0x72:  # r LONG_BINPUT
            memo[unpack_from("<I", data, pos)[0]] = stack[-1]
            pos += 4
        elif op == 0x94:  # MEMOIZE
            memo[len(memo)] = stack[-1]
        elif op == 0x70:  # p PUT
            memo[int(line())] = stack[-1]
        elif op == 0x68:  # h BINGET
            stack.append(_resolve(memo[data[pos]]))
            pos += 1
        elif op == 0x6A:  # j LONG_BINGET
            stack.append(_resolve(memo[unpack_from("<I", data, pos)[0]]))
            pos += 4
        elif op == 0x67:  # g GET
            stack.append(_resolve(memo[int(line())]))
        elif op == 0x80:  # PROTO
            if data[pos] > 5:
                raise ValueError(f"unsupported pickle protocol {data[pos]}")
            pos += 1
        elif op == 0x95:  # FRAME
            pos += 8
        elif op == 0x2E:  # . STOP
            flush()
            if len(stack) != 1:
                raise ValueError("malformed pickle stream (stack at STOP)")
            return _resolve(stack[0])
        elif op == 0x4E:  # N NONE
            stack.append(None)
        elif op == 0x88:
            stack.append(True)
        elif op == 0x89:
            stack.append(False)
        elif op == 0x49:  # I INT (protocol 0; 01/00 are booleans)
            s = line()
            stack.append(True if s == b"01" else False if s == b"00" else int(s))
        elif op == 0x4C:  # L LONG
            stack.append(int(line().rstrip(b"L")))
        elif op == 0x8A:  # LONG1
            k = data[pos]
            pos += 1
            stack.append(int.from_bytes(take(k), "little", signed=True))
        elif op == 0x8B:  # LONG4
            k = unpack_from("<i", data, pos)[0]
            pos += 4
            stack.append(int.from_bytes(take(k), "little", signed=True))
        elif op == 0x47:  # G BINFLOAT
            stack.append(unpack_from(">d", data, pos)[0])
            pos += 8
        elif op == 0x46:  # F FLOAT
            stack.append(float(line()))
        elif op in (0x55, 0x43):  # U SHORT_BINSTRING / C SHORT_BINBYTES
            k = data[pos]
            pos += 1
            stack.append(take(k))
        elif op in (0x54, 0x42):  # T BINSTRING / B BINBYTES
            k = unpack_from("<I", data, pos)[0]
            pos += 4
            stack.append(take(k))
        elif op == 0x8E:  # BINBYTES8
            k = unpack_from("<Q", data, pos)[0]
            pos += 8
            stack.append(take(k))
        elif op == 0x53:  # S STRING: a quoted Python 2 literal
            s = line()
            if len(s) < 2 or s[0] != s[-1] or s[:1] not in (b"'", b'"'):
                raise ValueError("malformed STRING")
            stack.append(codecs.escape_decode(s[1:-1])[0])
        elif op == 0x8C:  # SHORT_BINUNICODE
            k = data[pos]
            pos += 1
            stack.append(take(k).decode("utf-8", "surrogatepass"))
        elif op == 0x58:  # X BINUNICODE
            k = unpack_from("<I", data, pos)[0]
            pos += 4
            stack.append(take(k).decode("utf-8", "surrogatepass"))
        elif op == 0x8D:  # BINUNICODE8
            k = unpack_from("<Q", data, pos)[0]
            pos += 8
            stack.append(take(k).decode("utf-8", "surrogatepass"))
        elif op == 0x56:  # V UNICODE
            stack.append(line().decode("raw-unicode-escape"))
        elif op == 0x6C:  # l LIST
            stack.append(pop_mark())
        elif op == 0x29:  # ) EMPTY_TUPLE
            stack.append(())
        elif op == 0x74:  # t TUPLE
            stack.append(tuple(pop_mark()))
        elif op in (0x85, 0x86, 0x87):  # TUPLE1..3
            k = op - 0x84
            items = tuple(stack[-k:])
            del stack[-k:]
            stack.append(items)
        elif op == 0x7D:  # } EMPTY_DICT
            stack.append({})
        elif op == 0x64:  # d DICT
            items = pop_mark()
            stack.append(dict(zip(items[::2], items[1::2])))
        elif op == 0x73:  # s SETITEM
            v, k = stack.pop(), stack.pop()
            if not isinstance(stack[-1], dict):
                raise ValueError("SETITEM on a non-dict")
            stack[-1][k] = v
        elif op == 0x75:  # u SETITEMS
            items = pop_mark()
            if not isinstance(stack[-1], dict):
                raise ValueError("SETITEMS on a non-dict")
            stack[-1].update(zip(items[::2], items[1::2]))
        elif op == 0x63:  # c GLOBAL
            module = line().decode("ascii")
            push_global(module, line().decode("ascii"))
        elif op == 0x93:  # STACK_GLOBAL
            name, module = stack.pop(), stack.pop()
            if not (isinstance(module, str) and isinstance(name, str)):
                raise ValueError("STACK_GLOBAL of non-strings")
            push_global(module, name)
        elif op == 0x52:  # R REDUCE
            flush()
            args = stack.pop()
            stack[-1] = _reduce(stack[-1], args)
        elif op == 0x62:  # b BUILD
            flush()
            state = stack.pop()
            obj = stack[-1]
            if not isinstance(obj, _Pending) or obj.value is not None or \
                    not isinstance(state, tuple):
                raise ValueError("BUILD on something other than a NumPy array or dtype")
            obj.value = (_make_array(obj.args, state) if obj.kind == _NDARRAY
                         else _make_dtype(obj.args, state))
            stack[-1] = obj.value
        elif op == 0x30:  # 0 POP
            if marks and marks[-1] == len(stack):
                marks.pop()
            else:
                stack.pop()
        elif op == 0x31:  # 1 POP_MARK
            pop_mark()
        else:
            raise ValueError(f"unsupported pickle opcode {bytes([op])!r} at byte {pos - 1}")
    raise ValueError("truncated pickle stream (no STOP)")


def _read_member(buf: bytes, where: str) -> np.ndarray:
    fp = io.BytesIO(buf)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version in ((2, 0), (3, 0)):
        # 3.0 differs from 2.0 only in the header's text encoding (UTF-8 vs latin-1)
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"{where}: unsupported .npy format version {version}")
    if not dtype.hasobject:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=False)
    arr = parse_pickle(buf[fp.tell():], where)
    if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape) or not arr.dtype.hasobject:
        raise ValueError(f"{where}: the pickled data is not the object array of shape "
                         f"{tuple(shape)} its header announces")
    return arr


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file as ``{name: array}``. Numeric arrays are read with
    ``allow_pickle=False``; object arrays (ragged sequences) are decoded by
    :func:`parse_pickle`, so a tampered file cannot run code."""
    path = os.fspath(path)
    out = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".npy"):
                    out[name[:-4]] = _read_member(archive.read(name), f"{path}:{name}")
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not an .npz (zip) file: {e}") from None
    return out
