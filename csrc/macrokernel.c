/* macrokernel.c - runs the microkernel over every MR x NR tile of one packed block pair.
 * jr outer, ir inner: one B micro-panel (kc x NR) stays in L1 while the packed A block
 * (mc x kc, sized for L2) streams past it. */
#include "internal.h"

#define FF_PREC 1
#include "tmpl.h"
#include "macrokernel_impl.h"
#undef FF_PREC
#define FF_PREC 2
#include "tmpl.h"
#include "macrokernel_impl.h"
