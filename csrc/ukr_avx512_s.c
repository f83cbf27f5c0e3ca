/* ukr_avx512_s.c - AVX512 float microkernel, 14 x 32 tile: 28 zmm accumulators + 2 B vectors + 1 broadcast.
 * Body in ukr_x86_impl.h, vector helpers in simd_avx512.h; the blocking below sizes the
 * packed A micro-panel (MR x KC) for L1, the packed B block (KC x NC) for L2 and the packed
 * A block (MC x KC) for L3 (see docs/gemm.md). */
#include "internal.h"

#if FASTFF_X86 && !defined(FASTFF_REF_ONLY)
#include "simd_common.h"

#define FF_PREC 1
#include "simd_avx512.h"

#ifndef AVX512_S_KC
#define AVX512_S_KC 384
#endif
#ifndef AVX512_S_NC
#define AVX512_S_NC 384
#endif

#define T float
#define EPI epi_s
#define MR KL_TILE_MR
#define NV 2
#define UKR_NAME ukr_avx512_s
#define ACT_ROW fastff_act_row_avx512_s
#include "ukr_x86_impl.h"
#include "act_x86_impl.h"

#define SMALL_NAME small_avx512_s
#define STORE_TILE fastff_store_tile_s
#define SM_V 4
#define SM_R 8
#define DOT_R 4
#define DOT_J 4
#define SM_NVC(R) ((R) == 1 ? 16 : (R) == 2 ? 8 : (R) == 3 ? 5 : 4)
#define SM_WIDE 16
#define DOT_J1 8
#define SM_R2 8
#define SM_COLN 16
#include "pack_avx512_s.h"
#define SM_PACK_ROWS pack_rows16_avx512_s
#include "small_x86_impl.h"

#define SP_NZ nz_avx512_s
#define SP_NV 16 /* 16 of the 32 zmm registers hold a chunk's sums */
#define SP_CHAIN spchain_avx512_s
#define SP_EPI sp_epi_avx512_s
#define SP_CHUNK sp_chunk_avx512_s
#include "sparse_x86_impl.h"

const kern_s fastff_avx512_s = {
    {MR, NV * VL, 4032 / MR * MR, AVX512_S_KC, AVX512_S_NC, 4, SM_COLN},
    UKR_NAME,
    ACT_ROW,
    SMALL_NAME,
    pack_a_avx512_s,
    pack_b_avx512_s,
    SP_NZ,
    SP_CHAIN,
};

#endif
