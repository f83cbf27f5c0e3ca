/* ukr_ref.c - the portable reference kernel set: plain C, compiles on any target. */
#include "internal.h"

#define REF_MR 4
#define REF_NR 16

#define FF_PREC 1
#include "tmpl.h"
#include "ukr_ref_impl.h"
#undef FF_PREC
#define FF_PREC 2
#include "tmpl.h"
#include "ukr_ref_impl.h"

static int ref_supported(void) { return 1; }

static const kern_s ref_s = {
    {REF_MR, REF_NR, 512, 256, 512, 4, 16}, ukr_ref_s, fastff_act_row_ref_s, fastff_small_ref_s,
    fastff_pack_a_s, fastff_pack_b_s, fastff_nz_ref_s, fastff_spchain_ref_s};
static const kern_d ref_d = {
    {REF_MR, REF_NR, 512, 256, 512, 4, 16}, ukr_ref_d, fastff_act_row_ref_d, fastff_small_ref_d,
    fastff_pack_a_d, fastff_pack_b_d, fastff_nz_ref_d, fastff_spchain_ref_d};

const fastff_kernel fastff_kernel_ref = {"ref", ref_supported, &ref_s, &ref_d};
