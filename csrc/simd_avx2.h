/* simd_avx2.h - AVX2+FMA vector helpers for ukr_x86_impl.h; define FF_PREC first
 * (1 = float: 8 lanes, 2 = double: 4 lanes). Partial vectors use maskload/maskstore. */
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma")))
#define VINL static inline __attribute__((target("avx2,fma"), always_inline))

/* lane i active when i < n: compare a lane-index vector with n */
VINL __m256i v_lanes_lt(int n, int lanes)
{
    if (lanes == 8) return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

#if FF_PREC == 1
#define T_ELEM float
#define VL 8
typedef __m256 V;
VINL V v_zero(void) { return _mm256_setzero_ps(); }
VINL V v_load(const float *p) { return _mm256_load_ps(p); }
VINL V v_set1(float x) { return _mm256_set1_ps(x); }
VINL V v_loadu(const float *p) { return _mm256_loadu_ps(p); }
VINL void v_store(float *p, V x) { _mm256_store_ps(p, x); }
VINL float v_hsum(V x)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
VINL V v_fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
VINL V v_mul(V a, V b) { return _mm256_mul_ps(a, b); }
VINL V v_add(V a, V b) { return _mm256_add_ps(a, b); }
VINL V v_max0(V x) { return _mm256_max_ps(_mm256_setzero_ps(), x); }
VINL V v_leaky(V x, V s)
{
    return _mm256_blendv_ps(x, _mm256_mul_ps(x, s),
                            _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}
VINL V v_loadn(const float *p, int n)
{
    return n >= VL ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, v_lanes_lt(n, VL));
}
VINL void v_storen(float *p, int n, V x)
{
    if (n >= VL) _mm256_storeu_ps(p, x);
    else _mm256_maskstore_ps(p, v_lanes_lt(n, VL), x);
}
/* bit i set where lane i is not zero (NaN counts as not zero, like x != 0) */
VINL unsigned v_nzmask(V x)
{
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NEQ_UQ));
}
/* for the activations (act_x86_impl.h); v_min/v_max return b when either is NaN */
VINL V v_sub(V a, V b) { return _mm256_sub_ps(a, b); }
VINL V v_div(V a, V b) { return _mm256_div_ps(a, b); }
VINL V v_min(V a, V b) { return _mm256_min_ps(a, b); }
VINL V v_max(V a, V b) { return _mm256_max_ps(a, b); }
VINL V v_abs(V x) { return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
VINL V v_copysign(V mag, V sgn)
{
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    return _mm256_or_ps(_mm256_andnot_ps(sign, mag), _mm256_and_ps(sign, sgn));
}
VINL V v_lt_select(V a, V b, V x, V y) /* a < b ? x : y */
{
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
VINL V v_round(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
VINL V v_ldexp(V p, V n) /* p * 2^n for integral n in [-126, 128] (callers clamp; 128 -> inf) */
{
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
                                                         _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#else
#define T_ELEM double
#define VL 4
typedef __m256d V;
VINL V v_zero(void) { return _mm256_setzero_pd(); }
VINL V v_load(const double *p) { return _mm256_load_pd(p); }
VINL V v_set1(double x) { return _mm256_set1_pd(x); }
VINL V v_loadu(const double *p) { return _mm256_loadu_pd(p); }
VINL void v_store(double *p, V x) { _mm256_store_pd(p, x); }
VINL double v_hsum(V x)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}
VINL V v_fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
VINL V v_mul(V a, V b) { return _mm256_mul_pd(a, b); }
VINL V v_add(V a, V b) { return _mm256_add_pd(a, b); }
VINL V v_max0(V x) { return _mm256_max_pd(_mm256_setzero_pd(), x); }
VINL V v_leaky(V x, V s)
{
    return _mm256_blendv_pd(x, _mm256_mul_pd(x, s),
                            _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_LT_OQ));
}
VINL V v_loadn(const double *p, int n)
{
    return n >= VL ? _mm256_loadu_pd(p) : _mm256_maskload_pd(p, v_lanes_lt(n, VL));
}
VINL void v_storen(double *p, int n, V x)
{
    if (n >= VL) _mm256_storeu_pd(p, x);
    else _mm256_maskstore_pd(p, v_lanes_lt(n, VL), x);
}
VINL unsigned v_nzmask(V x)
{
    return (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_NEQ_UQ));
}
#endif

/* ---- K loop in assembly (kloop_x86.h): 6 rows x 2 ymm, accumulators ymm0..ymm11 ---- */
#define KL_R "ymm"
#define KL_VB 32
#define KL_MR 6
#define KL_B0 12
#define KL_B1 13
#if FF_PREC == 1
#define KL_ES "4"
#define KL_BC "vbroadcastss"
#define KL_FMA "vfmadd231ps"
#define KL_MOV "vmovaps"
#define KL_MOVU "vmovups"
#define KL_XOR "vxorps"
#else
#define KL_ES "8"
#define KL_BC "vbroadcastsd"
#define KL_FMA "vfmadd231pd"
#define KL_MOV "vmovapd"
#define KL_MOVU "vmovupd"
#define KL_XOR "vxorpd"
#endif
#define KL_ROWS(u)                                                                          \
    KL_F(u, 0, 14, 0, 1) KL_F(u, 1, 15, 2, 3) KL_F(u, 2, 14, 4, 5) KL_F(u, 3, 15, 6, 7)     \
    KL_F(u, 4, 14, 8, 9) KL_F(u, 5, 15, 10, 11)
/* A in place: rows 0-2 at a, a + lda, a + 2 lda; rows 3-5 the same from a3 = a + 3 lda */
#define KLU_ROWS(off)                                                                       \
    KLU_F(off, "a", "", 14, 0, 1) KLU_F(off, "a", ", %[lda], 1", 15, 2, 3)                  \
    KLU_F(off, "a", ", %[lda], 2", 14, 4, 5) KLU_F(off, "a3", "", 15, 6, 7)                 \
    KLU_F(off, "a3", ", %[lda], 1", 14, 8, 9) KLU_F(off, "a3", ", %[lda], 2", 15, 10, 11)
#define KL_Z(r) KL_XOR " %%ymm" #r ", %%ymm" #r ", %%ymm" #r "\n\t"
#define KL_ZERO                                                                             \
    KL_Z(0) KL_Z(1) KL_Z(2) KL_Z(3) KL_Z(4) KL_Z(5) KL_Z(6) KL_Z(7) KL_Z(8) KL_Z(9)         \
    KL_Z(10) KL_Z(11)
#define KL_ST(r) KL_MOV " %%ymm" #r ", " #r "*32(%[acc])\n\t"
#define KL_STORE                                                                            \
    KL_ST(0) KL_ST(1) KL_ST(2) KL_ST(3) KL_ST(4) KL_ST(5) KL_ST(6) KL_ST(7) KL_ST(8)        \
    KL_ST(9) KL_ST(10) KL_ST(11)
#include "kloop_x86.h"

#define KL_TILE_MR 6
TGT static void kloop(idx_t kc, const T_ELEM *a, const T_ELEM *b, idx_t ldb, T_ELEM *acc)
{
    idx_t k4 = kc / 4, kr = kc % 4;
    const idx_t ldb_bytes = ldb * (idx_t)sizeof(T_ELEM), pf = 8 * ldb_bytes;
    __asm__ volatile(KL_BODY
                     : [a] "+r"(a), [b] "+r"(b), [k4] "+r"(k4), [kr] "+r"(kr)
                     : [acc] "r"(acc), [ldb] "r"(ldb_bytes), [pf] "r"(pf)
                     : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
}

#define KL_HAVE_UA 1
TGT static void kloop_ua(idx_t kc, const T_ELEM *a, idx_t lda, const T_ELEM *b, idx_t ldb,
                         T_ELEM *acc)
{
    idx_t k4 = kc / 4, kr = kc % 4;
    const idx_t ldb_bytes = ldb * (idx_t)sizeof(T_ELEM), pf = 8 * ldb_bytes;
    const idx_t lda_bytes = lda * (idx_t)sizeof(T_ELEM);
    const T_ELEM *a3 = a + 3 * lda;
    __asm__ volatile(KLU_BODY
                     : [a] "+r"(a), [a3] "+r"(a3), [b] "+r"(b), [k4] "+r"(k4), [kr] "+r"(kr)
                     : [acc] "r"(acc), [ldb] "r"(ldb_bytes), [pf] "r"(pf), [lda] "r"(lda_bytes)
                     : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
}
