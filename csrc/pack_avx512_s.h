/* pack_avx512_s.h - AVX-512 packing of row-major A into 14-row panels (float32).
 * The generic packer moves one element at a time (measured ~2 cycles each, 13% of a
 * 128x256x784 GEMM); here 16 columns of the 14 rows are loaded as vectors, transposed in
 * registers (16 x 16, rows 14-15 zero) and written as 16 contiguous 14-float panel rows.
 * Included by ukr_avx512_s.c after simd_avx512.h. */

TGT static inline void transpose16_ps(__m512 r[16])
{
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4g + c]: in 128-bit lane L, rows 4g..4g+3 of column 4L + c */
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m512 x0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        const __m512 x1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        const __m512 y0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        const __m512 y1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(x0, y0, 0x88);      /* column c      (lane 0) */
        r[8 + c] = _mm512_shuffle_f32x4(x0, y0, 0xDD);  /* column 8 + c  (lane 2) */
        r[4 + c] = _mm512_shuffle_f32x4(x1, y1, 0x88);  /* column 4 + c  (lane 1) */
        r[12 + c] = _mm512_shuffle_f32x4(x1, y1, 0xDD); /* column 12 + c (lane 3) */
    }
}

TGT static void pack_a_avx512_s(int ta, const float *a, idx_t lda, idx_t i0, idx_t p0,
                                idx_t mc, idx_t kc, int mr, float *dst)
{
    if (mr != 14) {
        fastff_pack_a_s(ta, a, lda, i0, p0, mc, kc, mr, dst);
        return;
    }
    if (ta) { /* A stored k x m: each panel row is 14 contiguous values (masked for edges) */
        for (idx_t ir = 0; ir < mc; ir += 14) {
            const int rows = (int)(mc - ir < 14 ? mc - ir : 14);
            const __mmask16 mask = (__mmask16)((1u << rows) - 1u);
            float *d = dst + ir * kc;
            const float *src = a + p0 * lda + i0 + ir;
            for (idx_t p = 0; p < kc; p++)
                _mm512_mask_storeu_ps(d + p * 14, 0x3FFF,
                                      _mm512_maskz_loadu_ps(mask, src + p * lda));
        }
        return;
    }
    for (idx_t ir = 0; ir < mc; ir += 14) {
        const int rows = (int)(mc - ir < 14 ? mc - ir : 14);
        float *d = dst + ir * kc;
        const float *src = a + (i0 + ir) * lda + p0;
        idx_t p = 0;
        if (rows == 14) {
            for (; p + 16 <= kc; p += 16) {
                __m512 r[16];
#pragma GCC unroll 14
                for (int i = 0; i < 14; i++) r[i] = _mm512_loadu_ps(src + i * lda + p);
                r[14] = _mm512_setzero_ps();
                r[15] = _mm512_setzero_ps();
                transpose16_ps(r);
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) _mm512_mask_storeu_ps(d + (p + j) * 14, 0x3FFF, r[j]);
            }
        }
        for (; p < kc; p++) {
            float *dp = d + p * 14;
            int i = 0;
            for (; i < rows; i++) dp[i] = src[i * lda + p];
            for (; i < 14; i++) dp[i] = 0;
        }
    }
}

/* B stored n x k (tb = 1) into 32-column panels: 16 columns x 16 k values per transpose. */
TGT static void pack_b_avx512_s(int tb, const float *b, idx_t ldb, idx_t p0, idx_t j0, idx_t kc,
                                idx_t nc, int nr, float *dst)
{
    if (!tb || nr != 32) {
        fastff_pack_b_s(tb, b, ldb, p0, j0, kc, nc, nr, dst);
        return;
    }
    for (idx_t jr = 0; jr < nc; jr += 32) {
        const int cols = (int)(nc - jr < 32 ? nc - jr : 32);
        float *d = dst + jr * kc;
        if (cols < 32) {
            fastff_pack_b_s(tb, b, ldb, p0, j0 + jr, kc, cols, nr, d);
            continue;
        }
        const float *src = b + (j0 + jr) * ldb + p0;
        idx_t p = 0;
        for (; p + 16 <= kc; p += 16) {
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m512 r[16];
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(src + (16 * h + j) * ldb + p);
                transpose16_ps(r);
#pragma GCC unroll 16
                for (int q = 0; q < 16; q++) _mm512_store_ps(d + (p + q) * 32 + 16 * h, r[q]);
            }
        }
        for (; p < kc; p++)
            for (int j = 0; j < 32; j++) d[p * 32 + j] = src[j * ldb + p];
    }
}

/* rows (<= 16) rows of row-major A, k columns -> dst[p*16 + r] (zero padded): feeds the small
 * path's column form when A is row-major and N is narrow (the 10-wide output layer). */
TGT static void pack_rows16_avx512_s(const float *a, idx_t lda, idx_t rows, idx_t k,
                                     float *dst)
{
    idx_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_loadu_ps(a + i * lda + p) : _mm512_setzero_ps();
        transpose16_ps(r);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) _mm512_store_ps(dst + (p + j) * 16, r[j]);
    }
    for (; p < k; p++)
        for (int i = 0; i < 16; i++) dst[p * 16 + i] = i < rows ? a[i * lda + p] : 0.0f;
}
