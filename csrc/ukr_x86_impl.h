/* ukr_x86_impl.h - the SIMD microkernel body shared by ukr_avx2_{s,d}.c and ukr_avx512_{s,d}.c.
 *
 * Register tile: MR rows x NV vectors of VL lanes (NR = NV * VL). The K loop (kloop, inline
 * assembly from kloop_x86.h via the simd_*.h header) loads one NR-wide row of the packed B
 * panel per k step and broadcasts MR values of the packed A panel: MR*NV FMAs per NV + MR
 * loads. The including file defines T, EPI, V, VL, NV, MR, TGT, UKR_NAME, ACT_ROW and the
 * inline helpers v_zero, v_load, v_set1, v_fma, v_mul, v_add,
 * v_max0 (max(0, x) keeping NaN and -0 like the scalar rule), v_leaky, v_loadn (first n lanes,
 * zeros elsewhere), v_storen (first n lanes). The epilogue performs exactly the operations of
 * fastff_store_tile_{s,d}, lane by lane, so edge and interior tiles agree bitwise. */

#define NR (NV * VL)

/* the epilogue of one tile of accumulators (tile, MR x NR row-major) into C */
TGT VINL void ukr_store(const T *tile, T *c, idx_t ldc, int mr, int nr, const EPI *e)
{
    int cnt[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const int left = nr - v * VL;
        cnt[v] = left <= 0 ? 0 : left >= VL ? VL : left;
    }
    const V valpha = v_set1(e->alpha), vbeta = v_set1(e->beta), vslope = v_set1(e->param);
    const int use_beta = e->first && e->beta != 0, accumulate = !e->first;
    const int last = e->last, act = e->act, alpha_one = e->alpha == 1;
    const int use_bias = last && e->bias;
    V bias[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bias[v] = use_bias ? v_loadn(e->bias + v * VL, cnt[v]) : v_zero();
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
        if (i < mr) {
            T *ci = c + i * ldc;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                const V t = v_load(tile + i * NR + v * VL); /* L1-hot, no register pressure */
                V x = alpha_one ? t : v_mul(valpha, t); /* 1*x == x exactly */
                if (use_beta)
                    x = v_add(x, v_mul(vbeta, v_loadn(ci + v * VL, cnt[v])));
                else if (accumulate)
                    x = v_add(x, v_loadn(ci + v * VL, cnt[v]));
                if (last) {
                    if (use_bias) x = v_add(x, bias[v]);
                    if (act == FASTFF_ACT_RELU) x = v_max0(x);
                    else if (act == FASTFF_ACT_LEAKY_RELU) x = v_leaky(x, vslope);
                }
                v_storen(ci + v * VL, cnt[v], x);
            }
        }
    }
    if (last && fastff_act_is_elementwise_heavy(act))
        for (int i = 0; i < mr; i++) ACT_ROW(c + i * ldc, nr, act, e->param);
}

TGT static void UKR_NAME(idx_t kc, const T *restrict a, const T *restrict b, idx_t ldb, T *c,
                         idx_t ldc, int mr, int nr, const EPI *e)
{
    _Alignas(64) T tile[MR * NR];
    kloop(kc, a, b, ldb, tile);
    ukr_store(tile, c, ldc, mr, nr, e);
}

#ifdef KL_HAVE_UA
/* A read in place (row stride lda, all MR rows present): see kloop_ua */
TGT static void UKR_UA_NAME(idx_t kc, const T *restrict a, idx_t lda, const T *restrict b,
                            idx_t ldb, T *c, idx_t ldc, int mr, int nr, const EPI *e)
{
    _Alignas(64) T tile[MR * NR];
    kloop_ua(kc, a, lda, b, ldb, tile);
    ukr_store(tile, c, ldc, mr, nr, e);
}
#endif

#undef NR
