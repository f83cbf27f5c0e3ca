/* pool.h - the parallel-for the drivers use (pool.c) and the per-shape thread plan
 * (threads.c). */
#ifndef FASTFF_POOL_H
#define FASTFF_POOL_H

#include "internal.h"

/* one task of a parallel call; tasks write disjoint parts of C */
typedef void (*fastff_task_fn)(void *ctx, idx_t task);

/* Run fn(ctx, t) for t in [0, ntasks) on up to nt threads (the caller is one of them);
 * returns when all are done. Each task runs on exactly one thread. Returns the thread
 * count offered (1 when it ran serially). The caller sets its own FP environment; workers
 * set FTZ/DAZ themselves. */
int fastff_parallel(int nt, idx_t ntasks, fastff_task_fn fn, void *ctx);

uint64_t fastff_now_ns(void);

/* How many threads one call uses: the static limit (enough work per thread, enough tiles),
 * then - when the adaptive policy is on - whichever of 1 thread and that limit measured
 * faster for calls of the same shape (`key`), re-probing the other now and then. */
typedef struct {
    int nt;      /* threads to use */
    int slot;    /* table entry, -1 = not timed */
    int arm;     /* 0 = one thread, 1 = nt threads */
    uint64_t key;
    uint64_t t0;
} fastff_plan;

void fastff_plan_begin(fastff_plan *p, double flops, idx_t tiles, uint64_t key);
void fastff_plan_end(const fastff_plan *p);

static inline uint64_t fastff_shape_key(int path, int dtype, int ta, int tb, idx_t m, idx_t n,
                                        idx_t k)
{
    uint64_t h = 1469598103934665603ull;
    const uint64_t v[7] = {(uint64_t)path, (uint64_t)dtype, (uint64_t)ta, (uint64_t)tb,
                           (uint64_t)m, (uint64_t)n, (uint64_t)k};
    for (int i = 0; i < 7; i++) h = (h ^ v[i]) * 1099511628211ull;
    return h | 1; /* 0 marks an empty entry */
}

#endif /* FASTFF_POOL_H */
