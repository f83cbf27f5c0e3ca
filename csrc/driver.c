/* driver.c - the public GEMM entry points: argument checks, FTZ/DAZ, the small-M path,
 * tasks over the outer (M, N) loops for the worker pool (pool.c) and the blocked Goto
 * loops. */
#include "blocking.h"
#include "pool.h"

/* tasks per thread of a parallel call: more let a running thread absorb a stalled one's
 * share, fewer pack less (every task packs its own blocks) */
#ifndef FASTFF_TASKS_PER_THREAD
#define FASTFF_TASKS_PER_THREAD 3
#endif

/* up to this many rows of C per thread, row-major B is read in place (see gemm_region) */
#ifndef B_IN_PLACE_MAX_ROWS
#define B_IN_PLACE_MAX_ROWS 512
#endif

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
#include "args_impl.h"
#include "driver_impl.h"
#undef FF_PREC
#define FF_PREC 2
#include "tmpl.h"
#include "args_impl.h"
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
