/* pack.c - packing of A and B blocks (see pack_impl.h). */
#include "internal.h"

#define FF_PREC 1
#include "tmpl.h"
#include "pack_impl.h"
#undef FF_PREC
#define FF_PREC 2
#include "tmpl.h"
#include "pack_impl.h"
