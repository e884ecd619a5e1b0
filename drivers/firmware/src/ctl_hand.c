/* ctl_hand.c: the hand board's actuator control: the generated tendon laws run by the image's
 * control-tick interrupt (see cbl_hand_ctl.h). The order and the arithmetic of the glue around
 * the laws are those of the emulated hand's kernel (actuators/hand/sim.py, _run_ticks), so the
 * host build and the Python board give bit-identical runs.
 */
#include "co_internal.h"

static double pymax(double a, double b) { return b > a ? b : a; }
static double pymin(double a, double b) { return b < a ? b : a; }

void cbl_hand_setup(cbl_fw_t *fw)
{
    cbl_hand_ctl_t *c = &fw->hctl;
    uint8_t *p = (uint8_t *)c;
    for (size_t k = 0; k < sizeof *c; k++) p[k] = 0;
    const cbl_hand_cal_t *cal = fw->cfg.hand_cal;
    if (cal == NULL || cal->n_joints < 0 || cal->n_joints > CBL_HAND_JOINTS) return;
    for (int k = 0; k < 6; k++) {
        c->pos_c[k] = cal->pos[k];
        c->ten_c[k] = cal->ten[k];
        c->gr_c[k] = cal->grasp[k];
        c->cp_c[k] = cal->couple[k];
        c->sl_c[k] = cal->slack[k];
        c->ob_c[k] = cal->obs[k];
        ScrewPosState_defaults(&c->pos_s[k]);
        TensionState_defaults(&c->ten_s[k]);
        GraspState_defaults(&c->gr_s[k]);
        CouplingState_defaults(&c->cp_s[k]);
        SlackState_defaults(&c->sl_s[k]);
        ObserverState_defaults(&c->ob_s[k]);
        c->f_max[k] = cal->f_max[k];
        c->i_max[k] = cal->i_max[k];
    }
    ObserverInput_defaults(&c->oin);
    ObserverOutput_defaults(&c->oout);
    ScrewPosInput_defaults(&c->pin);
    ScrewPosOutput_defaults(&c->pout);
    TensionInput_defaults(&c->tin);
    TensionOutput_defaults(&c->tout);
    GraspInput_defaults(&c->gin);
    GraspOutput_defaults(&c->gout);
    CouplingInput_defaults(&c->cin);
    CouplingOutput_defaults(&c->cout);
    SlackInput_defaults(&c->sin);
    SlackOutput_defaults(&c->sout);
    c->derate_start_c = cal->derate_start_c;
    c->temp_max_c = cal->temp_max_c;
    c->n_joints = cal->n_joints;
    c->on = 1;
}

void cbl_hand_demand_latch(cbl_fw_t *fw, const cbl_hand_demand_t *d)
{
    cbl_hand_ctl_t *c = &fw->hctl;
    for (int k = 0; k < 6; k++) {
        if (d->set[k] & CBL_HAND_SET_X) c->x_cmd[k] = d->x_cmd[k];
        if (d->set[k] & CBL_HAND_SET_T) c->t_cmd[k] = d->t_cmd[k];
        if (d->set[k] & CBL_HAND_SET_F) c->f_ref[k] = d->f_ref[k];
        c->mode[k] = d->mode[k];
        c->i_cmd[k] = d->i_cmd[k];
    }
}

void cbl_hand_tick_isr(cbl_fw_t *fw, const cbl_hand_tick_in_t *in, cbl_hand_tick_out_t *out)
{
    cbl_hand_ctl_t *c = &fw->hctl;
    for (int k = 0; k < 6; k++) {
        double x = in->x_m[k], v = in->v_m_s[k], i = in->i_a[k], fm = in->pad_force_n[k];
        for (int j = 0; j < c->n_joints; j++) {
            c->cin.q_ref[j] = (float)c->q_ref[j];
            c->cin.q_meas[j] = (float)in->q_rad[j];
        }
        c->cin.use_meas = true;
        coupled_joint_step_r(&c->cp_c[k], &c->cp_s[k], &c->cin, &c->cout);
        c->oin.i_meas = (float)i;
        c->oin.v = (float)v;
        screw_tension_observer_step_r(&c->ob_c[k], &c->ob_s[k], &c->oin, &c->oout);
        double t_used = c->ten_c[k].use_sensor ? in->tension_n[k] : (double)c->oout.t_est;
        c->tin.t_sensor = (float)in->tension_n[k];
        c->tin.t_est = c->oout.t_est;
        c->tin.v = (float)v;
        c->tin.t_ref = (float)c->t_cmd[k];
        int32_t m = c->mode[k], phase = 0;
        double i_ref;
        if (m == 3) {
            c->gin.enable = true;
            c->gin.f_ref = (float)pymin(c->f_ref[k], c->f_max[k]);
            c->gin.f_meas = (float)fm;
            c->gin.t_meas = (float)t_used;
            c->gin.x = (float)x;
            grasp_force_step_r(&c->gr_c[k], &c->gr_s[k], &c->gin, &c->gout);
            phase = c->gr_s[k].phase;
            c->tin.t_ref = c->gout.t_ref;
            c->pin.x_ref = c->gout.x_ref;
            c->pin.v_ref = c->gout.v_ref;
            m = c->gout.mode == 1 ? 2 : 1;
        } else if (m == 4) {
            c->pin.x_ref = c->cout.x_ref;
            c->pin.v_ref = 0.0F;
            m = 1;
        } else if (m == 1) {
            c->pin.x_ref = (float)c->x_cmd[k];
            c->pin.v_ref = 0.0F;
        }
        if (m == 1) {
            c->pin.x = (float)x;
            c->pin.v = (float)v;
            screw_position_step_r(&c->pos_c[k], &c->pos_s[k], &c->pin, &c->pout);
            i_ref = c->pout.i_ref;
        } else if (m == 2) {
            tendon_tension_step_r(&c->ten_c[k], &c->ten_s[k], &c->tin, &c->tout);
            i_ref = c->tout.i_ref;
        } else {
            i_ref = c->i_cmd[k];
        }
        c->sin.t_meas = (float)t_used;
        c->sin.x = (float)x;
        c->sin.x_taut = c->cout.x_taut;
        slack_step_r(&c->sl_c[k], &c->sl_s[k], &c->sin, &c->sout);
        out->i_ref_a[k] = out->i_law_a[k] = i_ref;
        out->phase[k] = phase;
        out->slack[k] = c->sout.slack ? 1 : 0;
    }
    for (int k = 0; k < 6; k++) {  /* thermal derating of the current limit; a fault switches off */
        if (in->fault[k] != 0) {
            out->i_ref_a[k] = 0.0;
        } else {
            double frac = pymin(pymax((c->temp_max_c - in->winding_c[k]) / (c->temp_max_c - c->derate_start_c), 0.0), 1.0);
            double lim = c->i_max[k] * frac;
            out->i_ref_a[k] = pymin(pymax(out->i_ref_a[k], -lim), lim);
        }
    }
    c->tick_count++;
}
