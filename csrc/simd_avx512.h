/* simd_avx512.h - AVX-512F vector helpers for ukr_x86_impl.h; define FF_PREC first
 * (1 = float: 16 lanes, 2 = double: 8 lanes). */
#include <immintrin.h>

#define TGT __attribute__((target("avx512f")))
#define VINL static inline __attribute__((target("avx512f"), always_inline))

#if FF_PREC == 1
#define T_ELEM float
#define VL 16
typedef __m512 V;
typedef __mmask16 VMASK;
VINL V v_zero(void) { return _mm512_setzero_ps(); }
VINL V v_load(const float *p) { return _mm512_load_ps(p); }
VINL V v_set1(float x) { return _mm512_set1_ps(x); }
VINL V v_loadu(const float *p) { return _mm512_loadu_ps(p); }
VINL void v_store(float *p, V x) { _mm512_store_ps(p, x); }
VINL float v_hsum(V x) { return _mm512_reduce_add_ps(x); }
VINL V v_fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
VINL V v_mul(V a, V b) { return _mm512_mul_ps(a, b); }
VINL V v_add(V a, V b) { return _mm512_add_ps(a, b); }
VINL V v_max0(V x) { return _mm512_max_ps(_mm512_setzero_ps(), x); }
VINL V v_leaky(V x, V s)
{
    return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), x, s);
}
VINL VMASK v_mask(int n) { return (VMASK)(n >= VL ? 0xFFFFu : ((1u << n) - 1u)); }
VINL V v_loadn(const float *p, int n) { return _mm512_maskz_loadu_ps(v_mask(n), p); }
VINL void v_storen(float *p, int n, V x) { _mm512_mask_storeu_ps(p, v_mask(n), x); }
/* bit i set where lane i is not zero (NaN counts as not zero, like x != 0) */
VINL unsigned v_nzmask(V x) { return _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NEQ_UQ); }
/* for the activations (act_x86_impl.h); v_min/v_max return b when either is NaN */
VINL V v_sub(V a, V b) { return _mm512_sub_ps(a, b); }
VINL V v_div(V a, V b) { return _mm512_div_ps(a, b); }
VINL V v_min(V a, V b) { return _mm512_min_ps(a, b); }
VINL V v_max(V a, V b) { return _mm512_max_ps(a, b); }
VINL V v_abs(V x) { return _mm512_abs_ps(x); }
VINL V v_copysign(V mag, V sgn)
{
    const __m512i m = _mm512_set1_epi32(0x7fffffff);
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(m, _mm512_castps_si512(mag),
                                                         _mm512_castps_si512(sgn), 0xCA));
}
VINL V v_lt_select(V a, V b, V x, V y) /* a < b ? x : y */
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
}
VINL V v_round(V x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT); }
VINL V v_ldexp(V p, V n) { return _mm512_scalef_ps(p, n); } /* p * 2^n, n integral */
#else
#define T_ELEM double
#define VL 8
typedef __m512d V;
typedef __mmask8 VMASK;
VINL V v_zero(void) { return _mm512_setzero_pd(); }
VINL V v_load(const double *p) { return _mm512_load_pd(p); }
VINL V v_set1(double x) { return _mm512_set1_pd(x); }
VINL V v_loadu(const double *p) { return _mm512_loadu_pd(p); }
VINL void v_store(double *p, V x) { _mm512_store_pd(p, x); }
VINL double v_hsum(V x) { return _mm512_reduce_add_pd(x); }
VINL V v_fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
VINL V v_mul(V a, V b) { return _mm512_mul_pd(a, b); }
VINL V v_add(V a, V b) { return _mm512_add_pd(a, b); }
VINL V v_max0(V x) { return _mm512_max_pd(_mm512_setzero_pd(), x); }
VINL V v_leaky(V x, V s)
{
    return _mm512_mask_mul_pd(x, _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LT_OQ), x, s);
}
VINL VMASK v_mask(int n) { return (VMASK)(n >= VL ? 0xFFu : ((1u << n) - 1u)); }
VINL V v_loadn(const double *p, int n) { return _mm512_maskz_loadu_pd(v_mask(n), p); }
VINL void v_storen(double *p, int n, V x) { _mm512_mask_storeu_pd(p, v_mask(n), x); }
VINL unsigned v_nzmask(V x) { return _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_NEQ_UQ); }
#endif

/* ---- K loop in assembly (kloop_x86.h): 14 rows x 2 zmm, accumulators zmm0..zmm27 ---- */
#define KL_R "zmm"
#define KL_VB 64
#define KL_MR 14
#define KL_B0 28
#define KL_B1 29
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
    KL_F(u, 0, 30, 0, 1) KL_F(u, 1, 31, 2, 3) KL_F(u, 2, 30, 4, 5) KL_F(u, 3, 31, 6, 7)     \
    KL_F(u, 4, 30, 8, 9) KL_F(u, 5, 31, 10, 11) KL_F(u, 6, 30, 12, 13)                      \
    KL_F(u, 7, 31, 14, 15) KL_F(u, 8, 30, 16, 17) KL_F(u, 9, 31, 18, 19)                    \
    KL_F(u, 10, 30, 20, 21) KL_F(u, 11, 31, 22, 23) KL_F(u, 12, 30, 24, 25)                 \
    KL_F(u, 13, 31, 26, 27)
#define KL_Z(r) KL_XOR " %%zmm" #r ", %%zmm" #r ", %%zmm" #r "\n\t"
#define KL_ZERO                                                                             \
    KL_Z(0) KL_Z(1) KL_Z(2) KL_Z(3) KL_Z(4) KL_Z(5) KL_Z(6) KL_Z(7) KL_Z(8) KL_Z(9)         \
    KL_Z(10) KL_Z(11) KL_Z(12) KL_Z(13) KL_Z(14) KL_Z(15) KL_Z(16) KL_Z(17) KL_Z(18)        \
    KL_Z(19) KL_Z(20) KL_Z(21) KL_Z(22) KL_Z(23) KL_Z(24) KL_Z(25) KL_Z(26) KL_Z(27)
#define KL_ST(r) KL_MOV " %%zmm" #r ", " #r "*64(%[acc])\n\t"
#define KL_STORE                                                                            \
    KL_ST(0) KL_ST(1) KL_ST(2) KL_ST(3) KL_ST(4) KL_ST(5) KL_ST(6) KL_ST(7) KL_ST(8)        \
    KL_ST(9) KL_ST(10) KL_ST(11) KL_ST(12) KL_ST(13) KL_ST(14) KL_ST(15) KL_ST(16)          \
    KL_ST(17) KL_ST(18) KL_ST(19) KL_ST(20) KL_ST(21) KL_ST(22) KL_ST(23) KL_ST(24)         \
    KL_ST(25) KL_ST(26) KL_ST(27)
#include "kloop_x86.h"

#define KL_TILE_MR 14
TGT static void kloop(idx_t kc, const T_ELEM *a, const T_ELEM *b, idx_t ldb, T_ELEM *acc)
{
    idx_t k4 = kc / 4, kr = kc % 4;
    const idx_t ldb_bytes = ldb * (idx_t)sizeof(T_ELEM), pf = 8 * ldb_bytes;
    __asm__ volatile(KL_BODY
                     : [a] "+r"(a), [b] "+r"(b), [k4] "+r"(k4), [kr] "+r"(kr)
                     : [acc] "r"(acc), [ldb] "r"(ldb_bytes), [pf] "r"(pf)
                     : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
                       "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30",
                       "xmm31");
}
