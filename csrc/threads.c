/* threads.c - the thread-count setting, the serial/parallel decision (static limits and the
 * adaptive per-shape plan), per-thread buffers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>

#include "internal.h"
#include "pool.h"

#if defined(__linux__)
#include <sched.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#define FASTFF_MAX_THREADS 1024
/* Below this many flops one thread does the work: an OpenMP fork/join costs ~1-5 us and
 * on a shared 2-core machine a barrier can stall behind another process. */
#define FASTFF_PARALLEL_MIN_FLOPS 1.0e7

static int g_threads = 0; /* 0 = not yet initialised */

static int default_threads(void)
{
    int n = 1;
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
#elif defined(_OPENMP)
    n = omp_get_num_procs();
#endif
    if (n < 1) n = 1;
    if (n > FASTFF_MAX_THREADS) n = FASTFF_MAX_THREADS;
    return n;
}

int32_t fastff_set_num_threads(int32_t n)
{
    if (n < 1 || n > FASTFF_MAX_THREADS) return FASTFF_ERR_THREADS;
    __atomic_store_n(&g_threads, n, __ATOMIC_RELAXED);
    return FASTFF_OK;
}

int32_t fastff_get_num_threads(void)
{
    int n = __atomic_load_n(&g_threads, __ATOMIC_RELAXED);
    if (n == 0) {
        n = default_threads();
        __atomic_store_n(&g_threads, n, __ATOMIC_RELAXED);
    }
    return n;
}

int32_t fastff_max_threads(void) { return FASTFF_MAX_THREADS; }

int32_t fastff_has_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* How many threads a job of `flops` with `tiles` independent tiles may use. */
int fastff_threads_for(double flops, idx_t tiles)
{
    if (flops < FASTFF_PARALLEL_MIN_FLOPS) return 1;
    idx_t n = fastff_get_num_threads();
    /* each thread should get at least half the threshold of work */
    idx_t by_work = (idx_t)(flops / (0.5 * FASTFF_PARALLEL_MIN_FLOPS));
    if (n > by_work) n = by_work;
    if (n > tiles) n = tiles;
    return n < 1 ? 1 : (int)n;
}

/* ---- adaptive plan: per call shape, does the second (..nth) thread pay? ----
 * Each entry keeps an exponentially weighted mean of the wall time of calls run on one
 * thread and on `nt` threads. Until both have a few samples the arms alternate; then the
 * faster one runs, and the other is re-probed (PLAN_MIN_SAMPLES calls, its mean measured
 * afresh) every `interval` calls - 16 after a probe
 * that won, doubling up to 4096 after one that lost, so a machine whose other core is busy
 * (a descheduled worker stalls a call by a scheduler slice) pays for a probe rarely, and
 * one that turns quiet again gets its threads back. The weight 1/8 lets rare long stalls
 * count in the mean, which is what the fit's time depends on. Entries race benignly
 * between concurrent callers (a lost update only costs a sample). */
#define PLAN_SLOTS 512
#define PLAN_MIN_SAMPLES 3
#define PLAN_PROBE_MIN 16
#define PLAN_PROBE_MAX 4096

typedef struct {
    uint64_t key;
    double mean[2];
    uint32_t count[2];
    uint32_t calls, next_probe, interval;
    int32_t probing; /* the arm being probed, -1 = none */
    int32_t nt;
} plan_entry;

static plan_entry g_plan[PLAN_SLOTS];
static int g_adaptive = -1; /* -1 = read FASTFF_ADAPTIVE_THREADS */

static int adaptive_on(void)
{
    int a = __atomic_load_n(&g_adaptive, __ATOMIC_RELAXED);
    if (a < 0) {
        const char *s = getenv("FASTFF_ADAPTIVE_THREADS");
        a = !(s && (s[0] == '0' || s[0] == 'n' || s[0] == 'f'));
        __atomic_store_n(&g_adaptive, a, __ATOMIC_RELAXED);
    }
    return a;
}

int32_t fastff_set_adaptive_threads(int32_t on)
{
    if (on != 0 && on != 1) return FASTFF_ERR_THREADS;
    __atomic_store_n(&g_adaptive, on, __ATOMIC_RELAXED);
    if (!on) {
        for (int i = 0; i < PLAN_SLOTS; i++) __atomic_store_n(&g_plan[i].key, 0, __ATOMIC_RELAXED);
    }
    return FASTFF_OK;
}

int32_t fastff_get_adaptive_threads(void) { return adaptive_on(); }

void fastff_plan_begin(fastff_plan *p, double flops, idx_t tiles, uint64_t key)
{
    p->nt = fastff_threads_for(flops, tiles);
    p->slot = -1;
    p->arm = p->nt > 1;
    p->key = key;
    if (p->nt <= 1 || !adaptive_on()) return;
    const uint64_t k = key ^ ((uint64_t)p->nt * 0x9E3779B97F4A7C15ull);
    const int slot = (int)((k >> 7) % PLAN_SLOTS);
    plan_entry *e = &g_plan[slot];
    if (__atomic_load_n(&e->key, __ATOMIC_RELAXED) != k) {
        plan_entry fresh = {0, {0, 0}, {0, 0}, 0, PLAN_PROBE_MIN, PLAN_PROBE_MIN, -1, p->nt};
        *e = fresh;
        __atomic_store_n(&e->key, k, __ATOMIC_RELAXED);
    }
    int arm;
    const int probing = e->probing;
    if (probing >= 0) {
        arm = probing;
    } else if (e->count[1] < PLAN_MIN_SAMPLES || e->count[0] < PLAN_MIN_SAMPLES) {
        arm = e->count[1] <= e->count[0];
    } else {
        const int best = e->mean[1] < e->mean[0];
        arm = best;
        e->calls++;
        if (e->calls >= e->next_probe) {
            /* a probe measures the other arm afresh over PLAN_MIN_SAMPLES calls */
            arm = !best;
            e->count[arm] = 0;
            e->probing = arm;
        }
    }
    p->key = k;
    p->slot = slot;
    p->arm = arm;
    if (!arm) p->nt = 1;
    p->t0 = fastff_now_ns();
}

void fastff_plan_end(const fastff_plan *p)
{
    if (p->slot < 0) return;
    const double dt = (double)(fastff_now_ns() - p->t0);
    plan_entry *e = &g_plan[p->slot];
    if (__atomic_load_n(&e->key, __ATOMIC_RELAXED) != p->key) return;
    const int a = p->arm;
    e->mean[a] = e->count[a] ? e->mean[a] + (dt - e->mean[a]) * 0.125 : dt;
    if (e->count[a] < 0xFFFFFFFFu) e->count[a]++;
    if (e->probing == a && e->count[a] >= PLAN_MIN_SAMPLES) {
        /* did the probed arm win? then probe again soon, else back off */
        const int won = a ? e->mean[1] < e->mean[0] : e->mean[0] <= e->mean[1];
        e->interval = won ? PLAN_PROBE_MIN
                          : (e->interval * 2 > PLAN_PROBE_MAX ? PLAN_PROBE_MAX : e->interval * 2);
        e->next_probe = e->calls + e->interval;
        e->probing = -1;
    }
}

/* One 64-byte aligned scratch buffer per OS thread, grown on demand and reused across calls
 * (no malloc per call once warm). Returns NULL when memory is exhausted. */
static __thread void *tl_buf = NULL;
static __thread size_t tl_cap = 0;

void *fastff_thread_buffer(size_t bytes)
{
    if (bytes <= tl_cap) return tl_buf;
    size_t cap = bytes + bytes / 4 + 4096;
    cap = (cap + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, cap) != 0) return NULL;
    free(tl_buf);
    tl_buf = p;
    tl_cap = cap;
    return p;
}
