/* ukr_avx2_d.c - AVX2 double microkernel, 6 x 8 tile: 12 ymm accumulators + 2 B vectors + 1 broadcast.
 * Body in ukr_x86_impl.h, vector helpers in simd_avx2.h; the blocking below sizes the
 * packed A micro-panel (MR x KC) for L1, the packed B block (KC x NC) for L2 and the packed
 * A block (MC x KC) for L3 (see docs/gemm.md). */
#include "internal.h"

#if FASTFF_X86 && !defined(FASTFF_REF_ONLY)
#include "simd_common.h"

#define FF_PREC 2
#include "simd_avx2.h"

#ifndef AVX2_D_KC
#define AVX2_D_KC 256
#endif
#ifndef AVX2_D_NC
#define AVX2_D_NC 384
#endif

#define T double
#define EPI epi_d
#define MR KL_TILE_MR
#define NV 2
#define UKR_NAME ukr_avx2_d
#define UKR_UA_NAME ukr_ua_avx2_d
#define ACT_ROW fastff_act_row_avx2_d
#include "ukr_x86_impl.h"

#define SMALL_NAME small_avx2_d
#define STORE_TILE fastff_store_tile_d
#define SM_V 2
#define SM_R 8
#define DOT_R 2
#define DOT_J 4
#define SM_NVC(R) ((R) == 1 ? 8 : (R) == 2 ? 4 : (R) == 3 ? 3 : 2)
#define SM_WIDE 8
#define DOT_J1 4
#define SM_R2 4
#define SM_COLN 12
#include "small_x86_impl.h"

#define SP_NZ nz_avx2_d
#define SP_CHAIN spchain_avx2_d
#define SP_EPI sp_epi_avx2_d
#define SP_CHUNK sp_chunk_avx2_d
#include "sparse_x86_impl.h"

const kern_d fastff_avx2_d = {
    {MR, NV * VL, 4032 / MR * MR, AVX2_D_KC, AVX2_D_NC, 4, SM_COLN},
    UKR_NAME,
    ACT_ROW,
    SMALL_NAME,
    fastff_pack_a_d,
    fastff_pack_b_d,
    SP_NZ,
    SP_CHAIN,
    UKR_UA_NAME,
};

#endif
