/* internal.h - types shared by the parts of the C core (not installed, not public).
 *
 * The core is split BLIS-style:
 *   ukr_*.c      microkernels: one MR x NR register tile C (+)= A_panel . B_panel
 *   macrokernel  loops MR x NR tiles over one packed MC x KC block of A and KC x NC block of B
 *   pack         packing of A and B blocks into microkernel panel order
 *   small        unpacked path for tiny M (single-row predict)
 *   sparse       op(A) mostly zeros: multiply only its nonzeros, bitwise as the dense path
 *   epilogue     alpha/beta/bias/activation rules shared by every kernel
 *   driver       argument checks, threading, FTZ/DAZ, blocking loops
 *   dispatch     which kernel set runs (CPU features, FASTFF_KERNEL, fastff_set_kernel)
 */
#ifndef FASTFF_INTERNAL_H
#define FASTFF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fastff.h"

typedef int64_t idx_t;

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#define FASTFF_X86 1
#else
#define FASTFF_X86 0
#endif

/* What a microkernel does with its tile once the K loop is done.
 * first: this is the first K block -> c = alpha*acc (+ beta*c if beta != 0)
 * else:  c = alpha*acc + c
 * last:  the last K block -> then c += bias[j] and the activation. */
typedef struct {
    float alpha, beta, param;
    int first, last, act;
    const float *bias; /* already offset to the tile's first column, or NULL */
} epi_s;

typedef struct {
    double alpha, beta, param;
    int first, last, act;
    const double *bias;
} epi_d;

/* Microkernel: acc = sum_p a[p*MR + i] * b[p*ldb + j] over kc, then epilogue into the
 * mr x nr (<= MR x NR) corner of c. A panels are zero padded to MR; B rows hold NR readable
 * values (ldb = NR for a packed panel, the matrix row stride for a full panel read in place). */
typedef void (*ukr_s_fn)(idx_t kc, const float *a, const float *b, idx_t ldb, float *c,
                         idx_t ldc, int mr, int nr, const epi_s *e);
typedef void (*ukr_d_fn)(idx_t kc, const double *a, const double *b, idx_t ldb, double *c,
                         idx_t ldc, int mr, int nr, const epi_d *e);

/* The same with A read in place: A(i, p) = a[i*lda + p] (row-major op(A), trans_a = 0), all
 * MR rows present. Same FMAs in the same order as the packed kernel, so the same bits. */
typedef void (*ukr_ua_s_fn)(idx_t kc, const float *a, idx_t lda, const float *b, idx_t ldb,
                            float *c, idx_t ldc, int mr, int nr, const epi_s *e);
typedef void (*ukr_ua_d_fn)(idx_t kc, const double *a, idx_t lda, const double *b, idx_t ldb,
                            double *c, idx_t ldc, int mr, int nr, const epi_d *e);

/* Elementwise activation of one contiguous row, in place (tanh, sigmoid, elu, gelu). */
typedef void (*act_s_fn)(float *x, idx_t n, int act, float param);
typedef void (*act_d_fn)(double *x, idx_t n, int act, double param);

/* Small path: C rows [0, m) x columns [j0, j1) straight from unpacked A and B.
 * A(i, p) = a[i*rsa + p*csa]; B is row-contiguous (tb = 0: B(p, j) = b[p*ldb + j])
 * or column-contiguous (tb = 1: B(p, j) = b[j*ldb + p], then csa == 1). Full K,
 * e->first = e->last = 1. */
typedef void (*small_s_fn)(idx_t m, idx_t j0, idx_t j1, idx_t k, const float *a, idx_t rsa,
                           idx_t csa, int tb, const float *b, idx_t ldb, float *c, idx_t ldc,
                           const epi_s *e);
typedef void (*small_d_fn)(idx_t m, idx_t j0, idx_t j1, idx_t k, const double *a, idx_t rsa,
                           idx_t csa, int tb, const double *b, idx_t ldb, double *c, idx_t ldc,
                           const epi_d *e);

/* Blocking of one kernel and precision: the register tile and the cache blocks.
 * mc is a multiple of mr, nc a multiple of nr. m <= small_m or n <= small_n uses the
 * unpacked small path (see driver_impl.h for the layouts it takes). */
typedef struct {
    int mr, nr;
    idx_t mc, kc, nc;
    idx_t small_m, small_n;
} fastff_blocking;

/* Packing of an A block (see pack.c); a kernel set may bring a faster one. */
typedef void (*pack_a_s_fn)(int ta, const float *a, idx_t lda, idx_t i0, idx_t p0, idx_t mc,
                            idx_t kc, int mr, float *dst);
typedef void (*pack_a_d_fn)(int ta, const double *a, idx_t lda, idx_t i0, idx_t p0, idx_t mc,
                            idx_t kc, int mr, double *dst);
typedef void (*pack_b_s_fn)(int tb, const float *b, idx_t ldb, idx_t p0, idx_t j0, idx_t kc,
                            idx_t nc, int nr, float *dst);
typedef void (*pack_b_d_fn)(int tb, const double *b, idx_t ldb, idx_t p0, idx_t j0, idx_t kc,
                            idx_t nc, int nr, double *dst);

/* Sparse-A path (sparse.c). nz: positions (int32) and values of the nonzeros of x[0, n), in
 * order; returns their count. spchain: one row c[0, ncols) from the chain sum over t of
 * val[t] * B[idx[t], 0:ncols] (B row-major, row stride ldb), accumulated in t order from zero
 * with the multiply-add of the set's microkernel, then the epilogue e (bias = column 0's). */
typedef idx_t (*nz_s_fn)(const float *x, idx_t n, int32_t *idx, float *val);
typedef idx_t (*nz_d_fn)(const double *x, idx_t n, int32_t *idx, double *val);
typedef void (*spchain_s_fn)(idx_t nnz, const int32_t *idx, const float *val, const float *b,
                             idx_t ldb, idx_t ncols, float *c, const epi_s *e);
typedef void (*spchain_d_fn)(idx_t nnz, const int32_t *idx, const double *val, const double *b,
                             idx_t ldb, idx_t ncols, double *c, const epi_d *e);

typedef struct {
    fastff_blocking blk;
    ukr_s_fn ukr;
    act_s_fn act;
    small_s_fn small;
    pack_a_s_fn pack_a;
    pack_b_s_fn pack_b;
    nz_s_fn nz;
    spchain_s_fn spchain;
    ukr_ua_s_fn ukr_ua; /* NULL: A is always packed */
} kern_s;

typedef struct {
    fastff_blocking blk;
    ukr_d_fn ukr;
    act_d_fn act;
    small_d_fn small;
    pack_a_d_fn pack_a;
    pack_b_d_fn pack_b;
    nz_d_fn nz;
    spchain_d_fn spchain;
    ukr_ua_d_fn ukr_ua;
} kern_d;

typedef struct {
    const char *name;
    int (*supported)(void);
    const kern_s *s;
    const kern_d *d;
} fastff_kernel;

extern const fastff_kernel fastff_kernel_ref;
#if FASTFF_X86
extern const fastff_kernel fastff_kernel_avx2;
extern const fastff_kernel fastff_kernel_avx512;
#endif

/* dispatch.c */
const fastff_kernel *fastff_active_kernel(void);

/* epilogue.c: portable pieces every kernel may use */
void fastff_store_tile_s(const float *acc, int ldacc, float *c, idx_t ldc, int mr, int nr,
                         const epi_s *e, act_s_fn act);
void fastff_store_tile_d(const double *acc, int ldacc, double *c, idx_t ldc, int mr, int nr,
                         const epi_d *e, act_d_fn act);
void fastff_act_row_ref_s(float *x, idx_t n, int act, float param);
void fastff_act_row_ref_d(double *x, idx_t n, int act, double param);
int fastff_act_is_elementwise_heavy(int act);

/* ukr_ref.c: the portable small-M path (also the fallback of the SIMD sets) */
void fastff_small_ref_s(idx_t m, idx_t j0, idx_t j1, idx_t k, const float *a, idx_t rsa,
                        idx_t csa, int tb, const float *b, idx_t ldb, float *c, idx_t ldc,
                        const epi_s *e);
void fastff_small_ref_d(idx_t m, idx_t j0, idx_t j1, idx_t k, const double *a, idx_t rsa,
                        idx_t csa, int tb, const double *b, idx_t ldb, double *c, idx_t ldc,
                        const epi_d *e);

/* pack.c */
void fastff_pack_a_s(int ta, const float *a, idx_t lda, idx_t i0, idx_t p0, idx_t mc, idx_t kc,
                     int mr, float *dst);
void fastff_pack_b_s(int tb, const float *b, idx_t ldb, idx_t p0, idx_t j0, idx_t kc, idx_t nc,
                     int nr, float *dst);
void fastff_pack_a_d(int ta, const double *a, idx_t lda, idx_t i0, idx_t p0, idx_t mc, idx_t kc,
                     int mr, double *dst);
void fastff_pack_b_d(int tb, const double *b, idx_t ldb, idx_t p0, idx_t j0, idx_t kc, idx_t nc,
                     int nr, double *dst);

/* macrokernel.c */
/* B panels: the first nfull panels are read at b + jr*bstep with row stride ldb (packed:
 * bstep = kc, ldb = NR; in place: bstep = 1, ldb = matrix stride); a remaining edge panel
 * is read packed from bedge (row stride NR). */
/* A panels: packed at ap (panel ir at ap + ir*kc), or, when aip is not NULL, the full MR-row
 * panels read in place at aip + ir*lda (kn->ukr_ua) and only a last partial one packed at ap. */
void fastff_macro_s(const kern_s *kn, idx_t mc, idx_t nc, idx_t kc, const float *ap,
                    const float *aip, idx_t lda, const float *b, idx_t bstep, idx_t ldb,
                    idx_t nfull, const float *bedge, float *c, idx_t ldc, const epi_s *e);
void fastff_macro_d(const kern_d *kn, idx_t mc, idx_t nc, idx_t kc, const double *ap,
                    const double *aip, idx_t lda, const double *b, idx_t bstep, idx_t ldb,
                    idx_t nfull, const double *bedge, double *c, idx_t ldc, const epi_d *e);

/* threads.c */
int fastff_threads_for(double flops, idx_t tiles);
void *fastff_thread_buffer(size_t bytes);

#endif /* FASTFF_INTERNAL_H */
