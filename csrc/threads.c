/* threads.c - the thread-count setting, the serial/parallel decision, per-thread buffers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>

#include "internal.h"

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

/* How many threads to use for a job of `flops` with `tiles` independent tiles. */
int fastff_threads_for(double flops, idx_t tiles)
{
#ifdef _OPENMP
    if (flops < FASTFF_PARALLEL_MIN_FLOPS) return 1;
    idx_t n = fastff_get_num_threads();
    /* each thread should get at least half the threshold of work */
    idx_t by_work = (idx_t)(flops / (0.5 * FASTFF_PARALLEL_MIN_FLOPS));
    if (n > by_work) n = by_work;
    if (n > tiles) n = tiles;
    return n < 1 ? 1 : (int)n;
#else
    (void)flops;
    (void)tiles;
    return 1;
#endif
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
