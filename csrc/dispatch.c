/* dispatch.c - picks the kernel set at load time: the best one the CPU supports, unless
 * FASTFF_KERNEL=ref|avx2|avx512 names another supported one; fastff_set_kernel changes it
 * later (tests use it to run every kernel). Also version, CPU features and error strings. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if FASTFF_X86 && !defined(FASTFF_REF_ONLY)
#include "simd_common.h"

const fastff_kernel fastff_kernel_avx512 = {"avx512", fastff_avx512_supported, &fastff_avx512_s,
                                            &fastff_avx512_d};
const fastff_kernel fastff_kernel_avx2 = {"avx2", fastff_avx2_supported, &fastff_avx2_s,
                                          &fastff_avx2_d};
#endif

static const fastff_kernel *const g_all[] = {
#if FASTFF_X86 && !defined(FASTFF_REF_ONLY)
    &fastff_kernel_avx512,
    &fastff_kernel_avx2,
#endif
    &fastff_kernel_ref,
};
#define N_KERNELS ((int)(sizeof(g_all) / sizeof(g_all[0])))

static const fastff_kernel *g_active = &fastff_kernel_ref;
static char g_features[256];
static char g_names[64];

static const fastff_kernel *find_kernel(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < N_KERNELS; i++)
        if (strcmp(g_all[i]->name, name) == 0) return g_all[i];
    return NULL;
}

static const fastff_kernel *best_kernel(void)
{
    for (int i = 0; i < N_KERNELS; i++)
        if (g_all[i]->supported()) return g_all[i];
    return &fastff_kernel_ref;
}

static void append(char *buf, size_t cap, const char *word)
{
    size_t len = strlen(buf);
    size_t w = strlen(word);
    if (len + w + 2 > cap) return;
    if (len) buf[len++] = ' ';
    memcpy(buf + len, word, w + 1);
}

static void detect_features(void)
{
    g_features[0] = '\0';
#if FASTFF_X86 && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) append(g_features, sizeof g_features, "sse4.2");
    if (__builtin_cpu_supports("avx")) append(g_features, sizeof g_features, "avx");
    if (__builtin_cpu_supports("avx2")) append(g_features, sizeof g_features, "avx2");
    if (__builtin_cpu_supports("fma")) append(g_features, sizeof g_features, "fma");
    if (__builtin_cpu_supports("avx512f")) append(g_features, sizeof g_features, "avx512f");
    if (__builtin_cpu_supports("avx512dq")) append(g_features, sizeof g_features, "avx512dq");
    if (__builtin_cpu_supports("avx512bw")) append(g_features, sizeof g_features, "avx512bw");
    if (__builtin_cpu_supports("avx512vl")) append(g_features, sizeof g_features, "avx512vl");
    if (__builtin_cpu_supports("avx512vnni"))
        append(g_features, sizeof g_features, "avx512vnni");
    if (__builtin_cpu_supports("avx512bf16"))
        append(g_features, sizeof g_features, "avx512bf16");
#else
    append(g_features, sizeof g_features, "(no x86 feature detection on this target)");
#endif
}

__attribute__((constructor)) static void fastff_init(void)
{
    detect_features();
    g_names[0] = '\0';
    for (int i = 0; i < N_KERNELS; i++) append(g_names, sizeof g_names, g_all[i]->name);
    const fastff_kernel *k = NULL;
    const char *env = getenv("FASTFF_KERNEL");
    if (env && *env) {
        k = find_kernel(env);
        if (k && !k->supported()) k = NULL;
    }
    if (!k) k = best_kernel();
    __atomic_store_n(&g_active, k, __ATOMIC_RELEASE);
    (void)fastff_get_num_threads();
}

const fastff_kernel *fastff_active_kernel(void)
{
    return __atomic_load_n(&g_active, __ATOMIC_ACQUIRE);
}

int32_t fastff_kernel_supported(const char *name)
{
    const fastff_kernel *k = find_kernel(name);
    return k && k->supported() ? 1 : 0;
}

int32_t fastff_set_kernel(const char *name)
{
    const fastff_kernel *k = find_kernel(name);
    if (!k || !k->supported()) return FASTFF_ERR_KERNEL;
    __atomic_store_n(&g_active, k, __ATOMIC_RELEASE);
    return FASTFF_OK;
}

const char *fastff_kernel_name(void) { return fastff_active_kernel()->name; }
const char *fastff_kernel_names(void) { return g_names; }
const char *fastff_cpu_features(void) { return g_features; }
const char *fastff_version(void) { return FASTFF_VERSION_STRING; }

const char *fastff_strerror(int32_t code)
{
    switch (code) {
    case FASTFF_OK: return "ok";
    case FASTFF_ERR_DIM: return "a dimension (m, n or k) is negative";
    case FASTFF_ERR_LD: return "a leading dimension is smaller than its row length";
    case FASTFF_ERR_NULL: return "a required pointer is NULL";
    case FASTFF_ERR_TRANS: return "a transpose flag is not 0 or 1";
    case FASTFF_ERR_ACT: return "unknown activation id";
    case FASTFF_ERR_NOMEM: return "out of memory for packing buffers";
    case FASTFF_ERR_THREADS: return "thread count must be between 1 and fastff_max_threads()";
    case FASTFF_ERR_KERNEL: return "unknown kernel name or kernel not supported by this CPU";
    case FASTFF_ERR_OVERFLOW: return "matrix extent overflows a 64-bit index";
    case FASTFF_ERR_DTYPE: return "dtype code must be 0 (float32) or 1 (float64)";
    default: return "unknown error code";
    }
}
