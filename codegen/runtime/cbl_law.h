/* cbl_law.h: integer semantics of generated laws (see codegen/__init__.py).
 *
 * int32 arithmetic wraps modulo 2^32 (two's complement), as the Python reference does by
 * casting every integer operation to np.int32; done in uint32 here so that C never overflows
 * a signed type. Floor division and modulo follow Python (rounding toward -inf, the sign of the
 * modulo is the divisor's); x // 0 and x % 0 are 0; INT32_MIN // -1 wraps to INT32_MIN.
 * float32 -> int32 truncates toward zero and saturates; NaN gives 0 (C leaves these undefined,
 * x86 and Arm disagree).
 */
#ifndef CBL_LAW_H
#define CBL_LAW_H

#include <stdbool.h>
#include <stdint.h>

static inline int32_t cbl_add_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t cbl_sub_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t cbl_mul_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }
static inline int32_t cbl_neg_i32(int32_t a) { return (int32_t)(0U - (uint32_t)a); }
static inline int32_t cbl_shl_i32(int32_t a, int32_t n) { return (int32_t)((uint32_t)a << n); }

static inline int32_t cbl_f32_to_i32(float x)
{
    if (x != x) return 0;
    if (x >= 2147483648.0F) return INT32_MAX;
    if (x <= -2147483648.0F) return INT32_MIN;
    return (int32_t)x;
}

static inline int32_t cbl_floordiv_i32(int32_t a, int32_t b)
{
    if (b == 0) return 0;
    if (b == -1) return cbl_neg_i32(a);
    int32_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
    return q;
}

static inline int32_t cbl_mod_i32(int32_t a, int32_t b)
{
    if (b == 0 || b == -1) return 0;
    int32_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

#endif /* CBL_LAW_H */
