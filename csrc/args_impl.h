/* args_impl.h - argument checks of the GEMM entry points, once per precision (see tmpl.h). */

static int FF(check_args)(int32_t ta, int32_t tb, idx_t m, idx_t n, idx_t k, const T *a,
                          idx_t lda, const T *b, idx_t ldb, const T *c, idx_t ldc, int32_t act)
{
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1)) return FASTFF_ERR_TRANS;
    if (m < 0 || n < 0 || k < 0) return FASTFF_ERR_DIM;
    if (act < FASTFF_ACT_NONE || act > FASTFF_ACT_MAX) return FASTFF_ERR_ACT;
    const idx_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    const idx_t b_rows = tb ? n : k, b_cols = tb ? k : n;
    if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) ||
        ldc < (n > 1 ? n : 1))
        return FASTFF_ERR_LD;
    if (!ld_fits(a_rows, lda) || !ld_fits(b_rows, ldb) || !ld_fits(m, ldc))
        return FASTFF_ERR_OVERFLOW;
    if (m > 0 && n > 0) {
        if (!c) return FASTFF_ERR_NULL;
        if (k > 0 && (!a || !b)) return FASTFF_ERR_NULL;
    }
    return FASTFF_OK;
}
