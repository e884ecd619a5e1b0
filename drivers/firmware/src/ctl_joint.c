/* ctl_joint.c: the joint board's motion control: the generated cascade and FOC run by the
 * image's two interrupts (see cbl_joint_ctl.h). The sampling order and the arithmetic of the glue
 * around the laws are those of the emulated module's kernel (actuators/joint/module.py), so the
 * host build and the Python board give bit-identical runs.
 */
#include "co_internal.h"

void cbl_joint_setup(cbl_fw_t *fw)
{
    cbl_joint_ctl_t *c = &fw->ctl;
    uint8_t *p = (uint8_t *)c;
    for (size_t k = 0; k < sizeof *c; k++) p[k] = 0;
    FocState_defaults(&c->fs);
    FocInput_defaults(&c->fi);
    FocOutput_defaults(&c->fo);
    CascadeState_defaults(&c->cs);
    CascadeInput_defaults(&c->ci);
    CascadeOutput_defaults(&c->co);
    const cbl_joint_cal_t *cal = fw->cfg.joint_cal;
    if (cal == NULL || cal->pwm_per_loop < 1 || !(cal->pwm_hz > 0.0) || !(cal->ratio != 0.0)) return;
    c->fc = cal->foc;
    c->cc = cal->cascade;
    c->ratio = cal->ratio;
    c->ratio_f = (float)cal->ratio;
    /* a float32 quotient of two float32 equals the double quotient rounded to float32 (53 >= 2 * 24 + 2
     * bits): with an exactly representable ratio the velocity needs no double division */
    c->ratio_exact = (double)c->ratio_f == cal->ratio;
    c->pwm_hz = cal->pwm_hz;
    c->pwm_per_loop = cal->pwm_per_loop;
    c->mode = 8;
    c->on = 1;
}

/* law record k (0..7: FOC config, state, input, output, then the cascade's) and its size in
 * *size; NULL past them. What gain inspection reads (the host build's views, QEMU's EV_RECORD). */
void *cbl_joint_record(cbl_fw_t *fw, uint32_t k, uint32_t *size)
{
    cbl_joint_ctl_t *c = &fw->ctl;
    void *r[8] = {&c->fc, &c->fs, &c->fi, &c->fo, &c->cc, &c->cs, &c->ci, &c->co};
    const uint32_t n[8] = {sizeof c->fc, sizeof c->fs, sizeof c->fi, sizeof c->fo,
                           sizeof c->cc, sizeof c->cs, sizeof c->ci, sizeof c->co};
    if (k >= 8u) return NULL;
    if (size != NULL) *size = n[k];
    return r[k];
}

void cbl_joint_demand(cbl_fw_t *fw, const cbl_demand_t *d)
{
    cbl_joint_ctl_t *c = &fw->ctl;
    c->p0 = c->p1;  /* the previous period ended at its target */
    c->mode = d->mode;
    c->p1 = d->position_rad;
    c->vel = d->velocity_rad_s;
    c->tau = d->torque_nm;
    c->enable = d->enable != 0;
    if (c->enable && !c->prev_enable) c->p0 = c->pos;  /* enabled: start from where the joint is */
    c->prev_enable = c->enable;
    double periods = d->dt_s * c->pwm_hz;
    int32_t n_cur = periods > 0.0 ? (int32_t)(periods + 0.5) : 0;
    int32_t n_outer = n_cur / c->pwm_per_loop;
    c->n_outer = n_outer > 1 ? n_outer : 1;
    c->j = 0;
}

void cbl_joint_param(cbl_fw_t *fw, uint16_t index, uint8_t sub, float value)
{
    cbl_joint_ctl_t *c = &fw->ctl;
    if (index == 0x2010u && sub == 1u) c->cc.kp_pos = value;
    else if (index == 0x2010u && sub == 2u) c->cc.kp_vel = value;
    else if (index == 0x2010u && sub == 3u) c->cc.ki_vel = value;
    else if (index == 0x2011u && sub == 1u) c->stiffness = value;
    else if (index == 0x2011u && sub == 2u) c->damping = value;
}

void cbl_joint_loop_isr(cbl_fw_t *fw, const cbl_loop_in_t *in, cbl_loop_out_t *out)
{
    cbl_joint_ctl_t *c = &fw->ctl;
    c->j++;
    double frac = (double)c->j / (double)c->n_outer;
    if (!(frac < 1.0)) frac = 1.0;
    CascadeInput *ci = &c->ci;
    ci->mode = c->mode;
    ci->enable = c->enable;
    ci->fault_reset = c->fault_reset;
    c->fault_reset = 0;
    ci->pos_ref = (float)(c->p0 + (c->p1 - c->p0) * frac);
    ci->vel_ref = (float)c->vel;
    ci->tau_ref = (float)c->tau;
    ci->stiffness = (float)c->stiffness;
    ci->damping = (float)c->damping;
    ci->pos = (float)in->pos_rad;
    ci->vel = c->ratio_exact ? c->fs.pll_vel / c->ratio_f : (float)((double)c->fs.pll_vel / c->ratio);
    ci->tau_meas = in->torque_sensor_nm;
    ci->temp = in->temp_c;
    ci->vbus = in->vbus_v;
    ci->overcurrent = c->overcurrent;
    ci->volt_sat = c->fo.saturated;
    ci->aligning = c->fo.aligning;
    c->overcurrent = 0;
    cascade_step_r(&c->cc, &c->cs, ci, &c->co);
    c->fi.iq_ref = c->co.iq_ref;
    c->fi.id_ref = c->co.id_ref;
    c->fi.enable = c->co.power_on;
    c->pos = in->pos_rad;
    c->ts = in->torque_sensor_nm;
    c->temp = in->temp_c;
    out->tau_cmd_nm = c->co.tau_cmd;
    out->current_limit_a = c->co.current_limit;
    out->fault = c->co.fault;
    c->loop_count++;
}

void cbl_joint_pwm_isr(cbl_fw_t *fw, const cbl_pwm_in_t *in, cbl_pwm_out_t *out)
{
    cbl_joint_ctl_t *c = &fw->ctl;
    c->fi.ia = in->ia_a;
    c->fi.ib = in->ib_a;
    c->fi.enc_count = in->enc_count;
    c->fi.vbus = in->vbus_v;
    foc_step_r(&c->fc, &c->fs, &c->fi, &c->fo);
    if (c->fo.overcurrent) c->overcurrent = 1;  /* latched until the next control-loop period */
    out->duty_a = c->fo.duty_a;
    out->duty_b = c->fo.duty_b;
    out->duty_c = c->fo.duty_c;
    out->iq_a = c->fo.iq;
    out->id_a = c->fo.id;
    out->motor_vel_rad_s = c->fs.pll_vel;
    out->pwm_on = c->fo.pwm_on;
    c->pwm_count++;
}
