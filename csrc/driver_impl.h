/* driver_impl.h - fastff_sgemm / fastff_dgemm bodies, once per precision (see tmpl.h). */

/* k == 0 or alpha == 0: C = act(beta*C + bias) without touching A or B. */
static void FF(scale_only)(const KERN *kn, idx_t m, idx_t n, T beta, T *c, idx_t ldc,
                           const T *bias, int act, T param)
{
    static const T zeros[1024];
    EPI e = {1, beta, param, 1, 1, act, NULL};
    for (idx_t i = 0; i < m; i++) {
        for (idx_t j = 0; j < n; j += 1024) {
            const int cols = (int)(n - j < 1024 ? n - j : 1024);
            e.bias = bias ? bias + j : NULL;
            /* acc of zeros: alpha*0 + beta*c + bias, then act */
            FF(fastff_store_tile)(zeros, 0, c + i * ldc + j, ldc, 1, cols, &e, kn->act);
        }
    }
}

/* Goto/BLIS loops over the C region [i0, i1) x [j0, j1); K blocked by kcb (same for every
 * thread, so each element sees the same sequence of operations). */
static int FF(gemm_region)(const KERN *kn, int ta, int tb, idx_t i0, idx_t i1, idx_t j0,
                           idx_t j1, idx_t k, idx_t kcb, T alpha, const T *a, idx_t lda,
                           const T *b, idx_t ldb, T beta, T *c, idx_t ldc, const T *bias,
                           int act, T param)
{
    const fastff_blocking *bk = &kn->blk;
    const idx_t MR = bk->mr, NR = bk->nr;
    /* M and N blocks of equal size (rounded to the register tile) no larger than MC / NC */
    const idx_t mcmax = even_block(i1 - i0, bk->mc, MR);
    const idx_t ncmax = even_block(j1 - j0, bk->nc, NR);
    const idx_t a_elems = round_up(mcmax * kcb, 64 / (idx_t)sizeof(T));
    const idx_t b_elems = ncmax * kcb;
    T *ap = (T *)fastff_thread_buffer((size_t)(a_elems + b_elems) * sizeof(T));
    if (!ap) return FASTFF_ERR_NOMEM;
    T *bp = ap + a_elems;
    /* B read in place (no packing) when it is row-major and reused by few row panels: packing
     * then costs more than it saves. Strides that are multiples of 4 KiB would alias in the
     * caches, so those are packed. Same arithmetic either way. */
    const int b_in_place = !tb && (i1 - i0) <= B_IN_PLACE_MAX_ROWS &&
                           (ldb * (idx_t)sizeof(T)) % 4096 != 0;
    /* row-major A read in place by kernel sets that can (full MR-row panels; a partial last
     * one is packed): packing A cost ~11% of a 1024x784x256 float GEMM on one AVX2 core,
     * and each panel is read from memory once either way, then reused from L1 */
    const int a_in_place = !ta && kn->ukr_ua && (lda * (idx_t)sizeof(T)) % 4096 != 0;

    /* ic (A block, L3) > pc (K block) > jc (B block, L2) > macrokernel */
    for (idx_t ic = i0; ic < i1; ic += mcmax) {
        const idx_t mc = i1 - ic < mcmax ? i1 - ic : mcmax;
        for (idx_t pc = 0; pc < k; pc += kcb) {
            const idx_t kc = k - pc < kcb ? k - pc : kcb;
            const T *aip = a_in_place ? a + ic * lda + pc : NULL;
            if (!a_in_place)
                kn->pack_a(ta, a, lda, ic, pc, mc, kc, (int)MR, ap);
            else if (mc % MR)
                kn->pack_a(ta, a, lda, ic + mc / MR * MR, pc, mc % MR, kc, (int)MR, ap);
            for (idx_t jc = j0; jc < j1; jc += ncmax) {
                const idx_t nc = j1 - jc < ncmax ? j1 - jc : ncmax;
                EPI e = {alpha, beta, param, pc == 0, pc + kc == k, act, bias ? bias + jc : NULL};
                if (b_in_place) {
                    /* full NR panels read straight from B; only the edge panel is packed */
                    const idx_t nfull = nc / NR;
                    if (nfull * NR < nc)
                        kn->pack_b(tb, b, ldb, pc, jc + nfull * NR, kc, nc - nfull * NR,
                                          (int)NR, bp);
                    FF(fastff_macro)(kn, mc, nc, kc, ap, aip, lda, b + pc * ldb + jc, 1, ldb,
                                     nfull, bp, c + ic * ldc + jc, ldc, &e);
                } else {
                    kn->pack_b(tb, b, ldb, pc, jc, kc, nc, (int)NR, bp);
                    FF(fastff_macro)(kn, mc, nc, kc, ap, aip, lda, bp, kc, NR,
                                     (nc + NR - 1) / NR, bp, c + ic * ldc + jc, ldc, &e);
                }
            }
        }
    }
    return FASTFF_OK;
}

/* One parallel call's arguments; a task is one region of C (packed path) or one range of
 * columns / rows (small path). */
typedef struct {
    const KERN *kn;
    int ta, tb, tm, tn, small_m, ntasks;
    idx_t m, n, k, kcb, unit, len, rsa, csa;
    T alpha, beta, param;
    const T *a, *b, *bias;
    idx_t lda, ldb, ldc;
    T *c;
    int act;
    EPI e;
    int rc;
} FF(job);

static void FF(packed_task)(void *ctx, idx_t t)
{
    FF(job) *j = (FF(job) *)ctx;
    const fastff_blocking *bk = &j->kn->blk;
    idx_t i0, i1, j0, j1;
    split_range(j->m, bk->mr, j->tm, (int)(t / j->tn), &i0, &i1);
    split_range(j->n, bk->nr, j->tn, (int)(t % j->tn), &j0, &j1);
    if (i1 <= i0 || j1 <= j0) return;
    int r = FF(gemm_region)(j->kn, j->ta, j->tb, i0, i1, j0, j1, j->k, j->kcb, j->alpha, j->a,
                            j->lda, j->b, j->ldb, j->beta, j->c, j->ldc, j->bias, j->act,
                            j->param);
    if (r != FASTFF_OK) __atomic_store_n(&j->rc, r, __ATOMIC_RELAXED);
}

static void FF(small_task)(void *ctx, idx_t t)
{
    FF(job) *j = (FF(job) *)ctx;
    idx_t lo, hi;
    split_range(j->len, j->unit, j->ntasks, (int)t, &lo, &hi);
    if (hi <= lo) return;
    if (j->small_m)
        j->kn->small(j->m, lo, hi, j->k, j->a, j->rsa, j->csa, j->tb, j->b, j->ldb, j->c,
                     j->ldc, &j->e);
    else
        j->kn->small(hi - lo, 0, j->n, j->k, j->a + lo * j->rsa, j->rsa, j->csa, j->tb, j->b,
                     j->ldb, j->c + lo * j->ldc, j->ldc, &j->e);
}

/* item callbacks (pool.h): the packed path (tasks: a tm x tn grid of C regions) */
static int FF(packed_serial)(void *ctx)
{
    FF(job) *j = (FF(job) *)ctx;
    return FF(gemm_region)(j->kn, j->ta, j->tb, 0, j->m, 0, j->n, j->k, j->kcb, j->alpha, j->a,
                           j->lda, j->b, j->ldb, j->beta, j->c, j->ldc, j->bias, j->act,
                           j->param);
}

static int FF(packed_prepare)(void *ctx, int want)
{
    FF(job) *j = (FF(job) *)ctx;
    const fastff_blocking *bk = &j->kn->blk;
    choose_grid(want, j->m, j->n, j->k, bk->mr, bk->nr, &j->tm, &j->tn);
    return j->tm * j->tn;
}

/* the small path (tasks: ranges of columns, small M, or of rows, small N) */
static int FF(small_serial)(void *ctx)
{
    FF(job) *j = (FF(job) *)ctx;
    j->kn->small(j->m, 0, j->n, j->k, j->a, j->rsa, j->csa, j->tb, j->b, j->ldb, j->c, j->ldc,
                 &j->e);
    return FASTFF_OK;
}

static int FF(small_prepare)(void *ctx, int want)
{
    FF(job) *j = (FF(job) *)ctx;
    j->ntasks = want;
    return want;
}

static int FF(job_rc)(void *ctx) { return ((FF(job) *)ctx)->rc; }

_Static_assert(sizeof(FF(job)) <= FASTFF_JOB_BYTES, "a GEMM job must fit in a pool item");

/* The checked entry: the job is described in an item, then run now or - while this thread
 * has a batch open (batch.c) - left for fastff_batch_end to run with the others. */
static int FF(gemm)(int32_t ta, int32_t tb, idx_t m, idx_t n, idx_t k, T alpha, const T *a,
                    idx_t lda, const T *b, idx_t ldb, T beta, T *c, idx_t ldc, const T *bias,
                    int32_t act, T param)
{
    int rc = FF(check_args)(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, act);
    if (rc != FASTFF_OK || m == 0 || n == 0) return rc;
    const KERN *kn = fastff_active_kernel()->KSEL;
    const fastff_blocking *bk = &kn->blk;

    if (k == 0 || alpha == 0) {
        fpenv_t env = fpenv_enter();
        FF(scale_only)(kn, m, n, beta, c, ldc, bias, act, param);
        fpenv_leave(env);
        return FASTFF_OK;
    }

    fastff_item local;
    fastff_item *it = fastff_batch_slot();
    const int deferred = it != NULL;
    if (!it) it = &local;
    FF(job) *j = (FF(job) *)it->job;
    const FF(job) init = {kn, ta, tb, 1, 1, 0, 1, m, n, k, 0, 1, 0, 0, 0, alpha, beta, param,
                          a, b, bias, lda, ldb, ldc, c, act,
                          {alpha, beta, param, 1, 1, act, bias}, FASTFF_OK};
    *j = init;
    it->flops = 2.0 * (double)m * (double)n * (double)k;
    it->tasks_per_thread = FASTFF_TASKS_PER_THREAD;
    it->rc = FF(job_rc);
    /* small path (no packing): tiny M (columns split across threads) or tiny N (rows split) */
    const int small_m = m <= bk->small_m && !(ta && tb);
    const int small_n = !small_m && n <= bk->small_n && !tb;
    if (small_m || small_n) {
        j->small_m = small_m;
        j->rsa = ta ? 1 : lda;
        j->csa = ta ? lda : 1;
        j->unit = small_m ? 64 : 8;
        j->len = small_m ? n : m;
        it->units = (j->len + j->unit - 1) / j->unit;
        it->key = fastff_shape_key(1, (int)sizeof(T), ta, tb, m, n, k);
        it->serial = FF(small_serial);
        it->prepare = FF(small_prepare);
        it->task = FF(small_task);
    } else {
        j->kcb = k_block(k, bk->kc);
        it->units = ((m + bk->mr - 1) / bk->mr) * ((n + bk->nr - 1) / bk->nr);
        it->key = fastff_shape_key(0, (int)sizeof(T), ta, tb, m, n, k);
        it->serial = FF(packed_serial);
        it->prepare = FF(packed_prepare);
        it->task = FF(packed_task);
    }
    return deferred ? FASTFF_OK : fastff_run_items(it, 1);
}
