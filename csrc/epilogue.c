/* epilogue.c - alpha/beta/bias/activation rules shared by every kernel. */
#include <math.h>

#include "internal.h"

int fastff_act_is_elementwise_heavy(int act)
{
    return act == FASTFF_ACT_TANH || act == FASTFF_ACT_SIGMOID || act == FASTFF_ACT_ELU ||
           act == FASTFF_ACT_GELU_TANH || act == FASTFF_ACT_GELU;
}

#define FF_PREC 1
#include "tmpl.h"
#include "epilogue_impl.h"
#undef FF_PREC
#define FF_PREC 2
#include "tmpl.h"
#include "epilogue_impl.h"
