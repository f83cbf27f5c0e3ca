/* sparse_impl.h - fastff_{s,d}gemm_sparse_a bodies, once per precision (see tmpl.h, sparse.c). */

#if FF_PREC == 1
#define DENSE_GEMM fastff_sgemm
#else
#define DENSE_GEMM fastff_dgemm
#endif

/* Nonzero fraction of the first rows of A as stored (rows x cols, row stride lda). */
static double FF(sampled_density)(idx_t rows, idx_t cols, const T *a, idx_t lda)
{
    const idx_t r = rows < SPARSE_SAMPLE_ROWS ? rows : SPARSE_SAMPLE_ROWS;
    idx_t nz = 0;
    for (idx_t i = 0; i < r; i++) {
        const T *x = a + i * lda;
        for (idx_t p = 0; p < cols; p++) nz += x[p] != 0;
    }
    return (double)nz / ((double)r * (double)cols);
}

/* 1 when every element of the rows x cols matrix b (row stride ldb) is finite. An element
 * is inf or NaN when its exponent bits are all ones; adding one exponent unit to them then
 * carries into the sign bit. Integer and/add/or over a row vectorize (a float compare
 * reduction would not without reassociation); a row with a non-finite element ends the scan.
 * Measured: ~20 us for a 784 x 256 float32 B on one core (memory bound). */
static int FF(all_finite)(idx_t rows, idx_t cols, const T *b, idx_t ldb)
{
#if FF_PREC == 1
    typedef uint32_t bits_t;
    const bits_t expo = 0x7f800000u, unit = 0x00800000u;
#else
    typedef uint64_t bits_t;
    const bits_t expo = 0x7ff0000000000000ull, unit = 0x0010000000000000ull;
#endif
    const int sign_shift = 8 * (int)sizeof(bits_t) - 1;
    for (idx_t i = 0; i < rows; i++) {
        const T *x = b + i * ldb;
        bits_t acc = 0;
        for (idx_t p = 0; p < cols; p++) {
            bits_t u;
            memcpy(&u, x + p, sizeof u);
            acc |= (u & expo) + unit;
        }
        if (acc >> sign_shift) return 0;
    }
    return 1;
}

/* One output row from its nonzeros (ascending positions idx, values val): per K block of
 * kcb, the chain over the block's nonzeros with the dense path's epilogue rules. */
static void FF(sparse_row)(const KERN *kn, idx_t nnz, const int32_t *idx, const T *val, idx_t n,
                           idx_t k, idx_t kcb, T alpha, const T *b, idx_t ldb, T beta, T *crow,
                           const T *bias, int act, T param)
{
    idx_t t0 = 0;
    for (idx_t pc = 0; pc < k; pc += kcb) {
        const idx_t kc = k - pc < kcb ? k - pc : kcb;
        idx_t t1 = t0;
        while (t1 < nnz && idx[t1] < pc + kc) t1++;
        EPI e = {alpha, beta, param, pc == 0, pc + kc == k, act, bias};
        kn->spchain(t1 - t0, idx + t0, val + t0, b, ldb, n, crow, &e);
        t0 = t1;
    }
}

/* trans_a = 0: output rows [i0, i1) are rows of A (m x k, row stride lda). */
static int FF(sparse_rows)(const KERN *kn, idx_t i0, idx_t i1, idx_t n, idx_t k, idx_t kcb,
                           T alpha, const T *a, idx_t lda, const T *b, idx_t ldb, T beta, T *c,
                           idx_t ldc, const T *bias, int act, T param)
{
    const idx_t kpad = round_up(k + SPARSE_PAD, 64);
    T *val = (T *)fastff_thread_buffer((size_t)kpad * (sizeof(T) + sizeof(int32_t)));
    if (!val) return FASTFF_ERR_NOMEM;
    int32_t *idx = (int32_t *)(val + kpad);
    for (idx_t i = i0; i < i1; i++) {
        const idx_t nnz = kn->nz(a + i * lda, k, idx, val);
        FF(sparse_row)(kn, nnz, idx, val, n, k, kcb, alpha, b, ldb, beta, c + i * ldc, bias, act,
                       param);
    }
    return FASTFF_OK;
}

/* trans_a = 1: output rows [r0, r1) are columns of A (stored k x m, row stride lda). Each row
 * of A's column range is listed once (its nonzeros, counted per column as they come), then
 * the entries are placed column by column, in ascending row order. */
static int FF(sparse_cols)(const KERN *kn, idx_t r0, idx_t r1, idx_t n, idx_t k, idx_t kcb,
                           T alpha, const T *a, idx_t lda, const T *b, idx_t ldb, T beta, T *c,
                           idx_t ldc, const T *bias, int act, T param)
{
    const idx_t w = r1 - r0, wpad = round_up(w + 1, 64), kpad = round_up(k + 1, 64);
    const idx_t cap = round_up(k * w + SPARSE_PAD, 64);
    const size_t bytes = (size_t)(2 * cap) * (sizeof(T) + sizeof(int32_t)) +
                         (size_t)(2 * wpad + kpad) * sizeof(idx_t);
    T *rowval = (T *)fastff_thread_buffer(bytes); /* the nonzeros, row by row */
    if (!rowval) return FASTFF_ERR_NOMEM;
    T *colval = rowval + cap;                     /* the same, column by column */
    idx_t *start = (idx_t *)(colval + cap);       /* column r: [start[r], start[r + 1]) */
    idx_t *fill = start + wpad;
    idx_t *rowstart = fill + wpad;                /* row p: [rowstart[p], rowstart[p + 1]) */
    int32_t *rowidx = (int32_t *)(rowstart + kpad); /* their columns (r - r0) */
    int32_t *colidx = rowidx + cap;               /* their rows (positions along K) */

    for (idx_t r = 0; r <= w; r++) start[r] = 0;
    idx_t total = 0;
    for (idx_t p = 0; p < k; p++) {
        rowstart[p] = total;
        const idx_t nnz = kn->nz(a + p * lda + r0, w, rowidx + total, rowval + total);
        for (idx_t t = total; t < total + nnz; t++) start[rowidx[t] + 1]++;
        total += nnz;
    }
    rowstart[k] = total;
    for (idx_t r = 0; r < w; r++) start[r + 1] += start[r];
    for (idx_t r = 0; r < w; r++) fill[r] = start[r];
    for (idx_t p = 0; p < k; p++) {
        for (idx_t t = rowstart[p]; t < rowstart[p + 1]; t++) {
            const idx_t pos = fill[rowidx[t]]++;
            colidx[pos] = (int32_t)p;
            colval[pos] = rowval[t];
        }
    }
    for (idx_t r = 0; r < w; r++)
        FF(sparse_row)(kn, start[r + 1] - start[r], colidx + start[r], colval + start[r], n, k,
                       kcb, alpha, b, ldb, beta, c + (r0 + r) * ldc, bias, act, param);
    return FASTFF_OK;
}

/* one parallel call: a task is a range of output rows (units of SPARSE_ROW_UNIT) */
typedef struct {
    const KERN *kn;
    int ta, ntasks;
    idx_t m, n, k, kcb;
    T alpha, beta, param;
    const T *a, *b, *bias;
    idx_t lda, ldb, ldc;
    T *c;
    int act;
    int rc;
} FF(sjob);

static void FF(sparse_task)(void *ctx, idx_t t)
{
    FF(sjob) *j = (FF(sjob) *)ctx;
    idx_t lo, hi;
    split_range(j->m, SPARSE_ROW_UNIT, j->ntasks, (int)t, &lo, &hi);
    if (hi <= lo) return;
    int r = j->ta ? FF(sparse_cols)(j->kn, lo, hi, j->n, j->k, j->kcb, j->alpha, j->a, j->lda,
                                    j->b, j->ldb, j->beta, j->c, j->ldc, j->bias, j->act,
                                    j->param)
                  : FF(sparse_rows)(j->kn, lo, hi, j->n, j->k, j->kcb, j->alpha, j->a, j->lda,
                                    j->b, j->ldb, j->beta, j->c, j->ldc, j->bias, j->act,
                                    j->param);
    if (r != FASTFF_OK) __atomic_store_n(&j->rc, r, __ATOMIC_RELAXED);
}

static int FF(sparse_serial)(void *ctx)
{
    FF(sjob) *j = (FF(sjob) *)ctx;
    return j->ta ? FF(sparse_cols)(j->kn, 0, j->m, j->n, j->k, j->kcb, j->alpha, j->a, j->lda,
                                   j->b, j->ldb, j->beta, j->c, j->ldc, j->bias, j->act,
                                   j->param)
                 : FF(sparse_rows)(j->kn, 0, j->m, j->n, j->k, j->kcb, j->alpha, j->a, j->lda,
                                   j->b, j->ldb, j->beta, j->c, j->ldc, j->bias, j->act,
                                   j->param);
}

static int FF(sparse_prepare)(void *ctx, int want)
{
    FF(sjob) *j = (FF(sjob) *)ctx;
    j->ntasks = want;
    return want;
}

static int FF(sparse_rc)(void *ctx) { return ((FF(sjob) *)ctx)->rc; }

_Static_assert(sizeof(FF(sjob)) <= FASTFF_JOB_BYTES, "a sparse job must fit in a pool item");

static int FF(gemm_sparse_a)(int32_t ta, int32_t tb, idx_t m, idx_t n, idx_t k, T alpha,
                             const T *a, idx_t lda, const T *b, idx_t ldb, T beta, T *c,
                             idx_t ldc, const T *bias, int32_t act, T param)
{
    int rc = FF(check_args)(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, act);
    if (rc != FASTFF_OK || m == 0 || n == 0) return rc;
    /* what the sparse path does not cover runs dense: B transposed, nothing to multiply,
     * one or two rows (SPARSE_MIN_ROWS), sizes beyond int32 positions / int tile widths, or
     * too many entries to list */
    if (tb || k == 0 || alpha == 0 || m < SPARSE_MIN_ROWS || k > INT32_MAX || m > INT32_MAX ||
        n > INT32_MAX || (ta && k * m > SPARSE_MAX_ENTRIES))
        return DENSE_GEMM(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, param);
    const KERN *kn = fastff_active_kernel()->KSEL;
    const fastff_blocking *bk = &kn->blk;
    const double density = ta ? FF(sampled_density)(k, m, a, lda)
                              : FF(sampled_density)(m, k, a, lda);
    /* a skipped zero of A never forms 0 * inf or 0 * NaN: with a non-finite B only the dense
     * chain gives the dense result, so such a call runs dense (one pass over B, ~k*n/(m*n*k*
     * density) of the work) */
    if (density > SPARSE_MAX_DENSITY ||
        !FF(all_finite)(k, n, b, ldb))
        return DENSE_GEMM(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, param);

    /* the dense entry's choice of path fixes the K blocks: the small path runs all of K in
     * one chain, the packed path in blocks of k_block(k, kc) */
    const int small = m <= bk->small_m || n <= bk->small_n;
    const idx_t kcb = small ? k : k_block(k, bk->kc);
    /* the time in dense-GEMM flop equivalents: the chains, plus per output element and per
     * scanned element of A a fixed cost (measured: at density 0.05 the 784x128x256
     * weight gradient is mostly those, ~140 us on one core) */
    const double flops = 2.0 * (double)m * (double)n * (double)k * density +
                         SPARSE_FLOPS_PER_OUTPUT * (double)m * (double)n +
                         SPARSE_FLOPS_PER_SCANNED * (double)m * (double)k;
    fastff_item local;
    fastff_item *it = fastff_batch_slot();
    const int deferred = it != NULL;
    if (!it) it = &local;
    FF(sjob) *j = (FF(sjob) *)it->job;
    const FF(sjob) init = {kn, ta, 1, m, n, k, kcb, alpha, beta, param, a, b, bias, lda, ldb,
                           ldc, c, act, FASTFF_OK};
    *j = init;
    it->flops = flops;
    it->units = (m + SPARSE_ROW_UNIT - 1) / SPARSE_ROW_UNIT;
    /* the time depends on the density too: one plan per twentieth of it */
    it->key = fastff_shape_key(2 + (int)(density * 20), (int)sizeof(T), ta, tb, m, n, k);
    it->tasks_per_thread = SPARSE_TASKS_PER_THREAD;
    it->serial = FF(sparse_serial);
    it->prepare = FF(sparse_prepare);
    it->task = FF(sparse_task);
    it->rc = FF(sparse_rc);
    return deferred ? FASTFF_OK : fastff_run_items(it, 1);
}

#undef DENSE_GEMM
