/* ukr_avx2_s.c - AVX2 float microkernel, 6 x 16 tile: 12 ymm accumulators + 2 B vectors + 1 broadcast.
 * Body in ukr_x86_impl.h, vector helpers in simd_avx2.h; the blocking below sizes the
 * packed A micro-panel (MR x KC) for L1, the packed B block (KC x NC) for L2 and the packed
 * A block (MC x KC) for L3 (see docs/gemm.md). */
#include "internal.h"

#if FASTFF_X86 && !defined(FASTFF_REF_ONLY)
#include "simd_common.h"

#define FF_PREC 1
#include "simd_avx2.h"

#ifndef AVX2_S_KC
#define AVX2_S_KC 256
#endif
#ifndef AVX2_S_NC
#define AVX2_S_NC 384
#endif

#define T float
#define EPI epi_s
#define MR KL_TILE_MR
#define NV 2
#define UKR_NAME ukr_avx2_s
#define UKR_UA_NAME ukr_ua_avx2_s
#define ACT_ROW fastff_act_row_avx2_s
#include "ukr_x86_impl.h"
#include "act_x86_impl.h"

#define SMALL_NAME small_avx2_s
#define STORE_TILE fastff_store_tile_s
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

#define SP_NZ nz_avx2_s
#define SP_CHAIN spchain_avx2_s
#define SP_EPI sp_epi_avx2_s
#define SP_CHUNK sp_chunk_avx2_s
#include "sparse_x86_impl.h"

const kern_s fastff_avx2_s = {
    {MR, NV * VL, 4032 / MR * MR, AVX2_S_KC, AVX2_S_NC, 4, SM_COLN},
    UKR_NAME,
    ACT_ROW,
    SMALL_NAME,
    fastff_pack_a_s,
    fastff_pack_b_s,
    SP_NZ,
    SP_CHAIN,
    UKR_UA_NAME,
};

#endif
