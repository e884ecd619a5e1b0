/* cbl_mathf32.h: C twins of codegen/mathf32.py, bit-identical to the Python/numba kernels.
 *
 * Same float32 operations in the same order (see codegen/mathf32.py for the algorithms and the
 * error table). Build with -ffp-contract=off -fno-math-errno and never -ffast-math: each
 * operation then rounds once (IEEE-754 round-to-nearest) on x86-64, aarch64 and Cortex-M4F/M7.
 * No libm: sqrt is __builtin_sqrtf (one vsqrt.f32 / fsqrt / sqrtss instruction).
 * Polynomial coefficients: Cephes Math Library 2.2 (S. L. Moshier), public domain.
 */
#ifndef CBL_MATHF32_H
#define CBL_MATHF32_H

#include <stdint.h>

static inline void cbl_sin_cos(float x, float *sp, float *cp)
{
    const float h = (x >= 0.0F) ? 0.5F : -0.5F;
    float t = x * 0.63661975F + h;
    if (!(t > -1.0737418e+09F)) t = (t < 0.0F) ? -1.0737418e+09F : 0.0F; /* also NaN */
    if (t > 1.0737418e+09F) t = 1.0737418e+09F;
    const int32_t j = (int32_t)t;
    const float y = (float)j;
    const float r = ((x - y * 1.5703125F) - y * 4.837513e-04F) - y * 7.54979e-08F;
    const float z = r * r;
    const float s = r + (r * z) * ((-1.9515296e-04F * z + 0.008332161F) * z + -0.16666655F);
    const float c = (1.0F - 0.5F * z) + (z * z) * ((2.4433157e-05F * z + -0.0013887316F) * z + 0.041666646F);
    switch (j & 3) {
    case 0: *sp = s; *cp = c; break;
    case 1: *sp = c; *cp = -s; break;
    case 2: *sp = -s; *cp = -c; break;
    default: *sp = -c; *cp = s; break;
    }
}

static inline float cbl_atan2f(float y, float x)
{
    const float ax = (x >= 0.0F) ? x : -x;
    const float ay = (y >= 0.0F) ? y : -y;
    const float mx = (ax > ay) ? ax : ay;
    const float mn = (ax > ay) ? ay : ax;
    float a;
    if (mx == 0.0F) {
        a = 0.0F;
    } else {
        float t = mn / mx;
        float off = 0.0F;
        if (t > 0.41421357F) {
            t = (t - 1.0F) / (t + 1.0F);
            off = 0.7853982F;
        }
        const float z = t * t;
        const float p = ((((0.080537446F * z + -0.13877685F) * z + 0.19977711F) * z + -0.3333295F) * z) * t + t;
        a = off + p;
    }
    if (ay > ax) a = 1.5707964F - a;
    if (x < 0.0F) a = 3.1415927F - a;
    if (y < 0.0F) a = -a;
    return a;
}

static inline float cbl_expf(float x)
{
    if (x != x) return x;
    if (x > 88.72284F) return __builtin_inff();
    if (x < -87.33654F) return 0.0F;
    const float h = (x >= 0.0F) ? 0.5F : -0.5F;
    int32_t n = (int32_t)(x * 1.442695F + h);
    const float fn = (float)n;
    const float r = (x - fn * 0.6933594F) - fn * -2.1219444e-04F;
    const float z = r * r;
    float p = (((((1.9875691e-04F * r + 0.0013981999F) * r + 0.008333452F) * r + 0.041665796F) * r
                + 0.16666666F) * r + 0.5F) * z + r + 1.0F;
    if (n > 127) {
        p = p * 2.0F;
        n = 127;
    }
    union { float f; uint32_t u; } two_n;
    two_n.u = (uint32_t)(n + 127) << 23; /* 2^n, n in [-126, 127]: exact */
    return p * two_n.f;
}

/* The FPU's square root (IEEE, correctly rounded): an instruction, never the errno path of
 * libm's sqrtf that __builtin_sqrtf keeps unless the build has -fno-math-errno. */
static inline float cbl_sqrtf(float x)
{
    float r;
#if defined(__GNUC__) && defined(__aarch64__)
    __asm__("fsqrt %s0, %s1" : "=w"(r) : "w"(x));
#elif defined(__GNUC__) && defined(__arm__) && defined(__ARM_FP) && (__ARM_FP & 4)
    __asm__("vsqrt.f32 %0, %1" : "=t"(r) : "t"(x));
#elif defined(__GNUC__) && defined(__SSE_MATH__)
    __asm__("sqrtss %1, %0" : "=x"(r) : "x"(x));
#else
    r = __builtin_sqrtf(x); /* elsewhere: build with -fno-math-errno to keep libm out */
#endif
    return r;
}

static inline float cbl_fabsf(float x) { return __builtin_fabsf(x); }

static inline float cbl_fminf(float a, float b) { return (a < b) ? a : b; }

static inline float cbl_fmaxf(float a, float b) { return (a > b) ? a : b; }

static inline float cbl_clampf(float x, float lo, float hi)
{
    const float v = (x > lo) ? x : lo;
    return (v < hi) ? v : hi;
}

#endif /* CBL_MATHF32_H */
