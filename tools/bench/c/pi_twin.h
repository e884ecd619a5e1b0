/* pi_twin.h: the PI controller of codegen/examples/pi.py written by hand, as an embedded
 * engineer would (the reference point of `cbl bench codegen`'s ours_vs_handwritten_insns).
 *
 * Same float32 operations in the same order as the law (so the same bits), same record layout.
 */
#ifndef PI_TWIN_H
#define PI_TWIN_H

#include <stdint.h>

typedef struct {
    float kp, ki, i_limit, limit;
} pi_twin_cfg_t;

typedef struct {
    float integ, last;
    int32_t steps;
} pi_twin_state_t;

static inline float pi_twin_clamp(float x, float lo, float hi)
{
    const float v = x > lo ? x : lo;
    return v < hi ? v : hi;
}

static inline float pi_twin_step(const pi_twin_cfg_t *c, pi_twin_state_t *s, float ref, float meas, float dt)
{
    const float e = ref - meas;
    s->integ = pi_twin_clamp(s->integ + c->ki * e * dt, -c->i_limit, c->i_limit);
    const float u = pi_twin_clamp(c->kp * e + s->integ, -c->limit, c->limit);
    s->last = u;
    s->steps = (int32_t)((uint32_t)s->steps + 1U);
    return u;
}

#endif /* PI_TWIN_H */
