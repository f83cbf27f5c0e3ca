/* macrokernel_impl.h - see macrokernel.c; once per precision (see tmpl.h). */
void FF(fastff_macro)(const KERN *kn, idx_t mc, idx_t nc, idx_t kc, const T *ap, const T *aip,
                      idx_t lda, const T *b, idx_t bstep, idx_t ldb, idx_t nfull,
                      const T *bedge, T *c, idx_t ldc, const EPI *e)
{
    const int MR = kn->blk.mr, NR = kn->blk.nr;
    EPI te = *e;
    for (idx_t ir = 0; ir < mc; ir += MR) {
        const int mr = (int)(mc - ir < MR ? mc - ir : MR);
        const int in_place = aip && mr == MR;
        const T *apan = in_place ? aip + ir * lda : aip ? ap : ap + ir * kc;
        for (idx_t jr = 0, panel = 0; jr < nc; jr += NR, panel++) {
            const int nr = (int)(nc - jr < NR ? nc - jr : NR);
            const T *bpan = panel < nfull ? b + jr * bstep : bedge;
            const idx_t bld = panel < nfull ? ldb : NR;
            te.bias = e->bias ? e->bias + jr : NULL;
            if (in_place)
                kn->ukr_ua(kc, apan, lda, bpan, bld, c + ir * ldc + jr, ldc, mr, nr, &te);
            else
                kn->ukr(kc, apan, bpan, bld, c + ir * ldc + jr, ldc, mr, nr, &te);
        }
    }
}
