/* ukr_avx512_d.c - AVX512 double microkernel, 14 x 16 tile: 28 zmm accumulators + 2 B vectors + 1 broadcast.
 * Body in ukr_x86_impl.h, vector helpers in simd_avx512.h; the blocking below sizes the
 * packed A micro-panel (MR x KC) for L1, the packed B block (KC x NC) for L2 and the packed
 * A block (MC x KC) for L3 (see docs/gemm.md). */
#include "internal.h"

#if FASTFF_X86 && !defined(FASTFF_REF_ONLY)
#include "simd_common.h"

#define FF_PREC 2
#include "simd_avx512.h"

#ifndef AVX512_D_KC
#define AVX512_D_KC 256
#endif
#ifndef AVX512_D_NC
#define AVX512_D_NC 384
#endif

#define T double
#define EPI epi_d
#define MR KL_TILE_MR
#define NV 2
#define UKR_NAME ukr_avx512_d
#define ACT_ROW fastff_act_row_avx512_d
#include "ukr_x86_impl.h"

#define SMALL_NAME small_avx512_d
#define STORE_TILE fastff_store_tile_d
#define SM_V 4
#define SM_R 8
#define DOT_R 4
#define DOT_J 4
#define SM_NVC(R) ((R) == 1 ? 16 : (R) == 2 ? 8 : (R) == 3 ? 5 : 4)
#define SM_WIDE 16
#define DOT_J1 8
#define SM_R2 8
#define SM_COLN 16
#include "pack_avx512_d.h"
#define SM_PACK_ROWS pack_rows8_avx512_d
#include "small_x86_impl.h"

#define SP_NZ nz_avx512_d
#define SP_NV 16 /* 16 of the 32 zmm registers hold a chunk's sums */
#define SP_CHAIN spchain_avx512_d
#define SP_EPI sp_epi_avx512_d
#define SP_CHUNK sp_chunk_avx512_d
#include "sparse_x86_impl.h"

const kern_d fastff_avx512_d = {
    {MR, NV * VL, 4032 / MR * MR, AVX512_D_KC, AVX512_D_NC, 4, SM_COLN},
    UKR_NAME,
    ACT_ROW,
    SMALL_NAME,
    pack_a_avx512_d,
    pack_b_avx512_d,
    SP_NZ,
    SP_CHAIN,
};

#endif
