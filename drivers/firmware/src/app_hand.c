/* app_hand.c: the tendon-hand board's plant side (spec: drivers/board/hand.py): six roller-screw
 * tendon actuators behind one node. Per axis k, in operation enabled with 0x6060 = -1, the axis
 * mode 0x2100:k selects the target: 0 current 0x2105 (mA), 1 screw position 0x2101 (µm, clamped
 * to the screw stroke), 2 tension 0x2102 (0.01 N, clamped to 0x2120:k), 3 grasp pad force 0x2103
 * (0.01 N, clamped to 0x2120:k). Stop ramps hold every nut where it was when the stop began until
 * standstill; with the power stage off every axis runs in current mode with 0 A. The plant
 * advances round(0x1006 × its control rate) ticks per cycle.
 */
#include "co_internal.h"

#define M_CURRENT 0
#define M_POSITION 1
#define M_TENSION 2
#define M_GRASP 3
#define I32_MIN (-2147483647LL - 1)
#define I32_MAX 2147483647LL

static double pmax(double a, double b) { return b > a ? b : a; }
static double pmin(double a, double b) { return b < a ? b : a; }

int cbl_board_mode_supported(int32_t mode) { return mode == 0 || mode == -1; }

void cbl_board_setup(cbl_fw_t *fw)
{
    for (int k = 0; k < CBL_HAND_AXES; k++) fw->hold[k] = 0.0;
    fw->holding = 0;
    cbl_hand_setup(fw);
}

void cbl_board_sample(cbl_fw_t *fw)
{
    cbl_hand_sample_t m = {0};
    if (fw->bsp.hand_sample != NULL && fw->bsp.hand_sample(fw->bsp.user, &m) != 0) {
        fw->app_failing = 1;  /* nothing of a failed sample is kept */
        return;
    }
    fw->stroke_min_m = m.stroke_min_m;
    fw->stroke_max_m = m.stroke_max_m;
    for (int k = 0; k < CBL_HAND_AXES; k++) {
        uint8_t sub = (uint8_t)(k + 1);
        cbl_od_set(fw, 0x2110, sub, (uint32_t)cbl_clip_int(m.x_m[k] * 1e6, I32_MIN, I32_MAX));
        cbl_od_set(fw, 0x2111, sub, (uint32_t)cbl_clip_int(m.tension_n[k] * 100.0, -32768, 32767));
        cbl_od_set(fw, 0x2112, sub, (uint32_t)cbl_clip_int(m.i_a[k] * 1000.0, -32768, 32767));
        cbl_od_set(fw, 0x2113, sub, (uint32_t)cbl_clip_int(m.pad_force_n[k] * 100.0, -32768, 32767));
        fw->hand_x[k] = m.x_m[k];
        fw->hand_v[k] = m.v_m_s[k];
    }
}

uint32_t cbl_board_plant_faults(cbl_fw_t *fw, uint16_t *codes, uint32_t max)
{
    (void)fw, (void)codes, (void)max;
    return 0;
}

int cbl_board_standstill(const cbl_fw_t *fw)
{
    double thr = (double)OD_GET(fw, 0x2030, 0) / 1e6;
    for (int k = 0; k < CBL_HAND_AXES; k++)
        if (!(__builtin_fabs(fw->hand_v[k]) < thr)) return 0;
    return 1;
}

void cbl_board_status_inputs(cbl_fw_t *fw, int standstill, int *reached, int *follow_err)
{
    (void)fw;
    *reached = standstill;
    *follow_err = 0;
}

void cbl_board_written(cbl_fw_t *fw, uint16_t index, uint8_t sub) { (void)fw, (void)index, (void)sub; }
void cbl_board_reset(cbl_fw_t *fw) { (void)fw; }

int cbl_board_reset_fault(cbl_fw_t *fw)
{
    if (fw->bsp.plant_reset_fault == NULL) return -1;
    return fw->bsp.plant_reset_fault(fw->bsp.user) != 0;
}

uint32_t cbl_board_validate(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t raw)
{
    (void)fw, (void)index, (void)sub, (void)raw;
    return 0;
}

void cbl_board_command_plant(cbl_fw_t *fw)
{
    if (fw->bsp.hand_demand == NULL) return;
    cbl_hand_demand_t d = {0};
    int enable = fw->law_out.power_enabled;
    int32_t ramp = fw->law_out.stop_ramp;
    double lo = fw->stroke_min_m, hi = fw->stroke_max_m;
    int follow = enable && fw->law_out.follow_targets && (int32_t)OD_GET(fw, 0x6061, 0) == -1;
    /* a stop, or no mode (0x6061 = 0) in operation enabled: every nut holds where the hold began */
    int hold = enable && (ramp != 0 || (fw->law_out.follow_targets && (int32_t)OD_GET(fw, 0x6061, 0) != -1));
    if (hold && !fw->holding)
        for (int k = 0; k < CBL_HAND_AXES; k++) fw->hold[k] = fw->hand_x[k];
    fw->holding = (uint8_t)hold;
    for (int k = 0; k < CBL_HAND_AXES; k++) {
        uint8_t sub = (uint8_t)(k + 1);
        double t_max = (double)cbl_od_get(fw, 0x2120, sub) / 100.0;
        int32_t mode = M_CURRENT;
        if (hold) {
            mode = M_POSITION;
            d.x_cmd[k] = fw->hold[k];
            d.set[k] = CBL_HAND_SET_X;
        } else if (follow) {
            mode = (int32_t)cbl_od_get(fw, 0x2100, sub);
            if (mode == M_CURRENT) {
                d.i_cmd[k] = (double)(int32_t)cbl_od_get(fw, 0x2105, sub) / 1000.0;
            } else if (mode == M_POSITION) {
                d.x_cmd[k] = pmin(pmax((double)(int32_t)cbl_od_get(fw, 0x2101, sub) / 1e6, lo), hi);
                d.set[k] = CBL_HAND_SET_X;
            } else if (mode == M_TENSION) {
                d.t_cmd[k] = pmin(pmax((double)(int32_t)cbl_od_get(fw, 0x2102, sub) / 100.0, 0.0), t_max);
                d.set[k] = CBL_HAND_SET_T;
            } else if (mode == M_GRASP) {
                d.f_ref[k] = pmin(pmax((double)(int32_t)cbl_od_get(fw, 0x2103, sub) / 100.0, 0.0), t_max);
                d.set[k] = CBL_HAND_SET_F;
            }
        }
        d.mode[k] = mode;
    }
    int64_t n = cbl_clip_int((double)OD_GET(fw, 0x1006, 0) * 1e-6 * fw->cfg.plant_loop_hz, 1, 1000000);
    d.ticks = (int32_t)n;
    if (fw->hctl.on) cbl_hand_demand_latch(fw, &d);  /* the control ticks follow these */
    if (fw->bsp.hand_demand(fw->bsp.user, &d) != 0) fw->app_failing = 1;
}
