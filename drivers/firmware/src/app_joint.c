/* app_joint.c: the joint board's plant side (spec: drivers/board/joint.py): the measurements
 * onto the CiA 402 objects, and the mode's targets (CSP 8, CSV 9, CST 10, impedance -1) or the stop ramp onto
 * the motion demand, clamped to the board's limits (0x6072 max torque, 0x6080 max speed, 0x607D
 * software position limits). Stop ramps: 1 slow-down (0x6084) and 2 quick-stop (0x6085) ramp the
 * velocity to zero in CSV; 3 brakes at the max torque against the velocity until standstill
 * (|v| < 0x2030). Arithmetic in double, in the specification's operation order.
 */
#include "co_internal.h"

#define MODE_CSP 8
#define MODE_CSV 9
#define MODE_CST 10
#define MODE_IMPEDANCE (-1) /* manufacturer-specific: K, D in 0x2011 */
#define I32_MIN (-2147483647LL - 1)
#define I32_MAX 2147483647LL
#define PPR CBL_JOINT_POSITION_COUNTS_PER_RAD_D
#define VPR CBL_JOINT_VELOCITY_COUNTS_PER_RAD_S_D

static const struct { uint32_t bit; uint16_t code; } module_faults[] = {
    {1, 0x2310}, {2, 0x4310}, {4, 0x3220}, {8, 0x3210}, {16, 0x8400}, {32, 0x8612}, {64, 0x7300}};

static double pmax(double a, double b) { return b > a ? b : a; }
static double pmin(double a, double b) { return b < a ? b : a; }
#define sget(fw, index, sub) ((double)(int32_t)OD_GET(fw, index, sub))
#define uget(fw, index, sub) ((double)OD_GET(fw, index, sub))

int cbl_board_mode_supported(int32_t mode)
{
    return mode == 0 || mode == MODE_CSP || mode == MODE_CSV || mode == MODE_CST || mode == MODE_IMPEDANCE;
}

void cbl_board_setup(cbl_fw_t *fw)
{
    fw->ramp_v = 0.0;
    fw->ramp_active = 0;
    fw->hold_pos = 0.0;
    fw->holding = 0;
    cbl_joint_setup(fw);
}

void cbl_board_sample(cbl_fw_t *fw)
{
    cbl_sample_t s = {0};
    if (fw->bsp.plant_sample != NULL && fw->bsp.plant_sample(fw->bsp.user, &s) != 0) {
        fw->app_failing = 1;  /* nothing of a failed sample is kept */
        return;
    }
    const cbl_joint_ctl_t *c = &fw->ctl;
    if (c->on) {  /* what the image's own laws estimate and report (the sensors come from the sample) */
        s.velocity_rad_s = (double)c->fs.pll_vel / c->ratio;
        s.torque_cmd_nm = c->co.tau_cmd;
        s.iq_a = c->fo.iq;
        s.fault = (uint32_t)c->co.fault;
    }
    fw->meas = s;
    const cbl_sample_t *m = &fw->meas;
    double rated_t = uget(fw, 0x6076, 0) / 1000.0, rated_i = uget(fw, 0x6075, 0) / 1000.0;
    OD_SET(fw, 0x6064, 0, (uint32_t)cbl_clip_int(m->position_rad * PPR, I32_MIN, I32_MAX));
    OD_SET(fw, 0x606C, 0, (uint32_t)cbl_clip_int(m->velocity_rad_s * VPR, I32_MIN, I32_MAX));
    OD_SET(fw, 0x6077, 0, (uint32_t)cbl_clip_int(m->torque_sensor_nm / rated_t * 1000.0, -32768, 32767));
    OD_SET(fw, 0x6074, 0, (uint32_t)cbl_clip_int(m->torque_cmd_nm / rated_t * 1000.0, -32768, 32767));
    OD_SET(fw, 0x6078, 0, (uint32_t)cbl_clip_int(m->iq_a / rated_i * 1000.0, -32768, 32767));
    OD_SET(fw, 0x2001, 0, (uint32_t)cbl_clip_int(m->torque_sensor_nm * 1000.0, I32_MIN, I32_MAX));
    OD_SET(fw, 0x2002, 0, (uint32_t)cbl_clip_int(m->winding_temp_c * 10.0, -32768, 32767));
}

static uint32_t add_code(uint16_t *codes, uint32_t n, uint32_t max, uint16_t code)
{
    for (uint32_t k = 0; k < n; k++)
        if (codes[k] == code) return n;
    if (n < max) codes[n++] = code;
    return n;
}

uint32_t cbl_board_plant_faults(cbl_fw_t *fw, uint16_t *codes, uint32_t max)
{
    uint32_t n = 0;
    if ((int32_t)OD_GET(fw, 0x2002, 0) > (int32_t)OD_GET(fw, 0x2020, 3)) n = add_code(codes, n, max, 0x4310);
    uint32_t word = fw->meas.fault;
    for (unsigned k = 0; k < sizeof module_faults / sizeof module_faults[0]; k++)
        if (word & module_faults[k].bit) n = add_code(codes, n, max, module_faults[k].code);
    if (word & ~0x7Fu) n = add_code(codes, n, max, 0x7122);  /* any other module fault: motor error */
    return n;
}

int cbl_board_standstill(const cbl_fw_t *fw)
{
    int64_t v = (int32_t)OD_GET(fw, 0x606C, 0);
    return (v < 0 ? -v : v) < (int64_t)OD_GET(fw, 0x2030, 0);
}

void cbl_board_status_inputs(cbl_fw_t *fw, int standstill, int *reached, int *follow_err)
{
    if ((int32_t)OD_GET(fw, 0x6061, 0) != MODE_CSP) {
        *reached = standstill;
        *follow_err = 0;
        return;
    }
    int64_t d = (int64_t)(int32_t)OD_GET(fw, 0x607A, 0) - (int64_t)(int32_t)OD_GET(fw, 0x6064, 0);
    *follow_err = fw->law_st.state == 4 && (d < 0 ? -d : d) > (int64_t)OD_GET(fw, 0x6065, 0);
    *reached = !*follow_err;
}

uint32_t cbl_board_validate(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t raw)
{
    if (index != 0x607Du || sub == 0) return 0;  /* a write that would make min > max */
    int32_t lo = sub == 1 ? (int32_t)raw : (int32_t)OD_GET(fw, 0x607D, 1);
    int32_t hi = sub == 2 ? (int32_t)raw : (int32_t)OD_GET(fw, 0x607D, 2);
    return lo > hi ? ABORT_MAX_LT_MIN : 0u;
}

void cbl_board_written(cbl_fw_t *fw, uint16_t index, uint8_t sub)
{
    int gains = (index == 0x2010u && sub >= 1u && sub <= 3u) || (index == 0x2011u && sub >= 1u && sub <= 2u);
    if (gains && fw->ctl.on) cbl_joint_param(fw, index, sub, cbl_f32(cbl_od_get(fw, index, sub)));
    else if (gains && fw->bsp.plant_param != NULL &&
        fw->bsp.plant_param(fw->bsp.user, index, sub, (double)cbl_f32(cbl_od_get(fw, index, sub))) != 0)
        fw->app_failing = 1;
}

int cbl_board_reset_fault(cbl_fw_t *fw)
{
    if (fw->ctl.on) {
        fw->ctl.fault_reset = 1;  /* the cascade clears its latches at its next period */
        return 0;
    }
    if (fw->bsp.plant_reset_fault == NULL) return -1;
    return fw->bsp.plant_reset_fault(fw->bsp.user) != 0;
}

/* boot / NMT reset node: the plant runs the gains the dictionary now holds (the saved set or the
 * defaults), as the specification does (drivers/board/joint.py, JointBoard._reset_app) */
void cbl_board_reset(cbl_fw_t *fw)
{
    for (uint8_t sub = 1u; sub <= 3u && !fw->app_failing; sub++) cbl_board_written(fw, 0x2010u, sub);
    for (uint8_t sub = 1u; sub <= 2u && !fw->app_failing; sub++) cbl_board_written(fw, 0x2011u, sub);
}

void cbl_board_command_plant(cbl_fw_t *fw)
{
    double dt = uget(fw, 0x1006, 0) * 1e-6;
    double v_meas = fw->meas.velocity_rad_s;
    double max_v = uget(fw, 0x6080, 0) / VPR;
    double rated_t = uget(fw, 0x6076, 0) / 1000.0;
    double max_t = uget(fw, 0x6072, 0) / 1000.0 * rated_t;
    int enable = fw->law_out.power_enabled;
    int32_t ramp = fw->law_out.stop_ramp;
    int32_t mode = MODE_CSV;
    double pos = fw->meas.position_rad, vel = 0.0, tau = 0.0;
    if (!enable || ramp == 0) fw->ramp_active = 0;  /* the next stop ramp starts from the velocity then */
    int follow = enable && fw->law_out.follow_targets;
    int32_t cur = (int32_t)OD_GET(fw, 0x6061, 0);
    int no_mode = follow && cur != MODE_CSP && cur != MODE_CSV && cur != MODE_CST && cur != MODE_IMPEDANCE;
    if (no_mode && !fw->holding) fw->hold_pos = fw->meas.position_rad;
    fw->holding = (uint8_t)no_mode;
    if (no_mode) {  /* no mode: hold where the hold began (CSP, clamped to 0x607D) */
        double lo = (double)(int32_t)OD_GET(fw, 0x607D, 1), hi = (double)(int32_t)OD_GET(fw, 0x607D, 2);
        mode = MODE_CSP;
        pos = pmin(pmax(fw->hold_pos * PPR, lo), hi) / PPR;
    } else if (follow) {
        mode = cur;
        tau = (sget(fw, 0x60B2, 0) / 1000.0) * rated_t;
        if (mode == MODE_CSP || mode == MODE_IMPEDANCE) {  /* impedance: q* 0x607A, w_ff 0x60B1, tau_ff 0x60B2 */
            int64_t lo = (int32_t)OD_GET(fw, 0x607D, 1), hi = (int32_t)OD_GET(fw, 0x607D, 2);
            int64_t t = (int32_t)OD_GET(fw, 0x607A, 0);
            t = t < lo ? lo : t;
            t = t > hi ? hi : t;
            pos = (double)t / PPR;
            vel = sget(fw, 0x60B1, 0) / VPR;
        } else if (mode == MODE_CSV) {
            vel = (double)((int64_t)(int32_t)OD_GET(fw, 0x60FF, 0) + (int32_t)OD_GET(fw, 0x60B1, 0)) / VPR;
        } else {  /* MODE_CST */
            tau = tau + sget(fw, 0x6071, 0) / 1000.0 * rated_t;
        }
    } else if (enable && (ramp == 1 || ramp == 2)) {
        if (!fw->ramp_active) {
            fw->ramp_v = v_meas;
            fw->ramp_active = 1;
        }
        double dec = (ramp == 1 ? uget(fw, 0x6084, 0) : uget(fw, 0x6085, 0)) / VPR * dt;
        fw->ramp_v = __builtin_copysign(pmax(__builtin_fabs(fw->ramp_v) - dec, 0.0), fw->ramp_v);
        vel = fw->ramp_v;
    } else if (enable && ramp == 3) {
        int standstill = __builtin_fabs(v_meas) * VPR < uget(fw, 0x2030, 0);
        mode = standstill ? MODE_CSV : MODE_CST;
        tau = standstill ? 0.0 : -__builtin_copysign(max_t, v_meas);
    }
    vel = pmin(pmax(vel, -max_v), max_v);
    tau = pmin(pmax(tau, -max_t), max_t);
    cbl_demand_t d = {mode, (uint8_t)enable, pos, vel, tau, dt};
    if (fw->ctl.on) cbl_joint_demand(fw, &d);  /* the control loop follows these from its next period */
    if (fw->bsp.plant_demand != NULL) {
        if (fw->bsp.plant_demand(fw->bsp.user, &d) != 0) fw->app_failing = 1;
    }
}
