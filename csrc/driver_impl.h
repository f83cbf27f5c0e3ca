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

    /* ic (A block, L3) > pc (K block) > jc (B block, L2) > macrokernel */
    for (idx_t ic = i0; ic < i1; ic += mcmax) {
        const idx_t mc = i1 - ic < mcmax ? i1 - ic : mcmax;
        for (idx_t pc = 0; pc < k; pc += kcb) {
            const idx_t kc = k - pc < kcb ? k - pc : kcb;
            kn->pack_a(ta, a, lda, ic, pc, mc, kc, (int)MR, ap);
            for (idx_t jc = j0; jc < j1; jc += ncmax) {
                const idx_t nc = j1 - jc < ncmax ? j1 - jc : ncmax;
                EPI e = {alpha, beta, param, pc == 0, pc + kc == k, act, bias ? bias + jc : NULL};
                if (b_in_place) {
                    /* full NR panels read straight from B; only the edge panel is packed */
                    const idx_t nfull = nc / NR;
                    if (nfull * NR < nc)
                        kn->pack_b(tb, b, ldb, pc, jc + nfull * NR, kc, nc - nfull * NR,
                                          (int)NR, bp);
                    FF(fastff_macro)(kn, mc, nc, kc, ap, b + pc * ldb + jc, 1, ldb, nfull, bp,
                                     c + ic * ldc + jc, ldc, &e);
                } else {
                    kn->pack_b(tb, b, ldb, pc, jc, kc, nc, (int)NR, bp);
                    FF(fastff_macro)(kn, mc, nc, kc, ap, bp, kc, NR, (nc + NR - 1) / NR, bp,
                                     c + ic * ldc + jc, ldc, &e);
                }
            }
        }
    }
    return FASTFF_OK;
}

static int FF(gemm)(int32_t ta, int32_t tb, idx_t m, idx_t n, idx_t k, T alpha, const T *a,
                    idx_t lda, const T *b, idx_t ldb, T beta, T *c, idx_t ldc, const T *bias,
                    int32_t act, T param)
{
    int rc = FF(check_args)(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, act);
    if (rc != FASTFF_OK || m == 0 || n == 0) return rc;
    const KERN *kn = fastff_active_kernel()->KSEL;
    const fastff_blocking *bk = &kn->blk;
    const double flops = 2.0 * (double)m * (double)n * (double)k;
    fpenv_t env = fpenv_enter();

    if (k == 0 || alpha == 0) {
        FF(scale_only)(kn, m, n, beta, c, ldc, bias, act, param);
        fpenv_leave(env);
        return FASTFF_OK;
    }

    /* small path (no packing): tiny M (columns split across threads) or tiny N (rows split) */
    const int small_m = m <= bk->small_m && !(ta && tb);
    const int small_n = !small_m && n <= bk->small_n && !tb;
    if (small_m || small_n) {
        EPI e = {alpha, beta, param, 1, 1, act, bias};
        const idx_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
        const idx_t unit = small_m ? 64 : 8, len = small_m ? n : m;
        const int nt = fastff_threads_for(flops, (len + unit - 1) / unit);
        if (nt <= 1) {
            kn->small(m, 0, n, k, a, rsa, csa, tb, b, ldb, c, ldc, &e);
        } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
            {
                fpenv_t tenv = fpenv_enter();
                const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
                idx_t lo, hi;
                split_range(len, unit, nth, tid, &lo, &hi);
                if (hi > lo && small_m)
                    kn->small(m, lo, hi, k, a, rsa, csa, tb, b, ldb, c, ldc, &e);
                else if (hi > lo)
                    kn->small(hi - lo, 0, n, k, a + lo * rsa, rsa, csa, tb, b, ldb,
                              c + lo * ldc, ldc, &e);
                fpenv_leave(tenv);
            }
#endif
        }
        fpenv_leave(env);
        return FASTFF_OK;
    }

    const idx_t kcb = k_block(k, bk->kc);
    const idx_t mtiles = (m + bk->mr - 1) / bk->mr, ntiles = (n + bk->nr - 1) / bk->nr;
    const int nt = fastff_threads_for(flops, mtiles * ntiles);
    if (nt <= 1) {
        rc = FF(gemm_region)(kn, ta, tb, 0, m, 0, n, k, kcb, alpha, a, lda, b, ldb, beta, c, ldc,
                             bias, act, param);
    } else {
#ifdef _OPENMP
        int shared_rc = FASTFF_OK;
#pragma omp parallel num_threads(nt)
        {
            fpenv_t tenv = fpenv_enter();
            const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
            int tm, tn;
            choose_grid(nth, m, n, k, bk->mr, bk->nr, &tm, &tn);
            idx_t i0, i1, j0, j1;
            split_range(m, bk->mr, tm, tid / tn, &i0, &i1);
            split_range(n, bk->nr, tn, tid % tn, &j0, &j1);
            if (i1 > i0 && j1 > j0) {
                int r = FF(gemm_region)(kn, ta, tb, i0, i1, j0, j1, k, kcb, alpha, a, lda, b,
                                        ldb, beta, c, ldc, bias, act, param);
                if (r != FASTFF_OK) __atomic_store_n(&shared_rc, r, __ATOMIC_RELAXED);
            }
            fpenv_leave(tenv);
        }
        rc = shared_rc;
#endif
    }
    fpenv_leave(env);
    return rc;
}
