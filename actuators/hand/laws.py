"""Tendon-hand firmware laws, in the codegen/law.py form (float32 records, restricted Python).

All laws run once per control tick ``dt`` [s] (``cfg.dt``), per actuator, and are real-time
safe (no allocation). Units: nut position x [m], nut velocity v [m/s], current i [A],
tension T [N], pad force F [N], joint angle q [rad].

screw_position_step      i = kp (x_r - x) + kd (v_r - v) + ki int(x_r - x) + i_ff sign(v_r)
                         closed loop on the free nut (mass m_eq, force K_F i):
                         w_n^2 = K_F kp / m_eq, 2 zeta w_n = K_F kd / m_eq
screw_tension_observer_step   tension from the screw force (no tension sensor), F = K_F i - m_eq dv/dt:
                             v > v_eps : T = eta_f (F - F_c0)              (motor drives)
                             v < -v_eps: T = (F + F_c0) / eta_b            (tendon back-drives)
                             else        hold the last estimate, clamped into that band
                             (a stuck screw only bounds the tension); then smoothed
                             T_est += alpha (T - T_est)
tendon_tension_step      T_m = tension sensor, or the observer's estimate (cfg.use_sensor)
                         i = i_ff + kp (T_r - T_m) + ki int(T_r - T_m) - kd v, with the inverse
                         screw model blended by the error direction (s = clamp(e / T_band, -1, 1)):
                         i_ff = ((1 + s)/2 (T_r/eta_f + F_c0) + (1 - s)/2 (eta_b T_r - F_c0)) / K_F
                         on a load of tendon-space stiffness k_L (pulling, friction T/eta_f):
                         w_n^2 = k_L (1/eta_f + K_F kp) / m_eq,  2 zeta w_n = K_F kd / m_eq
grasp_force_step         approach: x_r ramps at v_a until the pad force exceeds F_touch (or the
                         tension exceeds T_block without touch: blocked, hold; also when touch
                         is lost for n_lost ticks in force control); then
                         T_r = c_TF F_r + kp_f (F_r - F_m) + ki_f int(F_r - F_m), rate-limited
coupled_joint_step       x_r = sum_j r_j q_r,j + x_0 + ki int(sum_j r_j (q_r,j - q_m,j))
                         (joint targets through one row of the coupling matrix R, dl = R dq)
slack_step               slack when T_m < T_slack and (no joint feedback or x - R q_m - x_0 <
                         -margin) for n_debounce ticks; cleared after n_debounce ticks without
"""

from __future__ import annotations

from cerebellum_rt.codegen.law import Record, array, boolean, f32, i32
from cerebellum_rt.rtcore.jit import njit

N_COUPLED = 16  # joints per coupling row (zero-padded)
# constants as plain Python: codegen gives them float32 in the C and on the host (codegen.host_law)
ZERO, HALF, ONE = 0.0, 0.5, 1.0


@njit(cache=True)  # a law called by a law must be jitted for numba
def clamp_sym(x: f32, lim: f32) -> f32:
    """x clamped into [-lim, lim] (lim >= 0)."""
    if x > lim:
        return lim
    if x < -lim:
        return -lim
    return x


@njit(cache=True)
def antiwindup_pi(u: f32, integ: f32, inc: f32, integ_max: f32, out_max: f32) -> f32:
    """Output of a PI with a clamped, conditionally frozen integral: u + clamp(integ + inc,
    +-integ_max), clamped to +-out_max. The caller keeps the new integral only while the
    output is inside the limit (|output| < out_max): no windup while saturated."""
    return clamp_sym(u + clamp_sym(integ + inc, integ_max), out_max)


class ScrewPosConfig(Record):
    kp: f32 = 400.0  # [A/m]
    kd: f32 = 10.0  # [A/(m/s)]
    ki: f32 = 0.0  # [A/(m s)]
    i_ff: f32 = 0.0  # [A] drag feedforward along v_ref
    i_max: f32 = 0.5  # [A]
    integ_max: f32 = 0.1  # [A] integral share limit
    dt: f32 = 0.001  # [s]


class ScrewPosState(Record):
    integ: f32  # [A]


class ScrewPosInput(Record):
    x_ref: f32  # [m]
    v_ref: f32  # [m/s]
    x: f32  # [m]
    v: f32  # [m/s]


class ScrewPosOutput(Record):
    i_ref: f32  # [A]
    saturated: boolean


def screw_position_step(cfg: ScrewPosConfig, st: ScrewPosState, inp: ScrewPosInput, out: ScrewPosOutput) -> None:
    """Nut position PID with drag feedforward and a clamped, conditionally frozen integral."""
    e = inp.x_ref - inp.x
    ff = ZERO
    if inp.v_ref > ZERO:
        ff = cfg.i_ff
    elif inp.v_ref < ZERO:
        ff = -cfg.i_ff
    u = cfg.kp * e + cfg.kd * (inp.v_ref - inp.v) + ff
    inc = cfg.ki * e * cfg.dt
    total = antiwindup_pi(u, st.integ, inc, cfg.integ_max, cfg.i_max)
    sat = abs(total) >= cfg.i_max
    if not sat:
        st.integ = clamp_sym(st.integ + inc, cfg.integ_max)
    out.i_ref = total
    out.saturated = sat


class ObserverConfig(Record):
    k_force: f32 = 289.0  # [N/A] K_F = k_t N 2 pi / lead
    eta_f: f32 = 0.56  # drive-train forward efficiency
    eta_b: f32 = 0.49  # back-drive efficiency
    f_c0: f32 = 4.9  # [N] constant nut drag
    v_eps: f32 = 0.0002  # [m/s] standstill band
    m_eq: f32 = 35.4  # [kg] drive-train inertia reflected to the nut
    alpha: f32 = 0.05  # first-order smoothing per tick (dt / (tau + dt))
    dt: f32 = 0.001  # [s]


class ObserverState(Record):
    t_est: f32  # [N] smoothed estimate
    t_raw: f32  # [N] unsmoothed (stick-held) estimate
    v_prev: f32  # [m/s]


class ObserverInput(Record):
    i_meas: f32  # [A] motor current
    v: f32  # [m/s] nut velocity (motor encoder)


class ObserverOutput(Record):
    t_est: f32  # [N]


def screw_tension_observer_step(cfg: ObserverConfig, st: ObserverState, inp: ObserverInput,
                                out: ObserverOutput) -> None:
    """Tendon tension from the screw force (quasi-static drive-train model, stick-aware)."""
    fd = cfg.k_force * inp.i_meas - cfg.m_eq * (inp.v - st.v_prev) / cfg.dt
    st.v_prev = inp.v
    t_fwd = cfg.eta_f * (fd - cfg.f_c0)
    t_bwd = (fd + cfg.f_c0) / cfg.eta_b
    t = st.t_raw
    if inp.v > cfg.v_eps:
        t = t_fwd
    elif inp.v < -cfg.v_eps:
        t = t_bwd
    else:
        if t < t_fwd:
            t = t_fwd
        elif t > t_bwd:
            t = t_bwd
    if t < ZERO:
        t = ZERO
    st.t_raw = t
    st.t_est = st.t_est + cfg.alpha * (t - st.t_est)
    out.t_est = st.t_est


class TensionConfig(Record):
    k_force: f32 = 289.0  # [N/A] K_F = k_t N 2 pi / lead
    eta_f: f32 = 0.56  # drive-train forward efficiency
    eta_b: f32 = 0.49  # back-drive efficiency
    f_c0: f32 = 4.9  # [N] constant nut drag
    use_sensor: boolean = True
    kp: f32 = 0.015  # [A/N]
    ki: f32 = 0.1  # [A/(N s)]
    kd: f32 = 20.0  # [A/(m/s)] nut velocity damping
    t_band: f32 = 0.5  # [N] error band blending the forward / back-drive feedforward
    i_max: f32 = 0.5  # [A]
    integ_max: f32 = 0.2  # [A]
    dt: f32 = 0.001  # [s]


class TensionState(Record):
    integ: f32  # [A]


class TensionInput(Record):
    t_ref: f32  # [N]
    t_sensor: f32  # [N] tension sensor (used when cfg.use_sensor)
    t_est: f32  # [N] screw-force estimate (screw_tension_observer_step), used otherwise
    v: f32  # [m/s] nut velocity (motor encoder)


class TensionOutput(Record):
    i_ref: f32  # [A]
    t_meas: f32  # [N] the tension the loop used (sensor or estimate)
    saturated: boolean


def tendon_tension_step(cfg: TensionConfig, st: TensionState, inp: TensionInput, out: TensionOutput) -> None:
    """Tendon tension PI with inverse-screw feedforward and nut damping."""
    tm = inp.t_sensor
    if not cfg.use_sensor:
        tm = inp.t_est
    tr = inp.t_ref
    if tr < ZERO:
        tr = ZERO
    e = tr - tm
    sg = e / cfg.t_band
    if sg > ONE:
        sg = ONE
    elif sg < -ONE:
        sg = -ONE
    fwd = tr / cfg.eta_f + cfg.f_c0
    bwd = cfg.eta_b * tr - cfg.f_c0
    ff = (HALF * (ONE + sg) * fwd + HALF * (ONE - sg) * bwd) / cfg.k_force
    u = ff + cfg.kp * e - cfg.kd * inp.v
    inc = cfg.ki * e * cfg.dt
    total = antiwindup_pi(u, st.integ, inc, cfg.integ_max, cfg.i_max)
    sat = abs(total) >= cfg.i_max
    if not sat:
        st.integ = clamp_sym(st.integ + inc, cfg.integ_max)
    out.i_ref = total
    out.t_meas = tm
    out.saturated = sat


class GraspConfig(Record):
    f_touch: f32 = 0.3  # [N] contact threshold on the pad force
    v_approach: f32 = 0.03  # [m/s]
    x_max: f32 = 0.035  # [m] closing limit of the approach
    t_per_f: f32 = 2.5  # [N/N] tension feedforward per pad force
    kp_f: f32 = 0.5  # [N/N]
    ki_f: f32 = 5.0  # [N/(N s)]
    t_max: f32 = 80.0  # [N]
    t_min: f32 = 0.5  # [N] keeps the tendon taut while grasping
    t_block: f32 = 15.0  # [N] tension without touch that means the finger is blocked
    n_lost: i32 = 100  # [ticks] touch lost this long (with T > t_block) in force control: hold
    t_rate: f32 = 200.0  # [N/s] tension reference slew limit
    dt: f32 = 0.001  # [s]


class GraspState(Record):
    phase: i32  # 0 idle, 1 approach, 2 force control, 3 missed (closing limit or blocked, no touch)
    x_cmd: f32  # [m]
    t_cmd: f32  # [N]
    integ: f32  # [N]
    lost: i32  # [ticks] without touch in force control


class GraspInput(Record):
    enable: boolean
    f_ref: f32  # [N] target pad force of this finger
    f_meas: f32  # [N] sum of the finger's pad forces (tactile)
    t_meas: f32  # [N]
    x: f32  # [m]


class GraspOutput(Record):
    mode: i32  # 0 screw position (x_ref, v_ref), 1 tension (t_ref)
    x_ref: f32  # [m]
    v_ref: f32  # [m/s]
    t_ref: f32  # [N]
    contact: boolean


def grasp_force_step(cfg: GraspConfig, st: GraspState, inp: GraspInput, out: GraspOutput) -> None:
    """Approach in position until touch, then pad-force PI through the tension loop."""
    if not inp.enable:
        st.phase = 0
        st.x_cmd = inp.x
        st.integ = 0.0
    elif st.phase == 0:
        st.phase = 1
        st.x_cmd = inp.x
    contact = inp.f_meas > cfg.f_touch
    if st.phase == 1:
        if contact:
            st.phase = 2
            st.t_cmd = inp.t_meas
            st.integ = 0.0
            st.lost = 0
        else:
            st.x_cmd = st.x_cmd + cfg.v_approach * cfg.dt
            if inp.t_meas > cfg.t_block:
                st.x_cmd = inp.x
                st.phase = 3
            elif st.x_cmd >= cfg.x_max:
                st.x_cmd = cfg.x_max
                st.phase = 3
    if st.phase == 2:
        if contact:
            st.lost = 0
        else:
            st.lost = st.lost + 1
        if st.lost >= cfg.n_lost and inp.t_meas > cfg.t_block:
            st.phase = 3  # touch lost and the finger pulls on its end stops: hold here
            st.x_cmd = inp.x
    if st.phase == 2:
        e = inp.f_ref - inp.f_meas
        integ = st.integ + cfg.ki_f * e * cfg.dt
        target = cfg.t_per_f * inp.f_ref + cfg.kp_f * e + integ
        if target > cfg.t_max:
            target = cfg.t_max
        elif target < cfg.t_min:
            target = cfg.t_min
        else:
            st.integ = integ
        step = cfg.t_rate * cfg.dt
        if target > st.t_cmd + step:
            target = st.t_cmd + step
        elif target < st.t_cmd - step:
            target = st.t_cmd - step
        st.t_cmd = target
        out.mode = 1
        out.t_ref = target
        out.x_ref = inp.x
        out.v_ref = 0.0
    else:
        out.mode = 0
        out.x_ref = st.x_cmd
        out.v_ref = 0.0
        if st.phase == 1:
            out.v_ref = cfg.v_approach
        out.t_ref = 0.0
    out.contact = contact


class CouplingConfig(Record):
    r: array(f32, N_COUPLED)  # [m] moment arms of this tendon (row of R, zero-padded)
    x_0: f32 = 0.0005  # [m] nut position of a just-taut tendon at q = 0 (slack + pretension stretch)
    ki: f32 = 2.0  # [1/s] integral of the tendon-space joint error
    integ_max: f32 = 0.001  # [m]
    x_min: f32 = -0.002  # [m]
    x_max: f32 = 0.035  # [m]
    dt: f32 = 0.001  # [s]


class CouplingState(Record):
    integ: f32  # [m]


class CouplingInput(Record):
    q_ref: array(f32, N_COUPLED)  # [rad]
    q_meas: array(f32, N_COUPLED)  # [rad] joint encoders (used when use_meas)
    use_meas: boolean


class CouplingOutput(Record):
    x_ref: f32  # [m] nut reference for screw_position_step
    e_tendon: f32  # [m] joint error mapped to tendon space, sum_j r_j (q_r - q_m)
    x_taut: f32  # [m] nut position of a just-taut tendon at q_meas (for slack_step)


def coupled_joint_step(cfg: CouplingConfig, st: CouplingState, inp: CouplingInput, out: CouplingOutput) -> None:
    """Finger joint targets -> nut target through the coupling row: x_r = r . q_r + x_0 (+ I)."""
    xr = cfg.x_0
    e = ZERO
    xt = cfg.x_0
    for j in range(16):
        xr = xr + cfg.r[j] * inp.q_ref[j]
        xt = xt + cfg.r[j] * inp.q_meas[j]
        e = e + cfg.r[j] * (inp.q_ref[j] - inp.q_meas[j])
    if inp.use_meas:
        integ = clamp_sym(st.integ + cfg.ki * e * cfg.dt, cfg.integ_max)
        st.integ = integ
        xr = xr + integ
    else:
        e = ZERO
        xt = xr
    if xr > cfg.x_max:
        xr = cfg.x_max
    elif xr < cfg.x_min:
        xr = cfg.x_min
    out.x_ref = xr
    out.e_tendon = e
    out.x_taut = xt


class SlackConfig(Record):
    t_slack: f32 = 0.2  # [N]
    margin: f32 = 0.0002  # [m]
    n_debounce: i32 = 5  # [ticks]
    use_excursion: boolean = True


class SlackState(Record):
    count: i32
    slack: boolean
    events: i32


class SlackInput(Record):
    t_meas: f32  # [N]
    x: f32  # [m]
    x_taut: f32  # [m] from coupled_joint_step (joint encoders)


class SlackOutput(Record):
    slack: boolean
    events: i32  # rising edges since reset


def slack_step(cfg: SlackConfig, st: SlackState, inp: SlackInput, out: SlackOutput) -> None:
    """Debounced tendon-slack detector with hysteresis (counts slack events)."""
    cond = inp.t_meas < cfg.t_slack
    if cfg.use_excursion:
        cond = cond and (inp.x - inp.x_taut < -cfg.margin)
    if cond != st.slack:
        st.count = st.count + 1
        if st.count >= cfg.n_debounce:
            st.slack = cond
            st.count = 0
            if cond:
                st.events = st.events + 1
    else:
        st.count = 0
    out.slack = st.slack
    out.events = st.events
