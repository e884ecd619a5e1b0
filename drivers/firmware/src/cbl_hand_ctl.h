/* cbl_hand_ctl.h: the hand board's actuator control inside the image (ctl_hand.c).
 *
 * The laws are the ones codegen generates from actuators/hand/laws.py, per tendon actuator:
 * coupled_joint_step (joint targets to nut positions, taut point), screw_tension_observer_step,
 * grasp_force_step, screw_position_step, tendon_tension_step and slack_step; then the current
 * limit derated with the winding temperature and a latched actuator fault switching it off.
 * One entry point, the control tick (the hand's loop_hz) as the MCU's timer interrupt calls it:
 *
 *   cbl_hand_tick_isr(fw, in, out)   nut position / velocity, motor current, tendon tension,
 *                                    finger pad force, winding temperature, fault, joint angles in;
 *                                    the motors' current references out
 *
 * The 1 kHz CiA 402 cycle (app_hand.c) latches the axes' modes and targets. The laws' gains and
 * the geometry (coupling rows, strokes, limits) come with cbl_fw_config_t.hand_cal.
 */
#ifndef CBL_HAND_CTL_H
#define CBL_HAND_CTL_H

#include <stdint.h>
#include "coupled_joint.h"
#include "grasp_force.h"
#include "screw_position.h"
#include "screw_tension_observer.h"
#include "slack.h"
#include "tendon_tension.h"

#define CBL_HAND_JOINTS 16  /* N_COUPLED: joints per coupling row */

struct cbl_fw;

typedef struct cbl_hand_cal {
    ScrewPosConfig pos[6];
    TensionConfig ten[6];
    GraspConfig grasp[6];
    CouplingConfig couple[6];
    SlackConfig slack[6];
    ObserverConfig obs[6];
    double f_max[6];        /* [N] pad-force target limit per actuator (its finger's) */
    double i_max[6];        /* [A] current limit before derating */
    double derate_start_c, temp_max_c;
    int32_t n_joints;
} cbl_hand_cal_t;

typedef struct {
    double x_m[6], v_m_s[6], i_a[6], tension_n[6], pad_force_n[6], winding_c[6];
    double q_rad[CBL_HAND_JOINTS];
    int32_t fault[6];       /* the actuator's latched fault bits (0: none) */
} cbl_hand_tick_in_t;

typedef struct {
    double i_ref_a[6];      /* to the current loops: derated, 0 on a fault */
    double i_law_a[6];      /* what the mode's law asked for */
    int32_t phase[6], slack[6];  /* grasp phase, tendon slack (the hand's log) */
} cbl_hand_tick_out_t;

typedef struct {
    ScrewPosConfig pos_c[6];
    ScrewPosState pos_s[6];
    TensionConfig ten_c[6];
    TensionState ten_s[6];
    GraspConfig gr_c[6];
    GraspState gr_s[6];
    CouplingConfig cp_c[6];
    CouplingState cp_s[6];
    SlackConfig sl_c[6];
    SlackState sl_s[6];
    ObserverConfig ob_c[6];
    ObserverState ob_s[6];
    ObserverInput oin;
    ObserverOutput oout;
    ScrewPosInput pin;
    ScrewPosOutput pout;
    TensionInput tin;
    TensionOutput tout;
    GraspInput gin;
    GraspOutput gout;
    CouplingInput cin;
    CouplingOutput cout;
    SlackInput sin;
    SlackOutput sout;
    double f_max[6], i_max[6], derate_start_c, temp_max_c;
    int32_t n_joints;
    /* the latched targets (cbl_hand_demand_t) */
    int32_t mode[6];
    double i_cmd[6], x_cmd[6], t_cmd[6], f_ref[6], q_ref[CBL_HAND_JOINTS];
    uint8_t on;
    uint32_t tick_count;  /* interrupts served since power-on */
} cbl_hand_ctl_t;

void cbl_hand_tick_isr(struct cbl_fw *fw, const cbl_hand_tick_in_t *in, cbl_hand_tick_out_t *out);

/* the image's own calls (app_hand.c) */
void cbl_hand_setup(struct cbl_fw *fw);
void cbl_hand_demand_latch(struct cbl_fw *fw, const cbl_hand_demand_t *d);

#endif
