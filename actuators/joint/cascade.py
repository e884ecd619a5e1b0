"""Firmware law: supervisor + position / velocity / impedance / torque loops (1-10 kHz).

Restricted law form of codegen/law.py (float32, records, mathf32 kernels). All torques are at
the joint output [N m], positions/velocities are output-side [rad, rad/s].

Supervisor (latched faults, cleared by ``fault_reset``; any fault turns the power stage off):
over-current (from the current loop), over-temperature T >= T_max, bus under/over-voltage,
over-speed |omega| > k_os omega_max, position outside [q_min - m, q_max + m], torque sensor at
its range for ``ts_sat_samples`` consecutive samples (an impact may touch full scale once). Fault word bits: 1 over-current, 2 over-temperature, 4 under-voltage,
8 over-voltage, 16 over-speed, 32 position limit, 64 torque-sensor saturation.

Thermal derating of the current limit: I_lim = I_max clamp((T_max - T)/(T_max - T_derate), 0, 1);
torque limit tau_lim = min(tau_max, Kt I_lim N eta).

Modes (CiA 402 codes; -1 is the manufacturer-specific impedance mode):

- CSP (8):  omega* = clamp(omega_ff + k_p (q* - q), +-omega_max), then the velocity PI.
- CSV (9):  omega* = clamp(omega_ff, +-omega_max), then the velocity PI:
            tau* = tau_ff + k_v (omega* - omega) + I,  I += k_i dt (omega* - omega), |I| <= tau_lim,
            I held while the current loop is at its voltage limit and e I > 0 (anti-windup).
- CST (10): tau* = tau_ff.
- impedance (-1): tau* = tau_ff + K (q* - q) + D (omega_ff - omega).

Position limits: q* is clamped into [q_min, q_max]; in CSP/CSV the velocity command is kept in
the envelope that can still stop at the limits, w* in [-sqrt(2 a_b (q - q_min)),
sqrt(2 a_b (q_max - q))] (a_b = ``brake_accel``); at a limit, torque that pushes further is
zeroed in CST/impedance. Velocity limit in CST/impedance: torque in the
direction of motion is removed above omega_max.

Torque realisation, closed on the torque sensor (first-order filtered, coefficient a):
tau_s^ += a (tau_s - tau_s^);
tau_m = tau* + k_t (tau* - tau_s^) + F_c clamp(omega_f / omega_eps, +-1) + F_v omega_f;
i_q* = clamp(tau_m g / (Kt N), +-I_lim), i_d* = 0, with the gear's efficiency taken in the
direction power flows: g = 1/eta_f while the motor drives the output (tau_m omega_f >= 0, and at
standstill), g = eta_b while the output back-drives the motor (tau_m omega_f < 0: the load
delivers tau_m at the output for only eta_b tau_m / N at the rotor), blended linearly over
|omega_f| < omega_eps. With a single forward efficiency the back-driven joint delivered
1/(eta_f eta_b) times the torque it asked for, and the torque demand 0x6074 it reported was
16-31 % below the shaft torque (knee 16 %, arm_hd 26 %, mini_cheetah 31 %). Only in CSP/CSV,
where omega_f is the commanded velocity: in CST/impedance omega_f is the measured one, and
switching the gain on its sign acts as a negative damping tau (1/eta_f - eta_b) / omega_eps
(a locked joint held at 20 % of peak torque went unstable on velocity noise); there g = 1/eta_f
and the torque-sensor loop (k_t) corrects the back-driven error.
(omega_f is the commanded velocity in CSP/CSV, the measured one otherwise.)
"""

from __future__ import annotations

from cerebellum_rt.codegen.law import Record, boolean, f32, i32
from cerebellum_rt.codegen.mathf32 import clamp, fabs, fmin, sqrt

# constants as plain Python: codegen gives them float32 in the C and on the host (codegen.host_law)
ZERO, ONE, TWO = 0.0, 1.0, 2.0


class CascadeConfig(Record):
    dt: f32 = 1e-4  # [s] loop period
    ratio: f32 = 22.5  # gear ratio N
    kt: f32 = 0.08316  # [N m/A] motor torque constant
    eff: f32 = 0.85  # forward gear efficiency used to scale torque to current
    eff_back: f32 = 0.8  # back-drive gear efficiency (output driving the rotor)
    kp_pos: f32 = 125.0  # [1/s]
    kp_vel: f32 = 8.0  # [N m s/rad]
    ki_vel: f32 = 1000.0  # [N m/rad]
    torque_fb_gain: f32 = 1.0  # k_t
    torque_filter: f32 = 0.5  # a in (0, 1]
    coulomb_comp: f32 = 0.72  # [N m]
    viscous_comp: f32 = 0.004  # [N m s/rad]
    friction_vel_eps: f32 = 0.01  # [rad/s]
    torque_max: f32 = 139.0  # [N m]
    current_max: f32 = 87.4  # [A]
    vel_max: f32 = 20.0  # [rad/s]
    overspeed: f32 = 30.0  # [rad/s]
    pos_min: f32 = 0.0  # [rad]
    pos_max: f32 = 2.88  # [rad]
    pos_margin: f32 = 0.1  # [rad]
    derate_start: f32 = 100.0  # [degC]
    temp_max: f32 = 120.0  # [degC]
    vbus_min: f32 = 20.0  # [V]
    vbus_max: f32 = 60.0  # [V]
    ts_range: f32 = 200.0  # [N m] torque sensor full scale
    ts_sat_samples: i32 = 10  # consecutive samples at full scale that make a fault
    brake_accel: f32 = 2000.0  # [rad/s^2] deceleration planned towards a position limit


class CascadeState(Record):
    vel_integ: f32  # [N m]
    tau_filt: f32  # [N m]
    ts_sat_count: i32  # consecutive samples at the torque sensor's full scale
    f_oc: boolean
    f_ot: boolean
    f_uv: boolean
    f_ov: boolean
    f_os: boolean
    f_pos: boolean
    f_ts: boolean


class CascadeInput(Record):
    mode: i32  # 8 CSP, 9 CSV, 10 CST, -1 impedance
    enable: boolean
    fault_reset: boolean
    pos_ref: f32  # [rad]
    vel_ref: f32  # [rad/s] (velocity offset in CSP)
    tau_ref: f32  # [N m] (torque offset in CSP/CSV)
    stiffness: f32  # [N m/rad] impedance mode
    damping: f32  # [N m s/rad] impedance mode
    pos: f32  # [rad] output encoder
    vel: f32  # [rad/s] output velocity (motor PLL / N)
    tau_meas: f32  # [N m] torque sensor
    temp: f32  # [degC] winding temperature sensor
    vbus: f32  # [V]
    overcurrent: boolean  # from the current loop
    volt_sat: boolean  # the current loop is at its voltage limit
    aligning: boolean  # the current loop is aligning an incremental encoder (it ignores i_q*)


class CascadeOutput(Record):
    iq_ref: f32  # [A]
    id_ref: f32  # [A]
    tau_cmd: f32  # [N m] torque command after limits
    vel_cmd: f32  # [rad/s]
    current_limit: f32  # [A] after derating
    power_on: boolean
    fault: i32  # fault word (see module doc)


def cascade_step(cfg: CascadeConfig, st: CascadeState, inp: CascadeInput, out: CascadeOutput) -> None:
    """One outer-loop period: supervisor, mode law, limits, torque-sensor loop. Real-time safe."""
    if inp.fault_reset:
        st.f_oc = False
        st.f_ot = False
        st.f_uv = False
        st.f_ov = False
        st.f_os = False
        st.f_pos = False
        st.f_ts = False
    if inp.overcurrent:
        st.f_oc = True
    if inp.temp >= cfg.temp_max:
        st.f_ot = True
    if inp.vbus < cfg.vbus_min:
        st.f_uv = True
    if inp.vbus > cfg.vbus_max:
        st.f_ov = True
    if fabs(inp.vel) > cfg.overspeed:
        st.f_os = True
    if inp.pos < cfg.pos_min - cfg.pos_margin or inp.pos > cfg.pos_max + cfg.pos_margin:
        st.f_pos = True
    if fabs(inp.tau_meas) >= cfg.ts_range:
        st.ts_sat_count = st.ts_sat_count + 1
        if st.ts_sat_count >= cfg.ts_sat_samples:
            st.f_ts = True
    else:
        st.ts_sat_count = 0
    word = 0
    if st.f_oc:
        word = word + 1
    if st.f_ot:
        word = word + 2
    if st.f_uv:
        word = word + 4
    if st.f_ov:
        word = word + 8
    if st.f_os:
        word = word + 16
    if st.f_pos:
        word = word + 32
    if st.f_ts:
        word = word + 64
    out.fault = word
    st.tau_filt = st.tau_filt + cfg.torque_filter * (inp.tau_meas - st.tau_filt)

    i_lim = cfg.current_max * clamp((cfg.temp_max - inp.temp) / (cfg.temp_max - cfg.derate_start), ZERO, ONE)
    out.current_limit = i_lim
    if (not inp.enable) or word != 0:
        st.vel_integ = ZERO
        out.iq_ref = ZERO
        out.id_ref = ZERO
        out.tau_cmd = ZERO
        out.vel_cmd = ZERO
        out.power_on = False
        return
    if inp.aligning:  # power on, but no motion control until the commutation angle is known
        st.vel_integ = ZERO
        out.iq_ref = ZERO
        out.id_ref = ZERO
        out.tau_cmd = ZERO
        out.vel_cmd = ZERO
        out.power_on = True
        return
    tau_lim = fmin(cfg.torque_max, cfg.kt * i_lim * cfg.ratio * cfg.eff)
    q_ref = clamp(inp.pos_ref, cfg.pos_min, cfg.pos_max)
    at_max = inp.pos >= cfg.pos_max
    at_min = inp.pos <= cfg.pos_min

    # velocity envelope that can still stop at the position limits: |w| <= sqrt(2 a_b d)
    v_hi = cfg.vel_max
    v_lo = -cfg.vel_max
    d_hi = cfg.pos_max - inp.pos
    d_lo = inp.pos - cfg.pos_min
    if d_hi <= ZERO:
        v_hi = ZERO
    else:
        v_hi = fmin(v_hi, sqrt(TWO * cfg.brake_accel * d_hi))
    if d_lo <= ZERO:
        v_lo = ZERO
    else:
        v_lo = -fmin(cfg.vel_max, sqrt(TWO * cfg.brake_accel * d_lo))

    use_vel = False
    vel_cmd = ZERO
    tau = ZERO
    if inp.mode == 8:
        vel_cmd = clamp(inp.vel_ref + cfg.kp_pos * (q_ref - inp.pos), v_lo, v_hi)
        use_vel = True
    elif inp.mode == 9:
        vel_cmd = clamp(inp.vel_ref, v_lo, v_hi)
        use_vel = True
    elif inp.mode == -1:
        tau = inp.tau_ref + inp.stiffness * (q_ref - inp.pos) + inp.damping * (inp.vel_ref - inp.vel)
    else:
        tau = inp.tau_ref
    vel_f = inp.vel
    if use_vel:
        e = vel_cmd - inp.vel
        # conditional integration: hold the integral while the torque cannot be realised
        # (current loop at its voltage limit) and the error would push it further
        if not (inp.volt_sat and e * st.vel_integ > ZERO):
            st.vel_integ = clamp(st.vel_integ + cfg.ki_vel * cfg.dt * e, -tau_lim, tau_lim)
        tau = inp.tau_ref + cfg.kp_vel * e + st.vel_integ
        vel_f = vel_cmd
    else:
        st.vel_integ = ZERO
        if (at_max and tau > ZERO) or (at_min and tau < ZERO):
            tau = ZERO
        if (inp.vel > cfg.vel_max and tau > ZERO) or (inp.vel < -cfg.vel_max and tau < ZERO):
            tau = ZERO
    tau = clamp(tau, -tau_lim, tau_lim)
    out.tau_cmd = tau
    out.vel_cmd = vel_cmd
    fric = cfg.coulomb_comp * clamp(vel_f / cfg.friction_vel_eps, -ONE, ONE) + cfg.viscous_comp * vel_f
    tau_m = tau + cfg.torque_fb_gain * (tau - st.tau_filt) + fric
    back = ZERO  # fraction of back-driving (power from the output to the rotor)
    if use_vel and tau_m * vel_f < ZERO:
        back = clamp(fabs(vel_f) / cfg.friction_vel_eps, ZERO, ONE)
    iq = tau_m / (cfg.kt * cfg.ratio * cfg.eff)
    if back > ZERO:
        iq = tau_m * ((ONE - back) / cfg.eff + back * cfg.eff_back) / (cfg.kt * cfg.ratio)
    out.iq_ref = clamp(iq, -i_lim, i_lim)
    out.id_ref = ZERO
    out.power_on = True
