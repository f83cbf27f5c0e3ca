/* act_x86.c - activation rows for the x86 kernel sets (placeholder: the libm reference). */
#include "internal.h"

#if FASTFF_X86 && !defined(FASTFF_REF_ONLY)
#include "simd_common.h"

void fastff_act_row_avx512_s(float *x, idx_t n, int act, float p) { fastff_act_row_ref_s(x, n, act, p); }
void fastff_act_row_avx512_d(double *x, idx_t n, int act, double p) { fastff_act_row_ref_d(x, n, act, p); }
void fastff_act_row_avx2_s(float *x, idx_t n, int act, float p) { fastff_act_row_ref_s(x, n, act, p); }
void fastff_act_row_avx2_d(double *x, idx_t n, int act, double p) { fastff_act_row_ref_d(x, n, act, p); }
#endif
