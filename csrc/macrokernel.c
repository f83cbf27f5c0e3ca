/* macrokernel.c - runs the microkernel over every MR x NR tile of one packed block pair.
 * ir outer, jr inner: one packed A micro-panel (MR x kc, the broadcast side) stays in L1
 * while the B micro-panels (kc x NR, the vector side) stream from the L2-sized B block. */
#include "internal.h"

#define FF_PREC 1
#include "tmpl.h"
#include "macrokernel_impl.h"
#undef FF_PREC
#define FF_PREC 2
#include "tmpl.h"
#include "macrokernel_impl.h"
