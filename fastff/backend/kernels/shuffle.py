"""``np.random.default_rng([seed, epoch]).permutation(n)`` as compiled code, bit for bit.

``fit`` shuffles every epoch with a generator seeded from (model seed, epoch), so a resumed run
sees the same order. Building that generator in NumPy costs ~25 µs (SeedSequence hashing,
PCG64 seeding, a Generator object) — more than a whole XOR training step. This module runs
the same algorithms without Python objects: SeedSequence's entropy pool and
``generate_state``, PCG64's seeding and XSL-RR output (128-bit arithmetic on two uint64
halves), and ``Generator.shuffle``'s Fisher-Yates with bounded masked rejection sampling on
buffered 32-bit draws. ``tests/test_fastpath.py`` checks it against NumPy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT, NJIT_INLINE

_U = np.uint64
_M32 = _U(0xFFFFFFFF)
_INIT_A = _U(0x43B0D7E5)
_MULT_A = _U(0x931E8875)
_INIT_B = _U(0x8B51F9DD)
_MULT_B = _U(0x58F38DED)
_MIX_L = _U(0xCA01F9DD)
_MIX_R = _U(0x4973F715)
_MUL_HI = _U(2549297995355413924)
_MUL_LO = _U(4865540595714422341)
_S16 = _U(16)
_S32 = _U(32)


@njit(**NJIT_INLINE)
def _hashmix(v, hc):
    v = (v ^ hc[0]) & _M32
    hc[0] = (hc[0] * _MULT_A) & _M32
    v = (v * hc[0]) & _M32
    return v ^ (v >> _S16)


@njit(**NJIT_INLINE)
def _mix(x, y):
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> _S16)


@njit(**NJIT_INLINE)
def _mul64(a, b):
    """Full 128-bit product of two uint64 as (hi, lo)."""
    a0 = a & _M32
    a1 = a >> _S32
    b0 = b & _M32
    b1 = b >> _S32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    lo = (p00 & _M32) | (mid << _S32)
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    return hi, lo


@njit(**NJIT_INLINE)
def _step(st, inc):
    """PCG64 state advance: st = st * MULT + inc (mod 2^128); st, inc are [hi, lo]."""
    hi, lo = _mul64(st[1], _MUL_LO)
    hi = hi + st[1] * _MUL_HI + st[0] * _MUL_LO
    nlo = lo + inc[1]
    carry = _U(1) if nlo < lo else _U(0)
    st[0] = hi + inc[0] + carry
    st[1] = nlo


@njit(**NJIT_INLINE)
def _next64(st, inc):
    _step(st, inc)
    v = st[0] ^ st[1]
    r = st[0] >> _U(58)
    return (v >> r) | (v << ((_U(64) - r) & _U(63)))


@njit(**NJIT_INLINE)
def _words(x, out, k):
    """Append the little-endian 32-bit words of the non-negative int x (0 -> one word)."""
    u = _U(x)
    out[k] = u & _M32
    k += 1
    u = u >> _S32
    while u != _U(0):
        out[k] = u & _M32
        k += 1
        u = u >> _S32
    return k


@njit(**NJIT)
def seeded_permutation(seed, epoch, out):
    """out[:] = np.random.default_rng([seed, epoch]).permutation(out.size) (seed, epoch >= 0)."""
    ent = np.zeros(4, np.uint64)
    k = _words(seed, ent, 0)
    k = _words(epoch, ent, k)
    hc = np.empty(1, np.uint64)
    hc[0] = _INIT_A
    pool = np.empty(4, np.uint64)
    for i in range(4):
        pool[i] = _hashmix(ent[i] if i < k else _U(0), hc)
    for s in range(4):
        for d in range(4):
            if s != d:
                pool[d] = _mix(pool[d], _hashmix(pool[s], hc))
    # generate_state(4, uint64): eight 32-bit words cycling over the pool
    h = _INIT_B
    w = np.empty(8, np.uint64)
    for i in range(8):
        v = pool[i % 4] ^ h
        h = (h * _MULT_B) & _M32
        v = (v * h) & _M32
        w[i] = v ^ (v >> _S16)
    u0 = w[0] | (w[1] << _S32)
    u1 = w[2] | (w[3] << _S32)
    u2 = w[4] | (w[5] << _S32)
    u3 = w[6] | (w[7] << _S32)
    inc = np.empty(2, np.uint64)
    inc[0] = (u2 << _U(1)) | (u3 >> _U(63))
    inc[1] = (u3 << _U(1)) | _U(1)
    st = np.zeros(2, np.uint64)
    _step(st, inc)
    lo = st[1] + u1
    st[0] = st[0] + u0 + (_U(1) if lo < st[1] else _U(0))
    st[1] = lo
    _step(st, inc)
    n = out.size
    for i in range(n):
        out[i] = i
    have = False
    buf = _U(0)
    for i in range(n - 1, 0, -1):
        mx = _U(i)
        mask = mx
        mask |= mask >> _U(1)
        mask |= mask >> _U(2)
        mask |= mask >> _U(4)
        mask |= mask >> _U(8)
        mask |= mask >> _U(16)
        mask |= mask >> _U(32)
        while True:
            if mx <= _M32:
                if have:
                    r = buf
                    have = False
                else:
                    nx = _next64(st, inc)
                    buf = nx >> _S32
                    have = True
                    r = nx & _M32
            else:
                r = _next64(st, inc)
            j = r & mask
            if j <= mx:
                break
        jj = np.int64(j)
        t = out[i]
        out[i] = out[jj]
        out[jj] = t
