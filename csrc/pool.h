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

/* ---- one GEMM ready to run, alone or in a batch with others (batch.c) ----
 * A driver (dense or sparse-A) checks its arguments, chooses its path and fills an item:
 * its job description (stored in the item), its cost and how many tasks it can use, and how
 * to run it serially or as tasks. fastff_run_items runs items as one parallel call: one
 * thread plan for all of them, every item's tasks in one pool job. The tasks of an item are
 * the serial algorithm over parts of its C, so the bits never depend on who ran what. */
#define FASTFF_JOB_BYTES 320
#define FASTFF_BATCH_MAX 4

typedef struct {
    double flops;         /* cost estimate in dense-GEMM flops (the plan's work measure) */
    idx_t units;          /* the most tasks the item can be split into */
    uint64_t key;         /* shape key of the adaptive plan */
    int tasks_per_thread; /* tasks per thread when the item runs alone */
    int (*serial)(void *job);            /* all of it on this thread; returns rc */
    int (*prepare)(void *job, int want); /* split into about `want` tasks; returns the count */
    fastff_task_fn task;
    int (*rc)(void *job); /* error code the tasks left */
    _Alignas(64) unsigned char job[FASTFF_JOB_BYTES];
} fastff_item;

/* The item a GEMM call of this thread records itself into while a batch is open (then it
 * returns at once: fastff_batch_end runs it), or NULL: run now. */
fastff_item *fastff_batch_slot(void);
/* Run n items (FTZ/DAZ set here); returns the first nonzero error code, or FASTFF_OK. */
int fastff_run_items(fastff_item *items, int n);

#endif /* FASTFF_POOL_H */
