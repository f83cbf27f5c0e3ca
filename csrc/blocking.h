/* blocking.h - helpers shared by the dense (driver.c) and sparse-A (sparse.c) drivers:
 * the per-call floating-point environment and the block/range arithmetic both must agree on
 * for their results to be bitwise the same. */
#ifndef FASTFF_BLOCKING_H
#define FASTFF_BLOCKING_H

#include "internal.h"

#if FASTFF_X86
#include <xmmintrin.h>
#endif

/* Flush-to-zero / denormals-are-zero for the duration of one call in one thread; the
 * caller's MXCSR is restored afterwards so no global state leaks. */
typedef unsigned int fpenv_t;

static inline fpenv_t fpenv_enter(void)
{
#if FASTFF_X86
    fpenv_t old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
#else
    return 0;
#endif
}

static inline void fpenv_leave(fpenv_t old)
{
#if FASTFF_X86
    _mm_setcsr(old);
#else
    (void)old;
#endif
}

static inline idx_t round_up(idx_t x, idx_t unit) { return (x + unit - 1) / unit * unit; }

/* (rows - 1) * ld + ld must fit in int64 */
static inline int ld_fits(idx_t rows, idx_t ld) { return rows <= 0 || ld <= INT64_MAX / rows; }

/* K block size: the K range split into equal blocks no larger than kc_max. Depends on k
 * only, never on the thread layout, which keeps results bitwise reproducible. */
static inline idx_t k_block(idx_t k, idx_t kc_max)
{
    const idx_t nblocks = (k + kc_max - 1) / kc_max;
    return nblocks <= 1 ? k : (k + nblocks - 1) / nblocks;
}

/* Block size for `len` split into equal blocks no larger than `max`, rounded up to `unit`. */
static inline idx_t even_block(idx_t len, idx_t max, idx_t unit)
{
    const idx_t nblocks = (len + max - 1) / max;
    const idx_t blk = round_up((len + nblocks - 1) / nblocks, unit);
    return blk < max ? blk : max;
}

/* Part `idx` of `parts` of [0, len) with boundaries at multiples of `unit`. */
static inline void split_range(idx_t len, idx_t unit, int parts, int idx, idx_t *lo, idx_t *hi)
{
    const idx_t blocks = (len + unit - 1) / unit;
    idx_t b0 = blocks * idx / parts, b1 = blocks * (idx + 1) / parts;
    *lo = b0 * unit < len ? b0 * unit : len;
    *hi = b1 * unit < len ? b1 * unit : len;
}

#endif /* FASTFF_BLOCKING_H */
