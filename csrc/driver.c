/* driver.c - the public GEMM entry points: argument checks, FTZ/DAZ, the small-M path,
 * OpenMP threading over the outer (M, N) loops and the blocked Goto loops. */
#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif
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

/* up to this many rows of C per thread, row-major B is read in place (see gemm_region) */
#ifndef B_IN_PLACE_MAX_ROWS
#define B_IN_PLACE_MAX_ROWS 512
#endif

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

/* Threads arranged tm x tn over C. Splitting M makes every row group pack its own copy of
 * B (k x n), splitting N makes every column group pack A (m x k): pick the layout that
 * packs the least while keeping the tiles balanced. */
static void choose_grid(int nth, idx_t m, idx_t n, idx_t k, int mr, int nr, int *tm, int *tn)
{
    double best = -1;
    *tm = nth;
    *tn = 1;
    for (int a = 1; a <= nth; a++) {
        if (nth % a) continue;
        const int b = nth / a;
        const idx_t mt = (m + mr - 1) / mr, nt = (n + nr - 1) / nr;
        if (a > mt || b > nt) continue;
        const double rows = (double)((mt + a - 1) / a) * mr;
        const double cols = (double)((nt + b - 1) / b) * nr;
        /* per-thread cost: compute (FMA units) + packing (an element costs ~16 FMAs) */
        const double cost = rows * cols * (double)k + 16.0 * (double)k * (rows + cols);
        if (best < 0 || cost < best) {
            best = cost;
            *tm = a;
            *tn = b;
        }
    }
}

#define FF_PREC 1
#include "tmpl.h"
#include "driver_impl.h"
#undef FF_PREC
#define FF_PREC 2
#include "tmpl.h"
#include "driver_impl.h"

int32_t fastff_sgemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc, const float *bias, int32_t act,
                     float act_param)
{
    return gemm_s(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act,
                  act_param);
}

int32_t fastff_dgemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k,
                     double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                     double beta, double *c, int64_t ldc, const double *bias, int32_t act,
                     double act_param)
{
    return gemm_d(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act,
                  act_param);
}

int32_t fastff_gemm(int32_t dtype, int32_t trans_a, int32_t trans_b, int64_t m, int64_t n,
                    int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                    int64_t ldb, double beta, void *c, int64_t ldc, const void *bias,
                    int32_t act, double act_param)
{
    if (dtype == 0)
        return gemm_s(trans_a, trans_b, m, n, k, (float)alpha, (const float *)a, lda,
                      (const float *)b, ldb, (float)beta, (float *)c, ldc, (const float *)bias,
                      act, (float)act_param);
    if (dtype == 1)
        return gemm_d(trans_a, trans_b, m, n, k, alpha, (const double *)a, lda,
                      (const double *)b, ldb, beta, (double *)c, ldc, (const double *)bias, act,
                      act_param);
    return FASTFF_ERR_DTYPE;
}
