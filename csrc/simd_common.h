/* simd_common.h - declarations shared by the x86 SIMD kernel files (x86 builds only). */
#ifndef FASTFF_SIMD_COMMON_H
#define FASTFF_SIMD_COMMON_H

#include "internal.h"

int fastff_avx512_supported(void);
int fastff_avx2_supported(void);

extern const kern_s fastff_avx512_s;
extern const kern_d fastff_avx512_d;
extern const kern_s fastff_avx2_s;
extern const kern_d fastff_avx2_d;

/* act_x86.c: vectorized tanh / sigmoid / elu / gelu rows */
void fastff_act_row_avx512_s(float *x, idx_t n, int act, float param);
void fastff_act_row_avx512_d(double *x, idx_t n, int act, double param);
void fastff_act_row_avx2_s(float *x, idx_t n, int act, float param);
void fastff_act_row_avx2_d(double *x, idx_t n, int act, double param);

#endif
