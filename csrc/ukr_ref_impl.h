/* ukr_ref_impl.h - portable C microkernel and small-M path, once per precision (see tmpl.h). */

static void FF(ukr_ref)(idx_t kc, const T *a, const T *b, idx_t ldb, T *c, idx_t ldc, int mr,
                        int nr, const EPI *e)
{
    T acc[REF_MR * REF_NR];
    for (int i = 0; i < REF_MR * REF_NR; i++) acc[i] = 0;
    for (idx_t p = 0; p < kc; p++) {
        const T *ap = a + p * REF_MR;
        const T *bp = b + p * ldb;
        for (int i = 0; i < REF_MR; i++) {
            const T ai = ap[i];
            for (int j = 0; j < REF_NR; j++) acc[i * REF_NR + j] += ai * bp[j];
        }
    }
    FF(fastff_store_tile)(acc, REF_NR, c, ldc, mr, nr, e, FF(fastff_act_row_ref));
}

void FF(fastff_small_ref)(idx_t m, idx_t j0, idx_t j1, idx_t k, const T *a, idx_t rsa, idx_t csa,
                          int tb, const T *b, idx_t ldb, T *c, idx_t ldc, const EPI *e)
{
    enum { CH = 64 };
    T acc[CH];
    EPI te = *e;
    for (idx_t i = 0; i < m; i++) {
        for (idx_t jc = j0; jc < j1; jc += CH) {
            const int cols = (int)(j1 - jc < CH ? j1 - jc : CH);
            for (int j = 0; j < cols; j++) acc[j] = 0;
            for (idx_t p = 0; p < k; p++) {
                const T ap = a[i * rsa + p * csa];
                if (!tb) {
                    const T *bp = b + p * ldb + jc;
                    for (int j = 0; j < cols; j++) acc[j] += ap * bp[j];
                } else {
                    const T *bp = b + jc * ldb + p;
                    for (int j = 0; j < cols; j++) acc[j] += ap * bp[j * ldb];
                }
            }
            te.bias = e->bias ? e->bias + jc : NULL;
            FF(fastff_store_tile)(acc, CH, c + i * ldc + jc, ldc, 1, cols, &te,
                                  FF(fastff_act_row_ref));
        }
    }
}

static idx_t FF(fastff_nz_ref)(const T *x, idx_t n, int32_t *idx, T *val)
{
    idx_t cnt = 0;
    for (idx_t p = 0; p < n; p++) {
        if (x[p] != 0) {
            idx[cnt] = (int32_t)p;
            val[cnt] = x[p];
            cnt++;
        }
    }
    return cnt;
}

/* the chain of ukr_ref / small_ref (acc += a * b, no contraction) over the nonzeros only */
static void FF(fastff_spchain_ref)(idx_t nnz, const int32_t *idx, const T *val, const T *b,
                                   idx_t ldb, idx_t ncols, T *c, const EPI *e)
{
    enum { CH = 64 };
    T acc[CH];
    EPI te = *e;
    for (idx_t jc = 0; jc < ncols; jc += CH) {
        const int cols = (int)(ncols - jc < CH ? ncols - jc : CH);
        for (int j = 0; j < cols; j++) acc[j] = 0;
        for (idx_t t = 0; t < nnz; t++) {
            const T av = val[t];
            const T *bp = b + (idx_t)idx[t] * ldb + jc;
            for (int j = 0; j < cols; j++) acc[j] += av * bp[j];
        }
        te.bias = e->bias ? e->bias + jc : NULL;
        FF(fastff_store_tile)(acc, CH, c + jc, cols, 1, cols, &te, FF(fastff_act_row_ref));
    }
}
