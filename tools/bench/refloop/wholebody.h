/* wholebody.h: C twin of codegen/examples/wholebody.py (wholebody_step), the loop benchmark's workload.
 *
 * Same records (numpy aligned dtypes of float32/int32 fields: no padding) and the same float32
 * operations in the same order; the project's sin/cos and clamp from codegen/runtime. Python
 * float literals are float64 under numba (mixed expressions round once more there), so outputs
 * agree to float32 rounding, not bit for bit; tests/rtcore/test_bench_refloop_c_twin.py checks them against the numba law.
 */
#ifndef CBL_WHOLEBODY_H
#define CBL_WHOLEBODY_H

#include <stdint.h>
#include "cbl_mathf32.h"

#define WB_JOINTS 29
#define WB_HAND_AXES 6

typedef struct {
    float kp[WB_JOINTS], kd[WB_JOINTS], gravity[WB_JOINTS], tau_max[WB_JOINTS];
    float q_min[WB_JOINTS], q_max[WB_JOINTS];
    float k_limit, alpha;
    float hand_kp[WB_HAND_AXES], hand_ki[WB_HAND_AXES];
    float hand_i_max, hand_u_max, dt;
} wb_config_t;

typedef struct {
    float v_filt[WB_JOINTS];
    float hand_integ[WB_HAND_AXES];
} wb_state_t;

typedef struct {
    float q[WB_JOINTS], dq[WB_JOINTS], q_ref[WB_JOINTS], dq_ref[WB_JOINTS], tau_ff[WB_JOINTS];
    float tension[WB_HAND_AXES], tension_ref[WB_HAND_AXES];
} wb_input_t;

typedef struct {
    float tau[WB_JOINTS];
    float hand_current[WB_HAND_AXES];
    int32_t saturated;
} wb_output_t;

static inline void wholebody_step(const wb_config_t *cfg, wb_state_t *st, const wb_input_t *inp,
                                  wb_output_t *out)
{
    int32_t nsat = 0;
    for (int j = 0; j < WB_JOINTS; j++) {
        const float v = st->v_filt[j] + cfg->alpha * (inp->dq[j] - st->v_filt[j]);
        st->v_filt[j] = v;
        const float q = inp->q[j];
        float s, c;
        cbl_sin_cos(q, &s, &c);
        float tau = inp->tau_ff[j] + cfg->kp[j] * (inp->q_ref[j] - q) + cfg->kd[j] * (inp->dq_ref[j] - v);
        tau = tau + cfg->gravity[j] * s;
        if (q < cfg->q_min[j])
            tau = tau + cfg->k_limit * (cfg->q_min[j] - q);
        else if (q > cfg->q_max[j])
            tau = tau + cfg->k_limit * (cfg->q_max[j] - q);
        const float lim = cfg->tau_max[j];
        if (tau > lim || tau < -lim)
            nsat = nsat + 1;
        out->tau[j] = cbl_clampf(tau, -lim, lim);
    }
    for (int a = 0; a < WB_HAND_AXES; a++) {
        const float e = inp->tension_ref[a] - inp->tension[a];
        const float integ = cbl_clampf(st->hand_integ[a] + cfg->hand_ki[a] * e * cfg->dt,
                                       -cfg->hand_i_max, cfg->hand_i_max);
        st->hand_integ[a] = integ;
        out->hand_current[a] = cbl_clampf(cfg->hand_kp[a] * e + integ, -cfg->hand_u_max, cfg->hand_u_max);
    }
    out->saturated = nsat;
}

#endif /* CBL_WHOLEBODY_H */
