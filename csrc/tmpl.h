/* tmpl.h - precision template switch. Define FF_PREC (1 = float, 2 = double), include this,
 * then include an *_impl.h file; repeat for the other precision. Not include-guarded on purpose. */
#undef T
#undef EPI
#undef KERN
#undef ACT_FN
#undef FF
#undef FF_TANH
#undef FF_EXP
#undef FF_EXPM1
#undef FF_ERF
#undef FF_EPS
#undef KSEL
#if FF_PREC == 1
#define T float
#define EPI epi_s
#define KERN kern_s
#define ACT_FN act_s_fn
#define FF(name) name##_s
#define KSEL s
#define FF_TANH tanhf
#define FF_EXP expf
#define FF_EXPM1 expm1f
#define FF_ERF erff
#elif FF_PREC == 2
#define T double
#define EPI epi_d
#define KERN kern_d
#define ACT_FN act_d_fn
#define FF(name) name##_d
#define KSEL d
#define FF_TANH tanh
#define FF_EXP exp
#define FF_EXPM1 expm1
#define FF_ERF erf
#else
#error "define FF_PREC to 1 (float) or 2 (double) before including tmpl.h"
#endif
