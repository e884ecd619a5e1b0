/* cbl_joint_ctl.h: the joint board's motion control inside the image (ctl_joint.c).
 *
 * The laws are the ones codegen generates from actuators/joint: foc_step (foc.h, the current
 * loop, once per PWM period) and cascade_step (cascade.h: supervisor, CSP / CSV / CST /
 * impedance, limits, torque-sensor loop, once per control-loop period). Their records live in
 * the firmware context (cbl_fw_t.ctl). Two entry points are what the MCU's interrupts call:
 *
 *   cbl_joint_loop_isr(fw, in, out)  control loop (firmware.loop_hz): output encoder, torque
 *                                    sensor, winding temperature, bus voltage in; the current
 *                                    loop's references set, the torque command / fault word out
 *   cbl_joint_pwm_isr(fw, in, out)   current loop (every PWM period): phase currents, motor
 *                                    encoder count, bus voltage in; duties and pwm_on out
 *
 * The 1 kHz CiA 402 cycle (app_joint.c) latches the mode's targets with cbl_joint_demand; the
 * control loop interpolates the CSP position over the communication period. The drive's
 * calibration (motor, current loop, cascade limits and gains: a real board keeps it in its
 * configuration flash) comes with cbl_fw_config_t.joint_cal; the gains 0x2010 and the impedance
 * K / D 0x2011 come from the object dictionary. Every field of the I/O records is 32-bit except
 * the position (double: the CSP reference is interpolated in double from it).
 */
#ifndef CBL_JOINT_CTL_H
#define CBL_JOINT_CTL_H

#include <stdint.h>
#include "cascade.h"
#include "foc.h"

struct cbl_fw;

typedef struct cbl_joint_cal {
    FocConfig foc;
    CascadeConfig cascade;
    double ratio;      /* gear ratio: output velocity = motor PLL velocity / ratio */
    double pwm_hz;     /* current-loop rate */
    int32_t pwm_per_loop;  /* PWM periods per control-loop period */
} cbl_joint_cal_t;

typedef struct { double pos_rad; float torque_sensor_nm, temp_c, vbus_v; int32_t pad; } cbl_loop_in_t;
typedef struct { float tau_cmd_nm, current_limit_a; int32_t fault; int32_t pad; } cbl_loop_out_t;
typedef struct { float ia_a, ib_a, vbus_v; int32_t enc_count; } cbl_pwm_in_t;
typedef struct { float duty_a, duty_b, duty_c, iq_a, id_a, motor_vel_rad_s; int32_t pwm_on, pad; } cbl_pwm_out_t;

typedef struct {
    FocConfig fc;
    FocState fs;
    FocInput fi;
    FocOutput fo;
    CascadeConfig cc;
    CascadeState cs;
    CascadeInput ci;
    CascadeOutput co;
    double ratio, pwm_hz;
    double p0, p1, vel, tau, stiffness, damping;  /* the latched demand (CSP: p0 -> p1 over the period) */
    double pos;               /* the last output position sample */
    float ts, temp;           /* the last torque-sensor and temperature samples */
    float ratio_f;            /* the ratio in float32 when exact: the output velocity in float32 */
    int32_t mode, j, n_outer, pwm_per_loop;
    uint8_t on, enable, prev_enable, fault_reset, overcurrent, ratio_exact;
    uint32_t loop_count, pwm_count;  /* interrupts served since power-on */
} cbl_joint_ctl_t;

void cbl_joint_loop_isr(struct cbl_fw *fw, const cbl_loop_in_t *in, cbl_loop_out_t *out);
void cbl_joint_pwm_isr(struct cbl_fw *fw, const cbl_pwm_in_t *in, cbl_pwm_out_t *out);

/* the image's own calls (app_joint.c) */
void cbl_joint_setup(struct cbl_fw *fw);   /* power-on: records from the calibration (on = 0 without one) */
void cbl_joint_demand(struct cbl_fw *fw, const cbl_demand_t *d);  /* the 1 kHz cycle's targets */
void cbl_joint_param(struct cbl_fw *fw, uint16_t index, uint8_t sub, float value);  /* 0x2010 / 0x2011 */
void *cbl_joint_record(struct cbl_fw *fw, uint32_t k, uint32_t *size);  /* law record k (0..7), NULL past */

#endif
