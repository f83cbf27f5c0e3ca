/* act_x86_impl.h - vectorized float32 activations for the x86 kernel sets (tanh, sigmoid,
 * elu, gelu_tanh; exact gelu uses libm's erff), included by ukr_avx512_s.c / ukr_avx2_s.c after their simd header.
 *
 * exp: x = n*ln2 + r (|r| <= ln2/2, ln2 split hi/lo), e^r by its Taylor polynomial to r^7
 * (truncation < 5e-9, below float's 6e-8 ulp), then scaled by 2^n. Accurate to ~2 ulp.
 * Each activation is arranged to avoid cancellation near zero (the relative error of small
 * outputs stays a few ulp): tanh uses its odd series below |x| = 0.3, elu an expm1 series
 * below |x| = 0.35, gelu is x * sigmoid(2z) (equal to 0.5x(1 + tanh z)). The libm reference
 * (epilogue_impl.h) remains what double precision uses. */

TGT VINL V act_exp(V x)
{
    /* n in [-126, 128]: 2^128 overflows to inf as e^x should past 88.72. The clamp bounds
     * come first: x86 min/max return their second operand when either is NaN, so a NaN x
     * passes through (and gives NaN below) instead of becoming a bound. */
    x = v_min(v_set1(89.0f), v_max(v_set1(-87.0f), x));
    const V n = v_round(v_mul(x, v_set1(1.44269504088896341f)));
    V r = v_sub(x, v_mul(n, v_set1(0.693145751953125f)));
    r = v_sub(r, v_mul(n, v_set1(1.42860682030941723e-06f)));
    V p = v_set1(1.0f / 5040);
    p = v_fma(p, r, v_set1(1.0f / 720));
    p = v_fma(p, r, v_set1(1.0f / 120));
    p = v_fma(p, r, v_set1(1.0f / 24));
    p = v_fma(p, r, v_set1(1.0f / 6));
    p = v_fma(p, r, v_set1(0.5f));
    p = v_fma(p, r, v_set1(1.0f));
    p = v_fma(p, r, v_set1(1.0f));
    return v_ldexp(p, n);
}

/* e^x - 1 for x <= 0 (elu's negative side) */
TGT VINL V act_expm1_neg(V x)
{
    V p = v_set1(1.0f / 40320); /* series x + x^2/2 + ... + x^8/8! for |x| < 0.35 */
    p = v_fma(p, x, v_set1(1.0f / 5040));
    p = v_fma(p, x, v_set1(1.0f / 720));
    p = v_fma(p, x, v_set1(1.0f / 120));
    p = v_fma(p, x, v_set1(1.0f / 24));
    p = v_fma(p, x, v_set1(1.0f / 6));
    p = v_fma(p, x, v_set1(0.5f));
    p = v_fma(p, x, v_set1(1.0f));
    const V series = v_mul(p, x);
    const V direct = v_sub(act_exp(x), v_set1(1.0f));
    return v_lt_select(x, v_set1(-0.35f), direct, series);
}

TGT VINL V act_sigmoid(V x)
{
    return v_div(v_set1(1.0f), v_add(v_set1(1.0f), act_exp(v_sub(v_zero(), x))));
}

TGT VINL V act_tanh(V x)
{
    const V ax = v_abs(x);
    /* |x| >= 0.3: 1 - 2/(e^{2|x|} + 1), sign restored */
    const V e = act_exp(v_add(ax, ax));
    const V big = v_sub(v_set1(1.0f), v_div(v_set1(2.0f), v_add(e, v_set1(1.0f))));
    /* |x| < 0.3: x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835 - 1382x^11/155925 */
    const V x2 = v_mul(x, x);
    V p = v_set1(-1382.0f / 155925);
    p = v_fma(p, x2, v_set1(62.0f / 2835));
    p = v_fma(p, x2, v_set1(-17.0f / 315));
    p = v_fma(p, x2, v_set1(2.0f / 15));
    p = v_fma(p, x2, v_set1(-1.0f / 3));
    const V small = v_fma(v_mul(p, x2), x, x);
    return v_lt_select(ax, v_set1(0.3f), small, v_copysign(big, x));
}

TGT VINL V act_gelu(V x)
{
    const V z = v_mul(v_set1(0.7978845608028654f),
                      v_fma(v_mul(v_set1(0.044715f), v_mul(x, x)), x, x));
    return v_div(x, v_add(v_set1(1.0f), act_exp(v_sub(v_zero(), v_add(z, z)))));
}

TGT VINL V act_apply(V x, int act, V param)
{
    switch (act) {
    case FASTFF_ACT_TANH: return act_tanh(x);
    case FASTFF_ACT_SIGMOID: return act_sigmoid(x);
    case FASTFF_ACT_ELU:
        return v_lt_select(v_zero(), x, x, v_mul(param, act_expm1_neg(v_min(v_zero(), x)))); /* NaN x kept */
    case FASTFF_ACT_GELU_TANH: return act_gelu(x);
    default: return x;
    }
}

TGT void ACT_ROW(float *x, idx_t n, int act, float param)
{
    if (!fastff_act_is_elementwise_heavy(act) || act == FASTFF_ACT_GELU) { /* erf: libm */
        fastff_act_row_ref_s(x, n, act, param);
        return;
    }
    const V vp = v_set1(param);
    idx_t j = 0;
    for (; j + VL <= n; j += VL) v_storen(x + j, VL, act_apply(v_loadu(x + j), act, vp));
    if (j < n) {
        const int left = (int)(n - j);
        v_storen(x + j, left, act_apply(v_loadn(x + j, left), act, vp));
    }
}
