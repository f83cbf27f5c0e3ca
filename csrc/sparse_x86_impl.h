/* sparse_x86_impl.h - the two kernel pieces of the sparse-A path (sparse.c) for the x86 sets.
 *
 *   SP_NZ:    positions and values of the nonzeros of x[0, n), in order (SIMD compare, then
 *             one step per set bit: cost ~ n / VL + nnz);
 *   SP_CHAIN: the sum over t of val[t] * B[idx[t], 0:ncols], one FMA chain per element in
 *             t order starting from zero - exactly the chain the dense kernels run over the
 *             same K range with the zero terms left out (fma(0, b, s) == s) - then the
 *             microkernel's epilogue into c[0, ncols).
 * Accumulators: SP_NV vectors per column chunk, held in registers across the whole chain.
 * The including file defines T, EPI, V, VL, TGT, VINL, the v_* helpers, ACT_ROW, SP_NZ and
 * SP_CHAIN. */

/* accumulator vectors per column chunk: the including file may set it (register budget) */
#ifndef SP_NV
#define SP_NV 8
#endif

TGT static idx_t SP_NZ(const T *x, idx_t n, int32_t *idx, T *val)
{
    idx_t cnt = 0, p = 0;
    for (; p + VL <= n; p += VL) {
        unsigned mask = v_nzmask(v_loadu(x + p));
        while (mask) {
            const int j = __builtin_ctz(mask);
            idx[cnt] = (int32_t)(p + j);
            val[cnt] = x[p + j];
            cnt++;
            mask &= mask - 1;
        }
    }
    for (; p < n; p++) {
        if (x[p] != 0) {
            idx[cnt] = (int32_t)p;
            val[cnt] = x[p];
            cnt++;
        }
    }
    return cnt;
}

/* The microkernel's epilogue (ukr_x86_impl.h) for one vector of n lanes at cp. */
VINL V SP_EPI(V acc, T *cp, const T *bias, int n, const EPI *e, V valpha, V vbeta, V vslope)
{
    V x = e->alpha == 1 ? acc : v_mul(valpha, acc);
    if (e->first) {
        if (e->beta != 0) x = v_add(x, v_mul(vbeta, v_loadn(cp, n)));
    } else {
        x = v_add(x, v_loadn(cp, n));
    }
    if (e->last) {
        if (bias) x = v_add(x, v_loadn(bias, n));
        if (e->act == FASTFF_ACT_RELU) x = v_max0(x);
        else if (e->act == FASTFF_ACT_LEAKY_RELU) x = v_leaky(x, vslope);
    }
    return x;
}

/* One chunk of SP_NV vectors from column j: vector v has cnt[v] lanes (0: none). Inlined
 * with constant counts for full chunks, so the masks fold away and the loads fold into
 * the FMAs. */
VINL void SP_CHUNK(idx_t nnz, const int32_t *idx, const T *val, const T *b, idx_t ldb, idx_t j,
                   const int *cnt, T *c, const T *bias, const EPI *e, V valpha, V vbeta,
                   V vslope)
{
    V acc[SP_NV];
#pragma GCC unroll 16
    for (int v = 0; v < SP_NV; v++) acc[v] = v_zero();
    for (idx_t t = 0; t < nnz; t++) {
        const V av = v_set1(val[t]);
        const T *bp = b + (idx_t)idx[t] * ldb + j;
#pragma GCC unroll 16
        for (int v = 0; v < SP_NV; v++)
            if (cnt[v]) acc[v] = v_fma(av, v_loadn(bp + v * VL, cnt[v]), acc[v]);
    }
#pragma GCC unroll 16
    for (int v = 0; v < SP_NV; v++)
        if (cnt[v])
            v_storen(c + j + v * VL, cnt[v],
                     SP_EPI(acc[v], c + j + v * VL, bias ? bias + j + v * VL : NULL, cnt[v], e,
                            valpha, vbeta, vslope));
}

TGT static void SP_CHAIN(idx_t nnz, const int32_t *idx, const T *val, const T *b, idx_t ldb,
                         idx_t ncols, T *c, const EPI *e)
{
    const V valpha = v_set1(e->alpha), vbeta = v_set1(e->beta), vslope = v_set1(e->param);
    const T *bias = e->last ? e->bias : NULL;
    int full[SP_NV], cnt[SP_NV];
#pragma GCC unroll 16
    for (int v = 0; v < SP_NV; v++) full[v] = VL;
    idx_t j = 0;
    for (; j + SP_NV * VL <= ncols; j += SP_NV * VL)
        SP_CHUNK(nnz, idx, val, b, ldb, j, full, c, bias, e, valpha, vbeta, vslope);
    if (j < ncols) { /* the last chunk: fewer vectors, the final one partial */
        const int rem = (int)(ncols - j);
#pragma GCC unroll 16
        for (int v = 0; v < SP_NV; v++) {
            const int left = rem - v * VL;
            cnt[v] = left <= 0 ? 0 : left >= VL ? VL : left;
        }
        SP_CHUNK(nnz, idx, val, b, ldb, j, cnt, c, bias, e, valpha, vbeta, vslope);
    }
    if (e->last && fastff_act_is_elementwise_heavy(e->act)) ACT_ROW(c, ncols, e->act, e->param);
}

#undef SP_NV
#undef SP_EPI
#undef SP_CHUNK
