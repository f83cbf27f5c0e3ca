/* small_x86_impl.h - the unpacked small path for the x86 kernel sets (no packing at all).
 *
 * Used for tiny M (a single predict row) and tiny N (the 10-wide output layer), where
 * packing would cost as much as the arithmetic. Two forms, full K in registers:
 *   axpy (B row-contiguous, tb = 0): C[r, cols] += A(r, p) * B[p, cols] for R rows and
 *       NVC vectors of columns; A read with any strides (so ta is free);
 *   dot  (tb = 1, A row-contiguous): C[r, j] = sum_p A[r, p] * B[j, p] with vectors along p,
 *       reduced in a fixed order at the end.
 * The accumulators go through a small tile buffer into the shared scalar epilogue
 * (STORE_TILE), so alpha/beta/bias/activation follow exactly the reference rules.
 * The including file defines T, EPI, V, VL, TGT, VINL, the v_* helpers, ACT_ROW, STORE_TILE,
 * SMALL_NAME, SM_V (column vectors per chunk for row groups of 4), SM_R (rows per group
 * when N fits one vector), SM_R2 (rows per group when N fits two), SM_NVC(R) (vectors per chunk when m = R <= 4), SM_WIDE (the
 * largest SM_NVC), DOT_R x DOT_J (dot-form tile), DOT_J1 (dot-form columns when m = 1). */

#define SM_ACC 16 /* most vector accumulators a small-path block holds */

TGT VINL void sm_axpy(const int R, const int NVC, idx_t k, const T *a, idx_t rsa, idx_t csa,
                      const T *b, idx_t ldb, T *c, idx_t ldc, int ncols, const EPI *e)
{
    V acc[SM_ACC]; /* R * NVC <= SM_ACC: one flat, register-sized array (a [8][16] one
                      stayed in memory: too big for GCC's scalar replacement) */
    int cnt[SM_ACC];
#pragma GCC unroll 8
    for (int v = 0; v < NVC; v++) {
        const int left = ncols - v * VL;
        cnt[v] = left <= 0 ? 0 : left >= VL ? VL : left;
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NVC; v++) acc[r * NVC + v] = v_zero();
    if (ncols == NVC * VL) { /* full chunk: plain loads the compiler folds into the FMAs */
        for (idx_t p = 0; p < k; p++) {
            const T *bp = b + p * ldb;
            const T *ap = a + p * csa;
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const V ai = v_set1(ap[r * rsa]);
#pragma GCC unroll 16
                for (int v = 0; v < NVC; v++)
                    acc[r * NVC + v] = v_fma(ai, v_loadu(bp + v * VL), acc[r * NVC + v]);
            }
        }
    } else {
        for (idx_t p = 0; p < k; p++) {
            const T *bp = b + p * ldb;
            const T *ap = a + p * csa;
            V bv[SM_ACC];
#pragma GCC unroll 16
            for (int v = 0; v < NVC; v++) bv[v] = v_loadn(bp + v * VL, cnt[v]);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const V ai = v_set1(ap[r * rsa]);
#pragma GCC unroll 16
                for (int v = 0; v < NVC; v++) acc[r * NVC + v] = v_fma(ai, bv[v], acc[r * NVC + v]);
            }
        }
    }
    _Alignas(64) T tile[SM_ACC * VL];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NVC; v++) v_store(tile + (r * NVC + v) * VL, acc[r * NVC + v]);
    STORE_TILE(tile, NVC * VL, c, ldc, R, ncols, e, ACT_ROW);
}

/* rows [0, m) x columns [j0, j1) in axpy form, R rows at a time, NVC vectors per chunk */
#define SM_SWEEP(R, NVC)                                                                   \
    for (; i + (R) <= m; i += (R))                                                         \
        sm_axpy((R), (NVC), k, a + i * rsa, rsa, csa, bj, ldb, c + i * ldc + jc, ldc, cols, \
                &te)

/* m <= 4 rows: one row group, chunks as wide as the registers allow (SM_NVC(m) vectors),
 * so B is streamed row by row nearly sequentially */
#define DOT_MAX 8

#define SM_MIN(x, y) ((x) < (y) ? (x) : (y))
#define SM_CALL(R, NV) sm_axpy((R), (NV), k, a, rsa, csa, b + jc, ldb, c + jc, ldc, cols, &te)
/* the chunk's vector count shrinks with the columns left (N = 64 must not run 16 vectors) */
#define SM_ROWS_CASE(R)                                                                     \
    case R:                                                                                 \
        for (idx_t jc = j0; jc < j1; jc += SM_NVC(R) * VL) {                                \
            const int cols = (int)(j1 - jc < SM_NVC(R) * VL ? j1 - jc : SM_NVC(R) * VL);    \
            te.bias = e->bias ? e->bias + jc : NULL;                                        \
            if (cols > 8 * VL) SM_CALL(R, SM_NVC(R));                                       \
            else if (cols > 4 * VL) SM_CALL(R, SM_MIN(SM_NVC(R), 8));                       \
            else if (cols > 2 * VL) SM_CALL(R, SM_MIN(SM_NVC(R), 4));                       \
            else if (cols > VL) SM_CALL(R, 2);                                              \
            else SM_CALL(R, 1);                                                             \
        }                                                                                   \
        return;

TGT static void sm_axpy_region(idx_t m, idx_t j0, idx_t j1, idx_t k, const T *a, idx_t rsa,
                               idx_t csa, const T *b, idx_t ldb, T *c, idx_t ldc, const EPI *e)
{
    EPI te = *e;
    const int narrow = j1 - j0 <= VL, two = !narrow && j1 - j0 <= 2 * VL;
    if (!narrow && !two) {
        switch (m) {
            SM_ROWS_CASE(1)
            SM_ROWS_CASE(2)
            SM_ROWS_CASE(3)
            SM_ROWS_CASE(4)
        default:
            break;
        }
    }
    const idx_t step = narrow ? VL : two ? 2 * VL : (idx_t)SM_V * VL;
    for (idx_t jc = j0; jc < j1; jc += step) {
        const int cols = (int)(j1 - jc < step ? j1 - jc : step);
        const T *bj = b + jc;
        te.bias = e->bias ? e->bias + jc : NULL;
        idx_t i = 0;
        if (two) { /* N up to two vectors: all rows in groups, no wasted column vectors */
            SM_SWEEP(SM_R2, 2);
            SM_SWEEP(2, 2);
            SM_SWEEP(1, 2);
        } else if (narrow) {
            SM_SWEEP(SM_R, 1);
            SM_SWEEP(4, 1);
            SM_SWEEP(2, 1);
            SM_SWEEP(1, 1);
        } else {
            SM_SWEEP(4, SM_V);
            SM_SWEEP(3, SM_V);
            SM_SWEEP(2, SM_V);
            SM_SWEEP(1, SM_V);
        }
    }
}

TGT VINL void sm_dot_tile(const int DR, const int DJ, idx_t k, const T *a, idx_t lda,
                          const T *b, idx_t ldb, T *c, idx_t ldc, int nrows, int ncols,
                          const EPI *e)
{
    const T *ar[DOT_MAX], *bc[DOT_MAX]; /* DR, DJ <= DOT_MAX */
#pragma GCC unroll 8
    for (int r = 0; r < DR; r++) ar[r] = a + (r < nrows ? r : 0) * lda;
#pragma GCC unroll 8
    for (int j = 0; j < DJ; j++) bc[j] = b + (j < ncols ? j : 0) * ldb;
    V acc[SM_ACC]; /* DR * DJ <= SM_ACC, flat (see sm_axpy) */
#pragma GCC unroll 8
    for (int r = 0; r < DR; r++)
#pragma GCC unroll 8
        for (int j = 0; j < DJ; j++) acc[r * DJ + j] = v_zero();
    idx_t p = 0;
    for (; p + VL <= k; p += VL) {
        V av[DOT_MAX], bv[DOT_MAX];
#pragma GCC unroll 8
        for (int r = 0; r < DR; r++) av[r] = v_loadu(ar[r] + p);
#pragma GCC unroll 8
        for (int j = 0; j < DJ; j++) bv[j] = v_loadu(bc[j] + p);
#pragma GCC unroll 8
        for (int r = 0; r < DR; r++)
#pragma GCC unroll 8
            for (int j = 0; j < DJ; j++) acc[r * DJ + j] = v_fma(av[r], bv[j], acc[r * DJ + j]);
    }
    if (p < k) {
        const int left = (int)(k - p);
        V av[DOT_MAX], bv[DOT_MAX];
#pragma GCC unroll 8
        for (int r = 0; r < DR; r++) av[r] = v_loadn(ar[r] + p, left);
#pragma GCC unroll 8
        for (int j = 0; j < DJ; j++) bv[j] = v_loadn(bc[j] + p, left);
#pragma GCC unroll 8
        for (int r = 0; r < DR; r++)
#pragma GCC unroll 8
            for (int j = 0; j < DJ; j++) acc[r * DJ + j] = v_fma(av[r], bv[j], acc[r * DJ + j]);
    }
    T tile[DOT_MAX * DOT_MAX];
#pragma GCC unroll 8
    for (int r = 0; r < DR; r++)
#pragma GCC unroll 8
        for (int j = 0; j < DJ; j++) tile[r * DJ + j] = v_hsum(acc[r * DJ + j]);
    STORE_TILE(tile, DJ, c, ldc, nrows, ncols, e, ACT_ROW);
}

/* column form, for A stored k x m (rsa == 1) and narrow N (the weight gradient of a 10-wide
 * layer): VL consecutive rows A(i.., p) are one contiguous vector, each B(p, j) a broadcast;
 * acc[j] is column j of VL rows of C, so every lane does useful work. J = n exactly. */
TGT VINL void sm_col_block(const int J, idx_t rows, idx_t k, const T *a, idx_t csa, const T *b,
                           idx_t ldb, T *c, idx_t ldc, const EPI *e)
{
    V acc[SM_COLN];
#pragma GCC unroll 16
    for (int j = 0; j < J; j++) acc[j] = v_zero();
    const int full = rows >= VL;
    for (idx_t p = 0; p < k; p++) {
        const V av = full ? v_loadu(a + p * csa) : v_loadn(a + p * csa, (int)rows);
        const T *bp = b + p * ldb;
#pragma GCC unroll 16
        for (int j = 0; j < J; j++) acc[j] = v_fma(av, v_set1(bp[j]), acc[j]);
    }
    _Alignas(64) T cols[SM_COLN * VL];
    T tile[VL * SM_COLN];
#pragma GCC unroll 16
    for (int j = 0; j < J; j++) v_store(cols + j * VL, acc[j]);
    for (int r = 0; r < VL; r++)
        for (int j = 0; j < J; j++) tile[r * J + j] = cols[j * VL + r];
    STORE_TILE(tile, J, c, ldc, (int)(rows < VL ? rows : VL), J, e, ACT_ROW);
}

#define SM_COL_CASE(J)                                                                      \
    case J:                                                                                 \
        for (idx_t i = 0; i < m; i += VL)                                                   \
            sm_col_block(J, m - i, k, a + i, csa, b, ldb, c + i * ldc, ldc, e);             \
        return;

TGT static void sm_col_region(idx_t m, idx_t n, idx_t k, const T *a, idx_t csa, const T *b,
                              idx_t ldb, T *c, idx_t ldc, const EPI *e)
{
    switch (n) {
        SM_COL_CASE(1) SM_COL_CASE(2) SM_COL_CASE(3) SM_COL_CASE(4) SM_COL_CASE(5)
        SM_COL_CASE(6) SM_COL_CASE(7) SM_COL_CASE(8)
#if SM_COLN > 8
        SM_COL_CASE(9) SM_COL_CASE(10) SM_COL_CASE(11) SM_COL_CASE(12)
#endif
#if SM_COLN > 12
        SM_COL_CASE(13) SM_COL_CASE(14) SM_COL_CASE(15) SM_COL_CASE(16)
#endif
    default:
        break;
    }
}

/* rows [0, m) x columns [j0, j1); tb = 1 requires csa == 1 (checked by the driver). */
TGT static void SMALL_NAME(idx_t m, idx_t j0, idx_t j1, idx_t k, const T *a, idx_t rsa,
                           idx_t csa, int tb, const T *b, idx_t ldb, T *c, idx_t ldc,
                           const EPI *e)
{
    EPI te = *e;
    if (!tb && rsa == 1 && m > 4 && j1 - j0 <= SM_COLN) {
        te.bias = e->bias ? e->bias + j0 : NULL;
        sm_col_region(m, j1 - j0, k, a, csa, b + j0, ldb, c + j0, ldc, &te);
        return;
    }
#ifdef SM_PACK_ROWS
    /* row-major A, narrow N: transpose VL rows at a time into a k x VL scratch, then the
     * column form (the per-thread packing buffer is free here: no packed path runs now) */
    if (!tb && csa == 1 && m > 4 && j1 - j0 <= SM_COLN) {
        T *scratch = (T *)fastff_thread_buffer((size_t)k * VL * sizeof(T));
        if (scratch) {
            te.bias = e->bias ? e->bias + j0 : NULL;
            for (idx_t i = 0; i < m; i += VL) {
                const idx_t rows = m - i < VL ? m - i : VL;
                SM_PACK_ROWS(a + i * rsa, rsa, rows, k, scratch);
                sm_col_region(rows, j1 - j0, k, scratch, VL, b + j0, ldb, c + i * ldc + j0, ldc,
                              &te);
            }
            return;
        }
    }
#endif
    if (!tb) {
        sm_axpy_region(m, j0, j1, k, a, rsa, csa, b, ldb, c, ldc, e);
        return;
    }
    if (m == 1) { /* one row: 1 x DOT_J1 tiles, no redundant rows */
        for (idx_t j = j0; j < j1; j += DOT_J1) {
            const int ncols = (int)(j1 - j < DOT_J1 ? j1 - j : DOT_J1);
            te.bias = e->bias ? e->bias + j : NULL;
            sm_dot_tile(1, DOT_J1, k, a, rsa, b + j * ldb, ldb, c + j, ldc, 1, ncols, &te);
        }
        return;
    }
    for (idx_t j = j0; j < j1; j += DOT_J) {
        const int ncols = (int)(j1 - j < DOT_J ? j1 - j : DOT_J);
        te.bias = e->bias ? e->bias + j : NULL;
        for (idx_t i = 0; i < m; i += DOT_R) {
            const int nrows = (int)(m - i < DOT_R ? m - i : DOT_R);
            sm_dot_tile(DOT_R, DOT_J, k, a + i * rsa, rsa, b + j * ldb, ldb, c + i * ldc + j,
                        ldc, nrows, ncols, &te);
        }
    }
}
