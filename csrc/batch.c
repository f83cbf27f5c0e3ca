/* batch.c - several independent GEMMs as one parallel call (fastff_batch_begin / _end), and
 * the runner every single GEMM call goes through too (fastff_run_items).
 *
 * Why: a batch-128 training step is a dozen GEMMs of 0.02-0.6 ms; each parallel call costs a
 * wake-up and a wait for the last task, and a 16 MFLOP GEMM split over two threads packs
 * its operands twice. The weight gradient dW = Xᵀ·dY and the input gradient dX = dY·Wᵀ of
 * one layer are independent: recorded in one batch they run as one pool job whose tasks are
 * both GEMMs' tasks (larger work first), under one thread plan. Each item's tasks are still
 * the serial algorithm over parts of its own C, so results are bitwise those of the calls
 * made one by one, for any thread count. */
#include <string.h>

#include "blocking.h"
#include "pool.h"

typedef struct {
    int open, n;
    fastff_item items[FASTFF_BATCH_MAX];
} batch_t;

static __thread batch_t tl_batch;

int32_t fastff_batch_begin(void)
{
    tl_batch.open = 1;
    return FASTFF_OK;
}

fastff_item *fastff_batch_slot(void)
{
    batch_t *b = &tl_batch;
    if (!b->open || b->n >= FASTFF_BATCH_MAX) return NULL;
    return &b->items[b->n++];
}

int32_t fastff_batch_end(void)
{
    batch_t *b = &tl_batch;
    const int n = b->n;
    b->open = 0;
    b->n = 0;
    return n ? fastff_run_items(b->items, n) : FASTFF_OK;
}

/* one pool job over the tasks of several items: task t belongs to the item whose range
 * [off[i], off[i+1]) holds it */
typedef struct {
    fastff_item *items[FASTFF_BATCH_MAX];
    idx_t off[FASTFF_BATCH_MAX + 1];
    int n;
} multi_t;

static void multi_task(void *ctx, idx_t t)
{
    multi_t *m = (multi_t *)ctx;
    int i = 0;
    while (t >= m->off[i + 1]) i++;
    m->items[i]->task(m->items[i]->job, t - m->off[i]);
}

static uint64_t combine_keys(const fastff_item *items, int n)
{
    if (n == 1) return items[0].key;
    uint64_t h = 0x84222325cbf29ce4ull;
    for (int i = 0; i < n; i++) h = (h ^ items[i].key) * 1099511628211ull;
    return h | 1;
}

int fastff_run_items(fastff_item *items, int n)
{
    double flops = 0;
    idx_t units = 0;
    for (int i = 0; i < n; i++) {
        flops += items[i].flops;
        units += items[i].units;
    }
    fpenv_t env = fpenv_enter();
    fastff_plan plan;
    fastff_plan_begin(&plan, flops, units, combine_keys(items, n));
    int rc = FASTFF_OK;
    if (plan.nt <= 1) {
        for (int i = 0; i < n; i++) {
            const int r = items[i].serial(items[i].job);
            if (rc == FASTFF_OK) rc = r;
        }
    } else {
        /* tasks in proportion to each item's work, the largest item's first (its tasks are
         * the longest: claimed first, they leave the short ones to even out the end) */
        multi_t m;
        m.n = n;
        for (int i = 0; i < n; i++) m.items[i] = &items[i];
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && m.items[j]->flops > m.items[j - 1]->flops; j--) {
                fastff_item *x = m.items[j];
                m.items[j] = m.items[j - 1];
                m.items[j - 1] = x;
            }
        m.off[0] = 0;
        for (int i = 0; i < n; i++) {
            fastff_item *it = m.items[i];
            const double share = flops > 0 ? it->flops / flops : 1.0 / n;
            idx_t want = (idx_t)((double)plan.nt * it->tasks_per_thread * share + 0.5);
            if (want < 1) want = 1;
            if (want > it->units) want = it->units;
            m.off[i + 1] = m.off[i] + it->prepare(it->job, (int)want);
        }
        fastff_parallel(plan.nt, m.off[n], multi_task, &m);
        for (int i = 0; i < n; i++) {
            const int r = items[i].rc(items[i].job);
            if (rc == FASTFF_OK) rc = r;
        }
    }
    fastff_plan_end(&plan);
    fpenv_leave(env);
    return rc;
}

/* ---- an elementwise range kernel split over the pool (fastff_parallel_range) ----
 * The kernel is compiled elsewhere (a Numba cfunc: the optimizer update of the compiled
 * training step) and runs with the caller's floating-point environment on every thread -
 * not the GEMMs' FTZ/DAZ - so each element gets exactly the serial result: pieces only
 * change who computes which elements. */
typedef void (*range_fn)(void *const *ptrs, const int64_t *sizes, const double *scal,
                         int64_t lo, int64_t hi);

/* dense-flop equivalent of one element (an Adam update reads 4 and writes 3 values:
 * measured ~0.5 ns per element on one core, ~50 flops of a GEMM) for the thread plan */
#define RANGE_FLOPS_PER_ELEM 50.0
#define RANGE_TASKS_PER_THREAD 4

typedef struct {
    range_fn fn;
    void *const *ptrs;
    const int64_t *sizes;
    const double *scal;
    idx_t n, align;
    int ntasks;
#if FASTFF_X86
    unsigned int csr;
#endif
} range_job;

static void range_task(void *ctx, idx_t t)
{
    range_job *j = (range_job *)ctx;
    idx_t lo, hi;
    split_range(j->n, j->align, j->ntasks, (int)t, &lo, &hi);
    if (hi <= lo) return;
#if FASTFF_X86
    const unsigned int saved = _mm_getcsr();
    _mm_setcsr(j->csr);
#endif
    j->fn(j->ptrs, j->sizes, j->scal, lo, hi);
#if FASTFF_X86
    _mm_setcsr(saved);
#endif
}

int32_t fastff_parallel_range(void *fn, void *const *ptrs, const int64_t *sizes,
                              const double *scal, int64_t n, int64_t align)
{
    if (!fn) return FASTFF_ERR_NULL;
    if (n < 0 || align < 1) return FASTFF_ERR_DIM;
    if (n == 0) return FASTFF_OK;
    range_job j = {(range_fn)fn, ptrs, sizes, scal, n, align, 1
#if FASTFF_X86
                   , _mm_getcsr()
#endif
    };
    const idx_t units = (n + align - 1) / align;
    fastff_plan plan;
    fastff_plan_begin(&plan, RANGE_FLOPS_PER_ELEM * (double)n, units,
                      fastff_shape_key(50, 0, 0, 0, n, align, 0));
    if (plan.nt <= 1) {
        j.fn(ptrs, sizes, scal, 0, n);
    } else {
        const idx_t want = (idx_t)plan.nt * RANGE_TASKS_PER_THREAD;
        j.ntasks = (int)(want < units ? want : units);
        fastff_parallel(plan.nt, j.ntasks, range_task, &j);
    }
    fastff_plan_end(&plan);
    return FASTFF_OK;
}
