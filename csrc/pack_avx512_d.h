/* pack_avx512_d.h - AVX-512 packers for float64: A into 14-row panels (row-major A via
 * 8 x 8 in-register transposes, rows 0-7 and 8-13 + two zero rows; A stored k x m via masked
 * 14-wide row copies), transposed B into 16-column panels, and 8-row transposes for the small
 * path's column form. Included by ukr_avx512_d.c after simd_avx512.h. */

TGT static inline void transpose8_pd(__m512d r[8])
{
    __m512d t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int g = 0; g < 2; g++) { /* u[4g + q]: rows 4g..4g+3, columns {q, q + 4} / {.., ..} */
        u[4 * g + 0] = _mm512_shuffle_f64x2(t[4 * g], t[4 * g + 2], 0x88);
        u[4 * g + 1] = _mm512_shuffle_f64x2(t[4 * g], t[4 * g + 2], 0xDD);
        u[4 * g + 2] = _mm512_shuffle_f64x2(t[4 * g + 1], t[4 * g + 3], 0x88);
        u[4 * g + 3] = _mm512_shuffle_f64x2(t[4 * g + 1], t[4 * g + 3], 0xDD);
    }
    r[0] = _mm512_shuffle_f64x2(u[0], u[4], 0x88);
    r[4] = _mm512_shuffle_f64x2(u[0], u[4], 0xDD);
    r[2] = _mm512_shuffle_f64x2(u[1], u[5], 0x88);
    r[6] = _mm512_shuffle_f64x2(u[1], u[5], 0xDD);
    r[1] = _mm512_shuffle_f64x2(u[2], u[6], 0x88);
    r[5] = _mm512_shuffle_f64x2(u[2], u[6], 0xDD);
    r[3] = _mm512_shuffle_f64x2(u[3], u[7], 0x88);
    r[7] = _mm512_shuffle_f64x2(u[3], u[7], 0xDD);
}

TGT static void pack_a_avx512_d(int ta, const double *a, idx_t lda, idx_t i0, idx_t p0,
                                idx_t mc, idx_t kc, int mr, double *dst)
{
    if (mr != 14) {
        fastff_pack_a_d(ta, a, lda, i0, p0, mc, kc, mr, dst);
        return;
    }
    for (idx_t ir = 0; ir < mc; ir += 14) {
        const int rows = (int)(mc - ir < 14 ? mc - ir : 14);
        double *d = dst + ir * kc;
        if (ta) {
            const double *src = a + p0 * lda + i0 + ir;
            const __mmask8 m0 = (__mmask8)(rows >= 8 ? 0xFF : (1u << rows) - 1u);
            const __mmask8 m1 = (__mmask8)(rows <= 8 ? 0 : (1u << (rows - 8)) - 1u);
            for (idx_t p = 0; p < kc; p++) {
                _mm512_storeu_pd(d + p * 14, _mm512_maskz_loadu_pd(m0, src + p * lda));
                _mm512_mask_storeu_pd(d + p * 14 + 8, 0x3F,
                                      _mm512_maskz_loadu_pd(m1, src + p * lda + 8));
            }
            continue;
        }
        const double *src = a + (i0 + ir) * lda + p0;
        idx_t p = 0;
        if (rows == 14) {
            for (; p + 8 <= kc; p += 8) {
                __m512d lo[8], hi[8];
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) lo[i] = _mm512_loadu_pd(src + i * lda + p);
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    hi[i] = i < 6 ? _mm512_loadu_pd(src + (8 + i) * lda + p) : _mm512_setzero_pd();
                transpose8_pd(lo);
                transpose8_pd(hi);
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    _mm512_storeu_pd(d + (p + j) * 14, lo[j]);
                    _mm512_mask_storeu_pd(d + (p + j) * 14 + 8, 0x3F, hi[j]);
                }
            }
        }
        for (; p < kc; p++) {
            double *dp = d + p * 14;
            int i = 0;
            for (; i < rows; i++) dp[i] = src[i * lda + p];
            for (; i < 14; i++) dp[i] = 0;
        }
    }
}

/* rows (<= 8) rows of row-major A, k columns -> dst[p*8 + r] (zero padded): feeds the small
 * path's column form when A is row-major and N is narrow. */
TGT static void pack_rows8_avx512_d(const double *a, idx_t lda, idx_t rows, idx_t k,
                                    double *dst)
{
    idx_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m512d r[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            r[i] = i < rows ? _mm512_loadu_pd(a + i * lda + p) : _mm512_setzero_pd();
        transpose8_pd(r);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) _mm512_store_pd(dst + (p + j) * 8, r[j]);
    }
    for (; p < k; p++)
        for (int i = 0; i < 8; i++) dst[p * 8 + i] = i < rows ? a[i * lda + p] : 0.0;
}

/* B stored n x k (tb = 1) into 16-column panels: 8 columns x 8 k values per transpose. */
TGT static void pack_b_avx512_d(int tb, const double *b, idx_t ldb, idx_t p0, idx_t j0,
                                idx_t kc, idx_t nc, int nr, double *dst)
{
    if (!tb || nr != 16) {
        fastff_pack_b_d(tb, b, ldb, p0, j0, kc, nc, nr, dst);
        return;
    }
    for (idx_t jr = 0; jr < nc; jr += 16) {
        const int cols = (int)(nc - jr < 16 ? nc - jr : 16);
        double *d = dst + jr * kc;
        if (cols < 16) {
            fastff_pack_b_d(tb, b, ldb, p0, j0 + jr, kc, cols, nr, d);
            continue;
        }
        const double *src = b + (j0 + jr) * ldb + p0;
        idx_t p = 0;
        for (; p + 8 <= kc; p += 8) {
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m512d r[8];
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) r[j] = _mm512_loadu_pd(src + (8 * h + j) * ldb + p);
                transpose8_pd(r);
#pragma GCC unroll 8
                for (int q = 0; q < 8; q++) _mm512_store_pd(d + (p + q) * 16 + 8 * h, r[q]);
            }
        }
        for (; p < kc; p++)
            for (int j = 0; j < 16; j++) d[p * 16 + j] = src[j * ldb + p];
    }
}
