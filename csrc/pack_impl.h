/* pack_impl.h - packing into microkernel panel order, once per precision (see tmpl.h).
 * A block (mc x kc of op(A) at rows i0, cols p0) -> panels of mr rows: dst[panel][p*mr + i].
 * B block (kc x nc of op(B) at rows p0, cols j0) -> panels of nr cols: dst[panel][p*nr + j].
 * Edge panels are zero padded so microkernels always run full tiles. */

void FF(fastff_pack_a)(int ta, const T *a, idx_t lda, idx_t i0, idx_t p0, idx_t mc, idx_t kc,
                       int mr, T *dst)
{
    for (idx_t ir = 0; ir < mc; ir += mr) {
        const int rows = (int)(mc - ir < mr ? mc - ir : mr);
        T *d = dst + ir * kc;
        if (!ta && rows == mr) {
            /* full panel: mr row streams read in step, one contiguous write stream */
            const T *src = a + (i0 + ir) * lda + p0;
            for (idx_t p = 0; p < kc; p++) {
                T *dp = d + p * mr;
                for (int i = 0; i < mr; i++) dp[i] = src[i * lda + p];
            }
        } else if (!ta) {
            for (int i = 0; i < rows; i++) {
                const T *src = a + (i0 + ir + i) * lda + p0;
                for (idx_t p = 0; p < kc; p++) d[p * mr + i] = src[p];
            }
            for (int i = rows; i < mr; i++)
                for (idx_t p = 0; p < kc; p++) d[p * mr + i] = 0;
        } else {
            for (idx_t p = 0; p < kc; p++) {
                const T *src = a + (p0 + p) * lda + i0 + ir;
                T *dp = d + p * mr;
                int i = 0;
                for (; i < rows; i++) dp[i] = src[i];
                for (; i < mr; i++) dp[i] = 0;
            }
        }
    }
}

void FF(fastff_pack_b)(int tb, const T *b, idx_t ldb, idx_t p0, idx_t j0, idx_t kc, idx_t nc,
                       int nr, T *dst)
{
    for (idx_t jr = 0; jr < nc; jr += nr) {
        const int cols = (int)(nc - jr < nr ? nc - jr : nr);
        T *d = dst + jr * kc;
        if (!tb) {
            for (idx_t p = 0; p < kc; p++) {
                const T *src = b + (p0 + p) * ldb + j0 + jr;
                T *dp = d + p * nr;
                int j = 0;
                for (; j < cols; j++) dp[j] = src[j];
                for (; j < nr; j++) dp[j] = 0;
            }
        } else {
            for (int j = 0; j < cols; j++) {
                const T *src = b + (j0 + jr + j) * ldb + p0;
                for (idx_t p = 0; p < kc; p++) d[p * nr + j] = src[p];
            }
            for (int j = cols; j < nr; j++)
                for (idx_t p = 0; p < kc; p++) d[p * nr + j] = 0;
        }
    }
}
