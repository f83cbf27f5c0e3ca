/* sparse.c - GEMM with a mostly-zero op(A): fastff_sgemm_sparse_a / fastff_dgemm_sparse_a.
 *
 * Inputs of a network's first layer are often mostly zeros (pixels of a dark background,
 * one-hot and bag-of-words features, activations after dropout). Every output element here
 * runs the same multiply-add chain as in fastff_{s,d}gemm over the same K blocks, with the
 * zero terms of A left out; fma(0, b, s) == s for finite b, so the result is bitwise the
 * dense one (tests/test_sparse_gemm.py checks it) and only the time changes: ~density x the
 * dense arithmetic plus one pass over A to find the nonzeros and one over B to check it is
 * finite (a B with inf or NaN runs dense, where 0 * inf = NaN is formed as IEEE says).
 *
 * Per output row the nonzeros of op(A)'s row are listed in order (trans_a = 0: a row of A;
 * trans_a = 1: a column of A, gathered for all of a thread's columns with a counting sort),
 * then each K block's chain goes through the microkernel's epilogue rules. Threads
 * take whole output rows, so results do not depend on the thread count. Dense-looking A
 * (sampled density above SPARSE_MAX_DENSITY), transposed B and tiny calls go to the dense
 * entry point unchanged. */
#include <string.h>

#include "blocking.h"
#include "pool.h"

/* Above this fraction of nonzeros (sampled), the packed dense kernels are faster. */
#ifndef SPARSE_MAX_DENSITY
#define SPARSE_MAX_DENSITY 0.25
#endif
/* Up to this many rows of op(A) (single-sample predict) always run dense: the sparse path
 * must first check that B is finite, a pass over all of B that alone costs what the dense
 * product's one streaming pass over B does (measured, float32 on one AVX2 core: 1x784x256
 * dense 16 us, sparse 32-42 us at densities 0.05-0.5; 2x784x256 dense 25-28 us, sparse
 * 28-41 us). Both give the same bits, so only the time differs. */
#ifndef SPARSE_MIN_ROWS
#define SPARSE_MIN_ROWS 3
#endif
/* rows of stored A sampled for the density estimate */
#define SPARSE_SAMPLE_ROWS 16
/* trans_a = 1 keeps a thread's row and column lists in its scratch buffer, sized for every
 * entry of its columns (pages are touched only for the nonzeros): at most this many
 * potential entries (k x m) in all - 4M, i.e. <= 100 MB of float64 lists - else the dense
 * path runs */
#define SPARSE_MAX_ENTRIES ((idx_t)1 << 22)
/* slack after the nonzero lists: SIMD packing may write a vector past the last entry */
#define SPARSE_PAD 16
/* fixed costs, in dense flops, of one output element (epilogue, store) and of one element
 * of A scanned for nonzeros: they decide, with the chains' flops, whether threads pay */
#define SPARSE_FLOPS_PER_OUTPUT 40.0
#define SPARSE_FLOPS_PER_SCANNED 10.0
/* output rows are handed to threads in units of this many */
#define SPARSE_ROW_UNIT 8
/* tasks per thread of a parallel call (dynamic claiming: see pool.c) */
#define SPARSE_TASKS_PER_THREAD 4

#define FF_PREC 1
#include "tmpl.h"
#include "args_impl.h"
#include "sparse_impl.h"
#undef FF_PREC
#define FF_PREC 2
#include "tmpl.h"
#include "args_impl.h"
#include "sparse_impl.h"

int32_t fastff_sgemm_sparse_a(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k,
                              float alpha, const float *a, int64_t lda, const float *b,
                              int64_t ldb, float beta, float *c, int64_t ldc, const float *bias,
                              int32_t act, float act_param)
{
    return gemm_sparse_a_s(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias,
                           act, act_param);
}

int32_t fastff_dgemm_sparse_a(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k,
                              double alpha, const double *a, int64_t lda, const double *b,
                              int64_t ldb, double beta, double *c, int64_t ldc,
                              const double *bias, int32_t act, double act_param)
{
    return gemm_sparse_a_d(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias,
                           act, act_param);
}

int32_t fastff_gemm_sparse_a(int32_t dtype, int32_t trans_a, int32_t trans_b, int64_t m,
                             int64_t n, int64_t k, double alpha, const void *a, int64_t lda,
                             const void *b, int64_t ldb, double beta, void *c, int64_t ldc,
                             const void *bias, int32_t act, double act_param)
{
    if (dtype == 0)
        return gemm_sparse_a_s(trans_a, trans_b, m, n, k, (float)alpha, (const float *)a, lda,
                               (const float *)b, ldb, (float)beta, (float *)c, ldc,
                               (const float *)bias, act, (float)act_param);
    if (dtype == 1)
        return gemm_sparse_a_d(trans_a, trans_b, m, n, k, alpha, (const double *)a, lda,
                               (const double *)b, ldb, beta, (double *)c, ldc,
                               (const double *)bias, act, act_param);
    return FASTFF_ERR_DTYPE;
}
