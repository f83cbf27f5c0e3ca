/* kloop_x86.h - the microkernel's K loop in inline assembly (x86 SIMD kernels only).
 *
 * Why assembly: with 2*MR accumulators plus B and broadcast registers the tile uses all
 * vector registers, and GCC's scheduler then spills accumulators to the stack (measured:
 * ~80 GFLOP/s instead of ~200 for the AVX-512 float kernel). Here the accumulators live in
 * fixed registers v0..v(2*MR-1), B rows in two registers, broadcasts alternate between two
 * more; after the loop the tile is stored to a 64-byte aligned buffer for the C epilogue.
 *
 * The including header defines: KL_R ("zmm"/"ymm"), KL_VB (vector bytes), KL_ES (element
 * bytes), KL_MR, KL_BC/KL_FMA/KL_MOV/KL_MOVU (instruction names), KL_ROWS(u) (the MR rows of step u
 * as KL_F(u, row, bcast_reg, acc0, acc1)), KL_B0/KL_B1 (B registers), KL_ZERO, KL_STORE. */

#define KL_S(x) #x
#define KL_X(x) KL_S(x)

/* one A broadcast times the two B vectors of one k step */
#define KL_F(u, i, bc, c0, c1)                                                              \
    KL_BC " " KL_ES "*(" KL_X(KL_MR) "*" #u "+" #i ")(%[a]), %%" KL_R #bc "\n\t"            \
    KL_FMA " %%" KL_R KL_X(KL_B0) ", %%" KL_R #bc ", %%" KL_R #c0 "\n\t"                    \
    KL_FMA " %%" KL_R KL_X(KL_B1) ", %%" KL_R #bc ", %%" KL_R #c1 "\n\t"

/* load the two B vectors of the current B row, then the MR rows; then step to the next row */
#define KL_STEP(u)                                                                          \
    KL_MOVU " (%[b]), %%" KL_R KL_X(KL_B0) "\n\t"                                          \
    KL_MOVU " " KL_X(KL_VB) "(%[b]), %%" KL_R KL_X(KL_B1) "\n\t"                          \
    "add %[ldb], %[b]\n\t"                                                                 \
    KL_ROWS(u)

/* B rows are ldb bytes apart: NR elements when packed, the matrix's row stride when B is
 * read in place. pf = 8 rows ahead, prefetched two lines (one B row) per k step. */
#define KL_PF "prefetcht0 (%[b], %[pf], 1)\n\tprefetcht0 64(%[b], %[pf], 1)\n\t"

#define KL_BODY                                                                             \
    KL_ZERO                                                                                 \
    "test %[k4], %[k4]\n\t"                                                                 \
    "jz 2f\n\t"                                                                             \
    ".p2align 5\n"                                                                          \
    "1:\n\t"                                                                                \
    KL_PF KL_STEP(0)                                                                        \
    KL_PF KL_STEP(1)                                                                        \
    KL_PF KL_STEP(2)                                                                        \
    KL_PF KL_STEP(3)                                                                        \
    "add $" KL_ES "*" KL_X(KL_MR) "*4, %[a]\n\t"                                            \
    "dec %[k4]\n\t"                                                                         \
    "jnz 1b\n"                                                                              \
    "2:\n\t"                                                                                \
    "test %[kr], %[kr]\n\t"                                                                 \
    "jz 4f\n"                                                                               \
    "3:\n\t"                                                                                \
    KL_STEP(0)                                                                              \
    "add $" KL_ES "*" KL_X(KL_MR) ", %[a]\n\t"                                              \
    "dec %[kr]\n\t"                                                                         \
    "jnz 3b\n"                                                                              \
    "4:\n\t"                                                                                \
    KL_STORE

/* The K loop with A read in place (row-major, kernel sets that define KLU_ROWS): the MR
 * broadcasts of a k step come from MR row pointers - %[a] and %[a3] (= a + 3 rows) with the
 * row stride %[lda] as index - that advance one element per step. The FMAs and their order
 * are those of KL_BODY, so the accumulators get the same bits. */
#ifdef KLU_ROWS
#define KLU_F(off, base, idx, bc, c0, c1)                                                   \
    KL_BC " " off "(%[" base "]" idx "), %%" KL_R #bc "\n\t"                                \
    KL_FMA " %%" KL_R KL_X(KL_B0) ", %%" KL_R #bc ", %%" KL_R #c0 "\n\t"                    \
    KL_FMA " %%" KL_R KL_X(KL_B1) ", %%" KL_R #bc ", %%" KL_R #c1 "\n\t"

#define KLU_STEP(u)                                                                         \
    KL_MOVU " (%[b]), %%" KL_R KL_X(KL_B0) "\n\t"                                          \
    KL_MOVU " " KL_X(KL_VB) "(%[b]), %%" KL_R KL_X(KL_B1) "\n\t"                          \
    "add %[ldb], %[b]\n\t"                                                                 \
    KLU_ROWS(KL_ES "*" #u)

#define KLU_BODY                                                                            \
    KL_ZERO                                                                                 \
    "test %[k4], %[k4]\n\t"                                                                 \
    "jz 2f\n\t"                                                                             \
    ".p2align 5\n"                                                                          \
    "1:\n\t"                                                                                \
    KL_PF KLU_STEP(0)                                                                       \
    KL_PF KLU_STEP(1)                                                                       \
    KL_PF KLU_STEP(2)                                                                       \
    KL_PF KLU_STEP(3)                                                                       \
    "add $" KL_ES "*4, %[a]\n\t"                                                            \
    "add $" KL_ES "*4, %[a3]\n\t"                                                           \
    "dec %[k4]\n\t"                                                                         \
    "jnz 1b\n"                                                                              \
    "2:\n\t"                                                                                \
    "test %[kr], %[kr]\n\t"                                                                 \
    "jz 4f\n"                                                                               \
    "3:\n\t"                                                                                \
    KLU_STEP(0)                                                                             \
    "add $" KL_ES ", %[a]\n\t"                                                              \
    "add $" KL_ES ", %[a3]\n\t"                                                             \
    "dec %[kr]\n\t"                                                                         \
    "jnz 3b\n"                                                                              \
    "4:\n\t"                                                                                \
    KL_STORE
#endif
