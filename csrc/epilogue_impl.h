/* epilogue_impl.h - the epilogue rules, written once per precision (see tmpl.h).
 * Optimized kernels reproduce exactly these operations (same order, no contraction),
 * so an element's value never depends on where its tile falls. */

/* Elementwise activation of one row in place; libm based (the reference). */
void FF(fastff_act_row_ref)(T *x, idx_t n, int act, T param)
{
    const T one = (T)1;
    const T c0 = (T)0.7978845608028654; /* sqrt(2/pi) */
    const T c1 = (T)0.044715;
    idx_t j;
    switch (act) {
    case FASTFF_ACT_RELU:
        for (j = 0; j < n; j++) x[j] = x[j] < 0 ? (T)0 : x[j];
        break;
    case FASTFF_ACT_LEAKY_RELU:
        for (j = 0; j < n; j++) x[j] = x[j] < 0 ? x[j] * param : x[j];
        break;
    case FASTFF_ACT_TANH:
        for (j = 0; j < n; j++) x[j] = FF_TANH(x[j]);
        break;
    case FASTFF_ACT_SIGMOID:
        for (j = 0; j < n; j++) x[j] = one / (one + FF_EXP(-x[j]));
        break;
    case FASTFF_ACT_ELU:
        for (j = 0; j < n; j++) x[j] = x[j] > 0 ? x[j] : param * FF_EXPM1(x[j]);
        break;
    case FASTFF_ACT_GELU_TANH: /* 0.5 v (1 + tanh z) == v * sigmoid(2z): no cancellation for v < 0 */
        for (j = 0; j < n; j++) {
            const T v = x[j];
            const T z = c0 * (v + c1 * v * v * v);
            x[j] = v / (one + FF_EXP(-(z + z)));
        }
        break;
    case FASTFF_ACT_GELU: /* exact, the formula of fastff's other backends */
        for (j = 0; j < n; j++) {
            const T v = x[j];
            x[j] = (T)0.5 * v * (one + FF_ERF(v * (T)0.7071067811865476));
        }
        break;
    default:
        break;
    }
}

/* Generic tile store: acc is mr x nr with row stride ldacc. */
void FF(fastff_store_tile)(const T *acc, int ldacc, T *c, idx_t ldc, int mr, int nr,
                           const EPI *e, ACT_FN act)
{
    const T alpha = e->alpha, beta = e->beta, slope = e->param;
    const int heavy = e->last && fastff_act_is_elementwise_heavy(e->act);
    for (int i = 0; i < mr; i++) {
        const T *ai = acc + (idx_t)i * ldacc;
        T *ci = c + (idx_t)i * ldc;
        for (int j = 0; j < nr; j++) {
            T v = alpha * ai[j];
            if (e->first) {
                if (beta != 0) v = v + beta * ci[j];
            } else {
                v = v + ci[j];
            }
            if (e->last) {
                if (e->bias) v = v + e->bias[j];
                if (e->act == FASTFF_ACT_RELU) v = v < 0 ? (T)0 : v;
                else if (e->act == FASTFF_ACT_LEAKY_RELU) v = v < 0 ? v * slope : v;
            }
            ci[j] = v;
        }
        if (heavy) act(ci, nr, e->act, e->param);
    }
}
