/* fastff.h - public API of the fastff C GEMM core.
 *
 * C = act(alpha * op(A) @ op(B) + beta * C + bias), row-major storage.
 * op(A) is m x k, op(B) is k x n, C is m x n. With trans_a = 0, A is stored
 * m x k (lda >= max(1, k)); with trans_a = 1 it is stored k x m (lda >= max(1, m)).
 * Likewise B: k x n (ldb >= max(1, n)) or n x k when transposed (ldb >= max(1, k)).
 * ldc >= max(1, n). bias is NULL or n values (one per output column).
 * When beta == 0, C is not read (NaN/Inf already in C do not propagate).
 *
 * Every function returns FASTFF_OK (0) or a negative error code; nothing aborts,
 * prints, or writes outside the given C matrix. Results are bitwise identical
 * whatever the thread count (the K loop is never split across threads).
 *
 * The block between the cdef markers is parsed by cffi (csrc/build_core.py):
 * keep it to plain declarations and integer #defines.
 */
#ifndef FASTFF_H
#define FASTFF_H

#include <stdint.h>

#define FASTFF_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* cdef-begin */
#define FASTFF_OK 0
#define FASTFF_ERR_DIM -1
#define FASTFF_ERR_LD -2
#define FASTFF_ERR_NULL -3
#define FASTFF_ERR_TRANS -4
#define FASTFF_ERR_ACT -5
#define FASTFF_ERR_NOMEM -6
#define FASTFF_ERR_THREADS -7
#define FASTFF_ERR_KERNEL -8
#define FASTFF_ERR_OVERFLOW -9
#define FASTFF_ERR_DTYPE -10

#define FASTFF_THREADING_POOL 0
#define FASTFF_THREADING_OPENMP 1

#define FASTFF_ACT_NONE 0
#define FASTFF_ACT_RELU 1
#define FASTFF_ACT_LEAKY_RELU 2
#define FASTFF_ACT_TANH 3
#define FASTFF_ACT_SIGMOID 4
#define FASTFF_ACT_ELU 5
#define FASTFF_ACT_GELU_TANH 6 /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
#define FASTFF_ACT_GELU 7      /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
#define FASTFF_ACT_MAX 7       /* the largest id above (the argument check's bound) */

int32_t fastff_sgemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc, const float *bias,
                     int32_t act, float act_param);
int32_t fastff_dgemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k,
                     double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                     double beta, double *c, int64_t ldc, const double *bias,
                     int32_t act, double act_param);

/* Both precisions behind one entry with untyped pointers (for bindings that want one call
 * shape): dtype 0 = float32 (alpha, beta, act_param rounded to float), 1 = float64. */
int32_t fastff_gemm(int32_t dtype, int32_t trans_a, int32_t trans_b, int64_t m, int64_t n,
                    int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                    int64_t ldb, double beta, void *c, int64_t ldc, const void *bias,
                    int32_t act, double act_param);

/* Same contract and bitwise the same C as fastff_sgemm / fastff_dgemm (for finite B: a zero
 * of A times an infinite B is NaN in the dense product and is skipped here), faster when
 * op(A) is mostly zeros (raw pixels, one-hot or bag-of-words inputs, dropped-out
 * activations): only A's nonzeros are multiplied. A's density is sampled first;
 * dense-looking A and trans_b = 1 take the dense path. */
int32_t fastff_sgemm_sparse_a(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n,
                              int64_t k, float alpha, const float *a, int64_t lda,
                              const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                              const float *bias, int32_t act, float act_param);
int32_t fastff_dgemm_sparse_a(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n,
                              int64_t k, double alpha, const double *a, int64_t lda,
                              const double *b, int64_t ldb, double beta, double *c, int64_t ldc,
                              const double *bias, int32_t act, double act_param);
/* both precisions behind one entry, like fastff_gemm */
int32_t fastff_gemm_sparse_a(int32_t dtype, int32_t trans_a, int32_t trans_b, int64_t m,
                             int64_t n, int64_t k, double alpha, const void *a, int64_t lda,
                             const void *b, int64_t ldb, double beta, void *c, int64_t ldc,
                             const void *bias, int32_t act, double act_param);

/* Batches (this thread only): after fastff_batch_begin, the GEMM calls of the entries above
 * check their arguments (returning an error at once) and are recorded instead of run, up to
 * 4 (later ones run at once); fastff_batch_end runs the recorded calls as one parallel call
 * - one thread plan, all their tasks in one pool job - and returns the first error code.
 * The calls must be independent (none reads what another writes) and their arrays must stay
 * valid until the end. Results are bitwise those of the calls made one by one. begin while
 * a batch is open keeps it open; end without one returns FASTFF_OK. */
int32_t fastff_batch_begin(void);
int32_t fastff_batch_end(void);

/* fn(ptrs, sizes, scal, lo, hi) over pieces of [0, n) cut at multiples of align, on the
 * worker pool (or this thread alone, when the thread plan says so), every piece under the
 * caller's floating-point environment: for elementwise kernels compiled elsewhere (the
 * compiled training step's optimizer update, a Numba cfunc), whose results then do not
 * depend on the split. */
int32_t fastff_parallel_range(void *fn, void *const *ptrs, const int64_t *sizes,
                              const double *scal, int64_t n, int64_t align);

int32_t fastff_set_num_threads(int32_t n);
int32_t fastff_get_num_threads(void);
int32_t fastff_max_threads(void);
int32_t fastff_has_openmp(void);
/* Who runs the threads: FASTFF_THREADING_POOL (fastff's own pthread pool, tasks claimed
 * dynamically; the default where available) or FASTFF_THREADING_OPENMP (same tasks in an
 * OpenMP region). Environment at load: FASTFF_THREADING=pool|openmp. */
int32_t fastff_set_threading(int32_t mode);
int32_t fastff_get_threading(void);
/* 1 (default; FASTFF_ADAPTIVE_THREADS=0 turns it off): per call shape, run on one thread
 * when measured times say more threads do not pay. 0: always the thread count set. */
int32_t fastff_set_adaptive_threads(int32_t on);
int32_t fastff_get_adaptive_threads(void);

int32_t fastff_set_kernel(const char *name);
int32_t fastff_kernel_supported(const char *name);
const char *fastff_kernel_name(void);
const char *fastff_kernel_names(void);
const char *fastff_cpu_features(void);
const char *fastff_version(void);
const char *fastff_strerror(int32_t code);
/* cdef-end */

#ifdef __cplusplus
}
#endif
#endif /* FASTFF_H */
