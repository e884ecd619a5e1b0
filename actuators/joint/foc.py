"""Firmware law: field-oriented current loop of a PMSM (runs at the PWM rate, 10-40 kHz).

Written in the restricted law form of codegen/law.py (float32, records, mathf32 kernels) so the
same function runs under numba in the emulator and compiles to C for the board.

Per step (period ``dt`` [s]):

1. Motor encoder (single-turn count ``n`` of ``N_c`` counts/rev) -> mechanical angle
   theta_m = n 2pi/N_c [rad] and electrical angle theta_e = ((n p + n_0) mod N_c) 2pi/N_c [rad]
   (integer arithmetic, exact). Absolute encoder: n_0 = 0. Incremental encoder (counts from an
   unknown zero at power-up): on the first enable the loop aligns for ``align_steps`` periods
   (theta_e forced to 0, i_d* = ``align_current``, i_q* = 0: the rotor's d axis turns to the
   stator's alpha axis), then n_0 = -(n p) mod N_c.
2. Phase-locked loop on theta_m (velocity estimate): predict theta^ += dt omega^;
   e = wrap(theta_m - theta^); theta^ += k_p dt e; omega^ += k_i dt e  [rad, rad/s].
3. Clarke: i_alpha = i_a, i_beta = (i_a + 2 i_b)/sqrt(3); Park: i_d = c i_alpha + s i_beta,
   i_q = c i_beta - s i_alpha (s, c = sin, cos theta_e)  [A].
4. PI per axis with decoupling feed-forward (omega_e = p omega^):
   v_d = k_pd e_d + I_d - omega_e L_q i_q;  v_q = k_pq e_q + I_q + omega_e (L_d i_d + lambda)  [V];
   I_x += k_ix dt e_x (see 5).
5. Voltage limit (space-vector linear range): |v| <= V_max = m V_bus / sqrt(3); a longer
   vector is scaled back along its own direction (v *= V_max / |v|). Anti-windup by conditional
   integration: the integrators only integrate in periods where the vector is not limited
   (clamping to the limit by back-calculation instead made the current overshoot by ~70 % after
   a torque reversal at the velocity limit, where the back-EMF leaves little voltage headroom).
6. Inverse Park at theta_e + 1.5 dt omega_e (the voltage is applied during the next PWM period),
   inverse Clarke, min-max (SVPWM-equivalent) zero-sequence injection, duties
   d_x = 1/2 + (v_x + v_0) / V_bus in [0, 1].

With the power stage disabled (``enable`` false or over-current) the duties are 0 and
``pwm_on`` is false (all switches open), the integrators are cleared, the PLL keeps tracking.
"""

from __future__ import annotations

from cerebellum_rt.codegen.law import Record, boolean, f32, i32
from cerebellum_rt.codegen.mathf32 import clamp, sin_cos, sqrt

# constants as plain Python: codegen gives them float32 in the C and on the host (codegen.host_law)
ZERO, HALF, ONE, ONE_HALF, TWO = 0.0, 0.5, 1.0, 1.5, 2.0
PI, TWO_PI = 3.1415927, 6.2831853
INV_SQRT3 = 0.57735027  # 1/sqrt(3)
SQRT3_2 = 0.8660254  # sqrt(3)/2


class FocConfig(Record):
    dt: f32 = 5e-5  # [s] PWM / current-loop period
    kp_d: f32 = 0.4  # [V/A]
    ki_d: f32 = 700.0  # [V/(A s)]
    kp_q: f32 = 0.4  # [V/A]
    ki_q: f32 = 700.0  # [V/(A s)]
    ld: f32 = 6.77e-5  # [H]
    lq: f32 = 6.77e-5  # [H]
    flux: f32 = 0.00264  # [Wb] permanent-magnet flux linkage
    pole_pairs: i32 = 21
    counts_per_rev: i32 = 16384  # motor encoder counts per mechanical revolution
    rad_per_count: f32 = 3.8349519e-4  # [rad] 2 pi / counts_per_rev
    pll_kp: f32 = 1.9e4  # [1/s]
    pll_ki: f32 = 9.0e7  # [1/s^2]
    max_modulation: f32 = 0.95  # fraction of V_bus/sqrt(3) the loop may use
    i_trip: f32 = 110.0  # [A] instantaneous over-current trip (current vector magnitude)
    decouple: boolean = True
    incremental: boolean = False  # motor encoder counts from an unknown zero: align first
    align_current: f32 = 13.0  # [A] d-axis current that pulls the rotor to theta_e = 0
    align_steps: i32 = 4000  # periods of alignment (0.2 s at 20 kHz)


class FocState(Record):
    integ_d: f32  # [V]
    integ_q: f32  # [V]
    pll_pos: f32  # [rad] in [0, 2 pi)
    pll_vel: f32  # [rad/s] motor mechanical velocity estimate
    pll_init: boolean
    aligned: boolean  # incremental encoder: electrical offset found
    align_count: i32  # periods spent aligning
    e_offset: i32  # electrical offset [counts]: theta_e = ((n p + e_offset) mod N_c) 2pi/N_c


class FocInput(Record):
    ia: f32  # [A] measured phase current a
    ib: f32  # [A] measured phase current b
    enc_count: i32  # motor encoder single-turn count in [0, counts_per_rev)
    vbus: f32  # [V] measured bus voltage
    id_ref: f32  # [A]
    iq_ref: f32  # [A]
    enable: boolean  # power stage requested on


class FocOutput(Record):
    duty_a: f32  # [0, 1]
    duty_b: f32
    duty_c: f32
    pwm_on: boolean
    overcurrent: boolean
    vd: f32  # [V] commanded (after limits)
    vq: f32  # [V]
    id: f32  # [A] measured
    iq: f32  # [A] measured
    theta_e: f32  # [rad]
    vel: f32  # [rad/s] motor velocity estimate
    saturated: boolean  # voltage limit active
    aligning: boolean  # incremental encoder: the rotor is being pulled to theta_e = 0


def foc_step(cfg: FocConfig, st: FocState, inp: FocInput, out: FocOutput) -> None:
    """One current-loop period. Real-time safe (no allocation, bounded time)."""
    theta_m = f32(inp.enc_count) * cfg.rad_per_count
    ecount = i32(i32(inp.enc_count * cfg.pole_pairs) + st.e_offset) % cfg.counts_per_rev
    theta_e = f32(ecount) * cfg.rad_per_count
    id_ref = inp.id_ref
    iq_ref = inp.iq_ref
    aligning = False
    if cfg.incremental and not st.aligned:
        if inp.enable and inp.vbus > ONE:
            # alignment: d-axis current along theta_e = 0 pulls the rotor's d axis there; at the
            # end the raw electrical count there becomes the offset
            aligning = True
            theta_e = ZERO
            id_ref = cfg.align_current
            iq_ref = ZERO
            st.align_count = st.align_count + 1
            if st.align_count >= cfg.align_steps:
                raw = i32(inp.enc_count * cfg.pole_pairs) % cfg.counts_per_rev
                st.e_offset = (cfg.counts_per_rev - raw) % cfg.counts_per_rev
                st.aligned = True
        else:
            st.align_count = 0
    out.aligning = aligning

    # velocity PLL on the mechanical angle
    if not st.pll_init:
        st.pll_pos = theta_m
        st.pll_vel = ZERO
        st.pll_init = True
    pred = st.pll_pos + cfg.dt * st.pll_vel
    err = theta_m - pred
    if err > PI:
        err = err - TWO_PI
    elif err < -PI:
        err = err + TWO_PI
    pos = pred + cfg.pll_kp * cfg.dt * err
    st.pll_vel = st.pll_vel + cfg.pll_ki * cfg.dt * err
    if pos >= TWO_PI:
        pos = pos - TWO_PI
    elif pos < ZERO:
        pos = pos + TWO_PI
    st.pll_pos = pos

    # Clarke + Park
    s, c = sin_cos(theta_e)
    i_alpha = inp.ia
    i_beta = (inp.ia + TWO * inp.ib) * INV_SQRT3
    i_d = c * i_alpha + s * i_beta
    i_q = c * i_beta - s * i_alpha
    out.id = i_d
    out.iq = i_q
    out.theta_e = theta_e
    out.vel = st.pll_vel
    oc = sqrt(i_d * i_d + i_q * i_q) > cfg.i_trip
    out.overcurrent = oc

    if (not inp.enable) or oc or inp.vbus <= ONE:
        st.integ_d = ZERO
        st.integ_q = ZERO
        out.duty_a = ZERO
        out.duty_b = ZERO
        out.duty_c = ZERO
        out.vd = ZERO
        out.vq = ZERO
        out.pwm_on = False
        out.saturated = False
        return

    w_e = f32(cfg.pole_pairs) * st.pll_vel
    e_d = id_ref - i_d
    e_q = iq_ref - i_q
    ff_d = ZERO
    ff_q = ZERO
    if cfg.decouple:
        ff_d = -w_e * cfg.lq * i_q
        ff_q = w_e * (cfg.ld * i_d + cfg.flux)
    v_max = cfg.max_modulation * inp.vbus * INV_SQRT3
    vd_u = cfg.kp_d * e_d + st.integ_d + ff_d
    vq_u = cfg.kp_q * e_q + st.integ_q + ff_q
    mag = sqrt(vd_u * vd_u + vq_u * vq_u)
    vd = vd_u
    vq = vq_u
    sat = mag > v_max
    if sat:
        k = v_max / mag
        vd = vd_u * k
        vq = vq_u * k
    else:
        st.integ_d = st.integ_d + cfg.ki_d * cfg.dt * e_d
        st.integ_q = st.integ_q + cfg.ki_q * cfg.dt * e_q
    out.vd = vd
    out.vq = vq
    out.saturated = sat

    # inverse Park at the angle the rotor will have mid-way through the next PWM period
    th = theta_e + ONE_HALF * cfg.dt * w_e
    s2, c2 = sin_cos(th)
    v_alpha = c2 * vd - s2 * vq
    v_beta = s2 * vd + c2 * vq
    va = v_alpha
    vb = -HALF * v_alpha + SQRT3_2 * v_beta
    vc = -HALF * v_alpha - SQRT3_2 * v_beta
    vmx = va
    if vb > vmx:
        vmx = vb
    if vc > vmx:
        vmx = vc
    vmn = va
    if vb < vmn:
        vmn = vb
    if vc < vmn:
        vmn = vc
    v0 = -HALF * (vmx + vmn)
    out.duty_a = clamp(HALF + (va + v0) / inp.vbus, ZERO, ONE)
    out.duty_b = clamp(HALF + (vb + v0) / inp.vbus, ZERO, ONE)
    out.duty_c = clamp(HALF + (vc + v0) / inp.vbus, ZERO, ONE)
    out.pwm_on = True
