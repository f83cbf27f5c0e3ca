/* pool.c - fastff's own worker pool: tasks claimed dynamically, no barrier per call.
 *
 * Why not OpenMP: a `parallel` region splits the work statically and ends in a barrier, so on
 * a machine where another process holds a core, every GEMM waits for the descheduled thread
 * (measured: 2 threads at 0.59x one thread). Here a call is a set of independent tasks
 * (tiles or row blocks of C); the calling thread and the workers claim them one at a time
 * from an atomic counter, so a thread that runs takes over the tasks a stalled one never
 * claimed, and the call returns when every task is done - not when every thread has
 * arrived. A task is computed by exactly one thread, with the same arithmetic whoever runs
 * it: results do not depend on the thread count or on who claimed what.
 *
 * Workers spin for a short bounded time after a job (the next GEMM of a training step
 * usually follows within microseconds), then sleep on a futex: no core is burnt while
 * fastff is idle. One caller at a time uses the pool; a concurrent caller (another Python
 * thread) runs its call on its own thread. After fork() the child starts without workers.
 *
 * Synchronisation (all seq_cst, a handful of atomics per call):
 *   claim   64-bit word: job number (high 32 bits) | next task index (low 32 bits); a job
 *           is closed (index CLOSED) while its description is being written
 *   seq     32-bit futex word the idle workers sleep on (bumped per job)
 *   done    32-bit futex word: tasks finished; the caller sleeps on it once its spin ends
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "blocking.h"
#include "pool.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define FASTFF_HAVE_POOL 1
#else
#define FASTFF_HAVE_POOL 0
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#define CLOSED 0xFFFFFFFFu
#define POOL_MAX_WORKERS 256

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

static inline void cpu_relax(void)
{
#if FASTFF_X86
    __builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t fastff_now_ns(void) { return now_ns(); }

/* how long an idle worker / a waiting caller spins before sleeping (FASTFF_SPIN_US) */
static uint64_t g_spin_ns = 50000;
static int g_backend = -1; /* FASTFF_THREADING_POOL / _OPENMP; -1 = read the environment */

typedef struct {
    uint64_t claim;
    uint32_t seq;
    uint32_t done;
    int32_t sleepers;
    int32_t caller_waiting;
    /* the current job (valid while claim's index is not CLOSED) */
    fastff_task_fn fn;
    void *ctx;
    uint32_t ntasks;
    int32_t maxw; /* workers with id < maxw take part */
    int32_t nworkers;
    pthread_mutex_t lock; /* one caller at a time */
    pthread_t tid[POOL_MAX_WORKERS];
} pool_t;

static pool_t P = {.claim = CLOSED, .lock = PTHREAD_MUTEX_INITIALIZER};

#if FASTFF_HAVE_POOL
static void futex_wait(uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(uint32_t *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Claim and run tasks of job `gen` until none is left. */
static void run_tasks(uint32_t gen, fastff_task_fn fn, void *ctx, uint32_t ntasks)
{
    for (;;) {
        uint64_t c = LOAD(&P.claim);
        const uint32_t idx = (uint32_t)c;
        if ((uint32_t)(c >> 32) != gen || idx >= ntasks) return;
        if (!__atomic_compare_exchange_n(&P.claim, &c, c + 1, 0, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST))
            continue;
        fn(ctx, (idx_t)idx);
        if (__atomic_add_fetch(&P.done, 1, __ATOMIC_SEQ_CST) == ntasks &&
            LOAD(&P.caller_waiting))
            futex_wake(&P.done, 1);
    }
}

static void *worker_main(void *arg)
{
    const int id = (int)(intptr_t)arg;
    uint32_t seen = LOAD(&P.seq);
    for (;;) {
        uint32_t s = LOAD(&P.seq);
        if (s == seen) {
            const uint64_t t0 = now_ns();
            int spins = 0;
            while ((s = LOAD(&P.seq)) == seen) {
                cpu_relax();
                if (++spins % 64 == 0 && now_ns() - t0 > g_spin_ns) break;
            }
            if (s == seen) {
                __atomic_add_fetch(&P.sleepers, 1, __ATOMIC_SEQ_CST);
                if (LOAD(&P.seq) == seen) futex_wait(&P.seq, seen);
                __atomic_sub_fetch(&P.sleepers, 1, __ATOMIC_SEQ_CST);
                continue;
            }
        }
        seen = s;
        /* read the job, then check it is still the open one before claiming anything */
        const uint64_t c = LOAD(&P.claim);
        if ((uint32_t)c == CLOSED) continue;
        const fastff_task_fn fn = LOAD(&P.fn);
        void *ctx = LOAD(&P.ctx);
        const uint32_t ntasks = LOAD(&P.ntasks);
        const int maxw = LOAD(&P.maxw);
        if (id >= maxw || (LOAD(&P.claim) >> 32) != (c >> 32)) continue;
        fpenv_t env = fpenv_enter();
        run_tasks((uint32_t)(c >> 32), fn, ctx, ntasks);
        fpenv_leave(env);
    }
    return NULL;
}

static void after_fork_child(void)
{
    /* the workers do not exist in the child: start afresh */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    P.lock = fresh;
    P.nworkers = 0;
    P.sleepers = 0;
    P.caller_waiting = 0;
    P.claim = (uint64_t)(P.seq) << 32 | CLOSED;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void pool_init_once(void)
{
    const char *s = getenv("FASTFF_SPIN_US");
    if (s && *s) {
        long v = strtol(s, NULL, 10);
        if (v >= 0 && v <= 1000000) g_spin_ns = (uint64_t)v * 1000u;
    }
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* Start workers up to `want` (called with the pool lock held); returns how many exist.
 * Workers start with every signal blocked (a new thread inherits its creator's mask), so a
 * process-directed signal - SIGINT from Ctrl-C above all - is always delivered to a thread
 * that can handle it, in Python the main thread, never to a worker that would leave it
 * pending or run the handler where the interpreter does not look. The caller's mask is
 * restored afterwards. */
static int grow(int want)
{
    if (want > POOL_MAX_WORKERS) want = POOL_MAX_WORKERS;
    if (P.nworkers >= want) return P.nworkers;
    sigset_t all, old;
    sigfillset(&all);
    const int masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    while (P.nworkers < want) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 1u << 20);
        int rc = pthread_create(&P.tid[P.nworkers], &attr, worker_main,
                                (void *)(intptr_t)P.nworkers);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        P.nworkers++;
    }
    if (masked) pthread_sigmask(SIG_SETMASK, &old, NULL);
    return P.nworkers;
}

static int pool_run(int nt, idx_t ntasks, fastff_task_fn fn, void *ctx)
{
    pthread_once(&g_once, pool_init_once);
    if (pthread_mutex_trylock(&P.lock) != 0) return 0; /* busy: caller runs it alone */
    const int nw = grow(nt - 1);
    if (nw < 1) {
        pthread_mutex_unlock(&P.lock);
        return 0;
    }
    /* close, describe, open (job numbers wrap; a stale worker compares whole words) */
    const uint32_t gen = (uint32_t)(LOAD(&P.claim) >> 32) + 1;
    STORE(&P.claim, (uint64_t)gen << 32 | CLOSED);
    STORE(&P.fn, fn);
    STORE(&P.ctx, ctx);
    STORE(&P.ntasks, (uint32_t)ntasks);
    STORE(&P.maxw, nt - 1 < nw ? nt - 1 : nw);
    STORE(&P.done, 0u);
    STORE(&P.claim, (uint64_t)gen << 32);
    __atomic_add_fetch(&P.seq, 1, __ATOMIC_SEQ_CST);
    if (LOAD(&P.sleepers) > 0) futex_wake(&P.seq, INT_MAX);

    run_tasks(gen, fn, ctx, (uint32_t)ntasks);

    /* wait for tasks other threads claimed: spin briefly, then sleep */
    const uint64_t t0 = now_ns();
    int spins = 0;
    uint32_t d;
    while ((d = LOAD(&P.done)) != (uint32_t)ntasks) {
        cpu_relax();
        if (++spins % 64 == 0 && now_ns() - t0 > g_spin_ns) {
            STORE(&P.caller_waiting, 1);
            while ((d = LOAD(&P.done)) != (uint32_t)ntasks) futex_wait(&P.done, d);
            STORE(&P.caller_waiting, 0);
            break;
        }
    }
    STORE(&P.claim, (uint64_t)gen << 32 | CLOSED);
    pthread_mutex_unlock(&P.lock);
    return 1;
}
#endif /* FASTFF_HAVE_POOL */

#ifdef _OPENMP
/* The same dynamic claiming inside an OpenMP region (kept for comparison: the region's
 * closing barrier still waits for every thread). */
static void omp_run(int nt, idx_t ntasks, fastff_task_fn fn, void *ctx)
{
    idx_t next = 0;
    /* OpenMP starts its threads inside the region: with signals blocked here they inherit a
     * full mask (as the pool's workers; see grow), and a signal arriving meanwhile waits
     * for the caller's mask to be restored */
    sigset_t all, old;
    sigfillset(&all);
    const int masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
#pragma omp parallel num_threads(nt)
    {
        fpenv_t env = fpenv_enter();
        for (;;) {
            const idx_t t = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
            if (t >= ntasks) break;
            fn(ctx, t);
        }
        fpenv_leave(env);
    }
    if (masked) pthread_sigmask(SIG_SETMASK, &old, NULL);
}
#endif

static int backend(void)
{
    int b = __atomic_load_n(&g_backend, __ATOMIC_RELAXED);
    if (b < 0) {
        const char *s = getenv("FASTFF_THREADING");
        b = FASTFF_HAVE_POOL ? FASTFF_THREADING_POOL : FASTFF_THREADING_OPENMP;
        if (s && s[0] == 'o') b = FASTFF_THREADING_OPENMP;
        __atomic_store_n(&g_backend, b, __ATOMIC_RELAXED);
    }
    return b;
}

int32_t fastff_set_threading(int32_t mode)
{
    if (mode == FASTFF_THREADING_POOL && !FASTFF_HAVE_POOL) return FASTFF_ERR_THREADS;
#ifndef _OPENMP
    if (mode == FASTFF_THREADING_OPENMP) return FASTFF_ERR_THREADS;
#endif
    if (mode != FASTFF_THREADING_POOL && mode != FASTFF_THREADING_OPENMP)
        return FASTFF_ERR_THREADS;
    __atomic_store_n(&g_backend, mode, __ATOMIC_RELAXED);
    return FASTFF_OK;
}

int32_t fastff_get_threading(void) { return backend(); }

int fastff_parallel(int nt, idx_t ntasks, fastff_task_fn fn, void *ctx)
{
    if (nt > 1 && ntasks > 1 && ntasks < (idx_t)CLOSED) {
        const int b = backend();
#if FASTFF_HAVE_POOL
        if (b == FASTFF_THREADING_POOL && pool_run(nt, ntasks, fn, ctx)) return nt;
#endif
#ifdef _OPENMP
        if (b == FASTFF_THREADING_OPENMP) {
            omp_run(nt, ntasks, fn, ctx);
            return nt;
        }
#endif
        (void)b;
    }
    /* one thread: the caller's FP environment is already set by the driver */
    for (idx_t t = 0; t < ntasks; t++) fn(ctx, t);
    return 1;
}
