/* act_x86.c - double precision activation rows for the x86 kernel sets: the libm reference
 * (float32 has vectorized ones in act_x86_impl.h). */
#include "internal.h"

#if FASTFF_X86 && !defined(FASTFF_REF_ONLY)
#include "simd_common.h"

void fastff_act_row_avx512_d(double *x, idx_t n, int act, double p)
{
    fastff_act_row_ref_d(x, n, act, p);
}
void fastff_act_row_avx2_d(double *x, idx_t n, int act, double p)
{
    fastff_act_row_ref_d(x, n, act, p);
}
#endif
