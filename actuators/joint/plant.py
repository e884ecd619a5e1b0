"""Joint-module plant (physics, float64, numba): PMSM + reducer + output, sensors.

Electrical (dq frame, amplitude-invariant Park, motor side), integrated by the trapezoidal rule
at the PWM period h (A-stable; in the mean currents m = (i + i+)/2 the magnetic energy changes by
exactly 3/2 L m di, so the electrical balance has no numerical loss; the torque over the period
is tau_e(m)), with w_e taken at the rotor's predicted mid-period speed so that the converted
power 3/2 w_e (lambda m_q + ...) equals the work of tau_e on the rotor to O(h^2)::

    L_d di_d/dt = v_d - R(T) i_d + w_e L_q i_q
    L_q di_q/dt = v_q - R(T) i_q - w_e (L_d i_d + lambda)
    tau_e = 3/2 p (lambda i_q + (L_d - L_q) i_d i_q)          [N m]
    P_el = 3/2 (v_d i_d + v_q i_q),  P_cu = 3/2 R(T) (i_d^2 + i_q^2)   [W]
    R(T) = R_0 (1 + alpha (T - 25 degC))

The inverter is averaged: the applied phase voltages are (d_x - mean(d)) V_bus from the duties
the current loop computed one period earlier (computation delay), so the SVPWM hexagon is the
hard voltage limit; as the rotor turns by D = w_e h while they are applied, the mean dq voltage
is the Park transform at the mid-period angle times sinc(D/2). With the power stage off the windings are open (back-EMF < V_bus): i = 0, and
the magnetic energy 3/4 (L_d i_d^2 + L_q i_q^2) returns to the bus.

Mechanical: two inertias joined by the reducer (ratio N) with backlash 2b, a piecewise-linear
torsional stiffness in series with the torque-sensor flexure, and structural damping c::

    delta = theta_m / N - theta_o;  d = deadzone(delta, b)
    tau_s = K(d) + c (omega_m / N - omega_o)   (contact only)     shaft torque [N m]
    J_o domega_o/dt = tau_s - m g l sin(theta_o) + tau_ext - F_o sgn(omega_o)   (output bearing)
    J_m domega_m/dt = tau_e + tau_cog - tau_g - F_c sgn(omega_m) - F_v omega_m
    tau_g = tau_s / (N eta_f) if tau_s omega_m > 0 (motor drives) else tau_s eta_b / N
    tau_cog = -A sin(P theta_m)

so the gear always dissipates (tau_g omega_m >= tau_s omega_m / N). At omega_m = 0 the gear
and the motor's Coulomb friction form a switched stick/slip model with an exact zero-velocity
state (``_rotor_velocity``): the rotor stays stuck while the motor torque lies in the stall
band tau_s eta_b / N - F_c <= tau_e + tau_cog <= tau_s / (N eta_f) + F_c, so a stalled motor
delivers T = Kt i N eta_f, a hold against a load draws a current anywhere in that band (set by
how it got there), and an unpowered joint is back-driven only when |tau_s| eta_b / N > F_c.

Integration in n_mech substeps h_s: symplectic Euler (velocities from the spring torque at the
start of the substep, then positions from the new velocities), the structural damping c and
the viscous friction implicit in the new velocities, Coulomb friction as an implicit velocity
projection (stick when the impulse cannot overcome F h_s); n_mech is chosen so the reducer's
relative mode w_n = sqrt(K (1 / (N^2 eta_f J_m) + 1 / J_o)) has w_n h_s <= 0.3. No numerical
damping: symplectic Euler conserves the modified energy KE + U - h_s/2 K(d) (omega_m/N - omega_o)
(``energy.stored_energy`` books it), so a backlash impact closes its energy balance to ~0.1 %
(the implicit-spring scheme it replaces lost 13 % of the impact energy at 20 kHz as extra
mesh damping). A gap that closes within a substep meets the spring at the next one (the
overshoot stores at most K (v h_s)^2 / 2). Coulomb work is booked at the substep's mean velocity,
so a body that friction brings to rest books exactly the kinetic energy it loses. Thermal:
C_th dT/dt = P_cu - (T - T_amb) / R_th, exact exponential step.

Sensors (what the firmware sees): phase-current ADC (noise, LSB quantisation, clipping at its
range), motor encoder (single-turn counts, noise, latency), output absolute multi-turn encoder
(counts, noise, latency, wrap at its turn span), torque sensor (shaft torque + random-walk bias +
noise, saturation, latency); latencies come from a ring of past true values (``RING`` periods).
Noise is a bounded unit-variance approximation (Irwin-Hall of four 16-bit uniforms from one
xorshift64* draw per sample), seeded per module, so runs are reproducible.

Energy accounts [J] (ground truth): electrical input, copper, friction (Coulomb + viscous, both
sides), gear (efficiency), physical damping c, work on the load, magnetic energy returned at
switch-off. Both integrators are energy-consistent (trapezoidal electrical, symplectic mechanics
with its modified energy booked), so E_in - W_load - dE_stored - losses closes to O(h^2)
bookkeeping error either way (~0.05 % of the energy throughput at 20 kHz, < 0.5 % right after a
light output hits a flank); dissipative forces book their impulse at the substep's mean velocity.
"""

from __future__ import annotations

import numpy as np

from cerebellum_rt.rtcore.jit import njit

RING = 512  # sensor latency ring length [PWM periods]

PARAM_FIELDS = [
    "h",
    "n_mech",
    "pp",
    "r0",
    "tempco",
    "ld",
    "lq",
    "flux",
    "jm",
    "coulomb",
    "visc",
    "cog_a",
    "cog_p",
    "ratio",
    "eff_f",
    "eff_b",
    "bl_half",
    "t1",
    "t2",
    "k1",
    "k2",
    "k3",
    "delta1",
    "delta2",
    "damping",
    "jo",
    "inv_jo",
    "inv_ratio",
    "inv_jm",
    "inv_jm_visc",
    "g_fwd",
    "g_bwd",
    "ld_over_h",
    "lq_over_h",
    "hs",
    "inv_hs",
    "out_coulomb",
    "gravity",
    "rth",
    "cth",
    "th_k",
    "t_amb",
    "vbus",
    "enc_m_cpr",
    "enc_m_scale",
    "enc_m_noise",
    "enc_m_lat",
    "enc_m_zero",
    "enc_o_q",
    "enc_o_noise",
    "enc_o_lat",
    "enc_o_span",
    "ts_noise",
    "ts_drift",
    "ts_range",
    "ts_lat",
    "i_noise",
    "i_lsb",
    "i_range",
]
STATE_FIELDS = [
    "theta_m",
    "omega_m",
    "theta_o",
    "omega_o",
    "i_d",
    "i_q",
    "temp",
    "ts_bias",
    "duty_a",
    "duty_b",
    "duty_c",
    "pwm_on",
    "tau_e",
    "tau_s",
    "time",
    "step",
    "e_elec",
    "e_copper",
    "e_friction",
    "e_gear",
    "e_damping",
    "e_load",
    "e_offswitch",
    "tau_ext",
    "tau_rest",
]
PARAM_DTYPE = np.dtype([(n, np.float64) for n in PARAM_FIELDS])
STATE_DTYPE = np.dtype([(n, np.float64) for n in STATE_FIELDS])

_M64 = np.uint64(0x2545F4914F6CDD1D)
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S27 = np.uint64(27)
_S11 = np.uint64(11)
_SQRT3 = np.sqrt(3.0)
_INV_SQRT3 = 1.0 / np.sqrt(3.0)
_THIRD = 1.0 / 3.0
_SIXTH = 1.0 / 6.0
_TWO_OVER_PI = 2.0 / np.pi
_PIO2_1 = 1.5707963267341256  # pi/2 to 31 significant bits (j * _PIO2_1 exact for |j| < 2^22)
_PIO2_2 = 6.077100506506192e-11  # pi/2 - _PIO2_1
_S3, _S5, _S7 = -1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0
_S9, _S11, _S13 = 1.0 / 362880.0, -1.0 / 39916800.0, 1.0 / 6227020800.0
_C2, _C4, _C6, _C8 = -0.5, 1.0 / 24.0, -1.0 / 720.0, 1.0 / 40320.0
_C10, _C12, _C14 = -1.0 / 3628800.0, 1.0 / 479001600.0, -1.0 / 87178291200.0
_MASK16 = np.uint64(0xFFFF)
_S16 = np.uint64(16)
_S32 = np.uint64(32)
_S48 = np.uint64(48)
_INV16 = 1.0 / 65536.0


@njit(cache=True, inline="always", error_model="numpy")
def normal(rng):
    """Unit-variance noise: Irwin-Hall sum of 4 uniforms (the four 16-bit fields of one
    xorshift64* draw), scaled; bounded at +-3.46 sigma."""
    x = rng[0]
    x ^= x >> _S12
    x ^= x << _S25
    x ^= x >> _S27
    rng[0] = x
    y = x * _M64
    t = (y & _MASK16) + ((y >> _S16) & _MASK16) + ((y >> _S32) & _MASK16) + (y >> _S48)
    return (np.float64(t) * _INV16 - 2.0) * _SQRT3


@njit(cache=True, inline="always", error_model="numpy")
def spring_torque(p, d):
    """Piecewise-linear torsional stiffness K(d) (odd), d = deflection outside the backlash [rad]."""
    a = abs(d)
    if a <= p.delta1:
        t = p.k1 * a
    elif a <= p.delta2:
        t = p.t1 + p.k2 * (a - p.delta1)
    else:
        t = p.t2 + p.k3 * (a - p.delta2)
    return t if d >= 0.0 else -t


@njit(cache=True, inline="always", error_model="numpy")
def deflection(p, theta_m, theta_o):
    """Deflection beyond the backlash dead zone [rad] (0 inside the gap)."""
    delta = theta_m * p.inv_ratio - theta_o
    if delta > p.bl_half:
        return delta - p.bl_half
    if delta < -p.bl_half:
        return delta + p.bl_half
    return 0.0


@njit(cache=True, inline="always", error_model="numpy")
def sincos64(x):
    """(sin x, cos x) in float64 from one range reduction: j = round(2x/pi),
    r = (x - j P1) - j P2 (P1 + P2 = pi/2, P1 with 31 significant bits), Taylor series to r^13 /
    r^14 on |r| <= pi/4, quadrant swap. Abs error < 1e-14 for |x| <= 1e6 rad (twice as fast as
    libm sin + cos here)."""
    j = np.floor(x * _TWO_OVER_PI + 0.5)
    r = (x - j * _PIO2_1) - j * _PIO2_2
    z = r * r
    sn = r * (1.0 + z * (_S3 + z * (_S5 + z * (_S7 + z * (_S9 + z * (_S11 + z * _S13))))))
    cs = 1.0 + z * (_C2 + z * (_C4 + z * (_C6 + z * (_C8 + z * (_C10 + z * (_C12 + z * _C14))))))
    q = np.int64(j) & 3
    if q == 0:
        return sn, cs
    if q == 1:
        return cs, -sn
    if q == 2:
        return -sn, -cs
    return -cs, sn


@njit(cache=True, inline="always", error_model="numpy")
def elec_sin_cos(p, s):
    """sin, cos of the true electrical angle p theta_m (float64, see ``sincos64``)."""
    return sincos64(p.pp * s.theta_m)


@njit(cache=True, inline="always", error_model="numpy")
def sample_currents(p, s, rng, sn, cs):
    """ADC phase currents (a, b) [A]: true currents + noise, quantised, clipped to the range.
    ``sn, cs`` = sin, cos of the true electrical angle p theta_m."""
    i_alpha = cs * s.i_d - sn * s.i_q
    i_beta = sn * s.i_d + cs * s.i_q
    ia = i_alpha
    ib = -0.5 * i_alpha + 0.5 * _SQRT3 * i_beta
    ia = round((ia + p.i_noise * normal(rng)) / p.i_lsb) * p.i_lsb
    ib = round((ib + p.i_noise * normal(rng)) / p.i_lsb) * p.i_lsb
    return min(max(ia, -p.i_range), p.i_range), min(max(ib, -p.i_range), p.i_range)


@njit(cache=True, inline="always", error_model="numpy")
def sample_motor_encoder(p, s, ring, rng):
    """Motor single-turn count in [0, cpr): delayed by its latency, noisy, quantised; an
    incremental encoder counts from ``enc_m_zero`` (the rotor angle at power-up)."""
    delayed = ring[2, (np.int64(s.step) - np.int64(p.enc_m_lat)) % RING]  # read either way: no branch
    th = delayed if p.enc_m_lat > 0.0 else s.theta_m
    c = np.floor((th - p.enc_m_zero) * p.enc_m_scale + p.enc_m_noise * normal(rng) + 0.5)
    c = c - np.floor(c / p.enc_m_cpr) * p.enc_m_cpr
    return np.int32(c)


@njit(cache=True, inline="always", error_model="numpy")
def record_ring(p, s, ring):
    """Store this period's true output angle, shaft torque and motor angle (sensor latency)."""
    k = np.int64(s.step) % RING
    ring[0, k] = s.theta_o
    ring[1, k] = s.tau_s
    ring[2, k] = s.theta_m


@njit(cache=True, inline="always", error_model="numpy")
def sample_output_encoder(p, s, ring, rng):
    """Output absolute multi-turn position [rad]: delayed, noisy, quantised, wrapped to its span."""
    k = (np.int64(s.step) - np.int64(p.enc_o_lat)) % RING
    th = ring[0, k]
    c = np.floor(th / p.enc_o_q + p.enc_o_noise * normal(rng) + 0.5)
    half = 0.5 * p.enc_o_span
    c = c - np.floor((c + half) / p.enc_o_span) * p.enc_o_span
    return c * p.enc_o_q


@njit(cache=True, inline="always", error_model="numpy")
def sample_torque_sensor(p, s, ring, rng):
    """Torque sensor [N m]: delayed shaft torque + bias + noise, saturated. The bias takes one
    random-walk step per sample (``ts_drift`` is per sample: drift rate x sqrt(sample period))."""
    k = (np.int64(s.step) - np.int64(p.ts_lat)) % RING
    s.ts_bias += p.ts_drift * normal(rng)
    t = ring[1, k] + s.ts_bias + p.ts_noise * normal(rng)
    return min(max(t, -p.ts_range), p.ts_range)


@njit(cache=True, inline="always", error_model="numpy")
def _output_velocity(p, w_o, impulse, fo, c):
    """Output velocity after one substep: (J_o w_o + impulse -+ F_o h) / (J_o + h c), implicit
    in the damping c and with stick when the impulse cannot overcome the bearing friction."""
    num = p.jo * w_o + impulse
    if abs(num) <= fo:
        return 0.0
    num = num - fo if num > 0.0 else num + fo
    if c != 0.0:
        return num / (p.jo + p.hs * c)
    return num * p.inv_jo


@njit(cache=True, inline="always", error_model="numpy")
def _coulomb_work(j, w0, w1, f_imp):
    """Energy [J] a Coulomb friction of impulse magnitude ``f_imp`` (= F h) dissipates while a
    body of inertia ``j`` goes from w0 to w1 in one substep: sliding, F h |w0 + w1| / 2; stuck
    (w1 = 0), at most the friction impulse times w0 / 2 and at most the kinetic energy it had."""
    if w1 != 0.0:
        if w1 * w0 < 0.0:  # reversal within the substep: the friction acted from rest on
            return f_imp * 0.5 * abs(w1)
        return f_imp * 0.5 * abs(w0 + w1)
    return min(f_imp * 0.5 * abs(w0), 0.5 * j * w0 * w0)


@njit(cache=True, inline="always", error_model="numpy")
def _rotor_velocity(p, w_m, drive, tau_s):
    """(rotor velocity after one substep, gear torque on the rotor): the switched stick/slip
    model of the gear and the motor's Coulomb friction, with an exact zero-velocity state.

    ``drive`` = h (tau_e + tau_cog) is the motor's impulse. The gear's torque on the rotor
    depends on the direction of the power flow, i.e. on the sign of the rotor's *new* velocity
    sigma: tau_s g_fwd when tau_s sigma >= 0 (the motor drives the load), tau_s g_bwd otherwise
    (the load back-drives the motor). The rotor slips forward when the forward candidate
    J w + drive - h tau_g(+1) - h F_c is > 0, backward when the backward candidate
    J w + drive - h tau_g(-1) + h F_c is < 0 (at most one holds, since g_fwd > g_bwd), and
    sticks at w = 0 otherwise. So the rotor holds still while
    tau_s g_bwd - F_c <= tau_e + tau_cog <= tau_s g_fwd + F_c (tau_s >= 0; mirrored for < 0):
    the stall band of a gear with efficiencies eta_f, eta_b (no chatter at zero speed)."""
    base = p.jm * w_m + drive
    fc = p.hs * p.coulomb
    tg_pos = tau_s * (p.g_fwd if tau_s >= 0.0 else p.g_bwd)
    num = base - p.hs * tg_pos - fc
    if num > 0.0:
        return num * p.inv_jm_visc, tg_pos
    tg_neg = tau_s * (p.g_fwd if tau_s <= 0.0 else p.g_bwd)
    num = base - p.hs * tg_neg + fc
    if num < 0.0:
        return num * p.inv_jm_visc, tg_neg
    return 0.0, tg_pos


@njit(cache=True, error_model="numpy")
def plant_step(p, s, sn, cs):
    """Advance the plant one PWM period h with the duties/pwm_on stored in ``s``; ``sn, cs`` =
    sin, cos of the electrical angle p theta_m at the start of the period. No allocation."""
    h = p.h
    if s.pwm_on > 0.5:
        # back-EMF at the predicted mid-period rotor speed, so the converted power
        # 3/2 w_e (lambda i_q + ...) matches the rotor's work tau_e (w_old + w_new)/2 to O(h^2)
        tau_e0 = 1.5 * p.pp * (p.flux * s.i_q + (p.ld - p.lq) * s.i_d * s.i_q)
        we = p.pp * (s.omega_m + 0.5 * h * (tau_e0 + s.tau_rest) * p.inv_jm)
        # averaged inverter: the phase voltages are constant over the period while the rotor turns
        # by D = w_e h, so the mean dq voltage is the Park transform at the mid-period angle scaled
        # by sinc(D/2) (rotation by D/2 and sinc by their Taylor series; |D| <= ~0.6 rad)
        m = (s.duty_a + s.duty_b + s.duty_c) * _THIRD
        v_alpha = (s.duty_a - m) * p.vbus
        v_beta = (s.duty_b - s.duty_c) * p.vbus * _INV_SQRT3
        dl = 0.5 * h * we
        d2 = dl * dl
        g = 1.0 - d2 * _SIXTH
        sd = dl * g
        cd = 1.0 - 0.5 * d2 + d2 * d2 * _C4
        sm = sn * cd + cs * sd
        cm = cs * cd - sn * sd
        vd = g * (cm * v_alpha + sm * v_beta)
        vq = g * (cm * v_beta - sm * v_alpha)
        r = p.r0 * (1.0 + p.tempco * (s.temp - 25.0))
        # trapezoidal (Crank-Nicolson) in the mean currents m = (i + i+)/2: the magnetic energy
        # changes by exactly 3/2 L m (i+ - i), so P_el = P_cu + dW_mag/dt + tau_e(m) w_e / p
        # closes without numerical loss
        hr = 0.5 * r
        a11 = p.ld_over_h + hr
        a12 = -0.5 * we * p.lq
        a21 = 0.5 * we * p.ld
        a22 = p.lq_over_h + hr
        b1 = (p.ld_over_h - hr) * s.i_d + 0.5 * we * p.lq * s.i_q + vd
        b2 = (p.lq_over_h - hr) * s.i_q - 0.5 * we * p.ld * s.i_d + vq - we * p.flux
        inv_det = 1.0 / (a11 * a22 - a12 * a21)
        i_d = (b1 * a22 - a12 * b2) * inv_det
        i_q = (a11 * b2 - a21 * b1) * inv_det
        md = 0.5 * (s.i_d + i_d)
        mq = 0.5 * (s.i_q + i_q)
        s.i_d = i_d
        s.i_q = i_q
        s.e_elec += h * 1.5 * (vd * md + vq * mq)
        p_cu = 1.5 * r * (md * md + mq * mq)
        s.e_copper += h * p_cu
        tau_e = 1.5 * p.pp * (p.flux * mq + (p.ld - p.lq) * md * mq)
    else:
        if s.i_d != 0.0 or s.i_q != 0.0:
            w = 0.75 * (p.ld * s.i_d * s.i_d + p.lq * s.i_q * s.i_q)
            s.e_offswitch += w
            s.e_elec -= w
        s.i_d = 0.0
        s.i_q = 0.0
        p_cu = 0.0
        tau_e = 0.0
    s.tau_e = tau_e
    tau_cog = 0.0
    if p.cog_a != 0.0:
        tau_cog = -p.cog_a * np.sin(p.cog_p * s.theta_m)

    # mechanics, n_mech substeps of symplectic Euler (damping and friction implicit); the state
    # lives in locals over the substeps (stored once at the end: same operations, same order)
    n = np.int64(p.n_mech)
    hs = p.hs
    theta_m, omega_m, theta_o, omega_o = s.theta_m, s.omega_m, s.theta_o, s.omega_o
    e_friction, e_gear, e_damping, e_load = s.e_friction, s.e_gear, s.e_damping, s.e_load
    tau_rest, tau_s = s.tau_rest, s.tau_s
    tau_ext0 = s.tau_ext
    for _ in range(n):
        d = deflection(p, theta_m, theta_o)
        tau_ext = tau_ext0
        if p.gravity != 0.0:
            tau_ext -= p.gravity * np.sin(theta_o)
        wm_n = omega_m * p.inv_ratio
        fo = hs * p.out_coulomb
        c_phys = 0.0  # physical damping acts only while the flanks touch
        if d != 0.0:
            # symplectic: spring at the start of the substep (explicit), damping implicit
            tk = spring_torque(p, d)
            c_phys = p.damping
            w_o = _output_velocity(p, omega_o, hs * (tk + c_phys * wm_n + tau_ext), fo, c_phys)
            tau_s = tk + c_phys * (wm_n - w_o)
            if tau_s * d < 0.0:  # the damper would pull the flanks together: they separate
                c_phys = 0.0
                w_o = _output_velocity(p, omega_o, hs * (tk + tau_ext), fo, 0.0)
                tau_s = tk
        else:
            w_o = _output_velocity(p, omega_o, hs * tau_ext, fo, 0.0)
            tau_s = 0.0
        w_m, tau_g = _rotor_velocity(p, omega_m, hs * (tau_e + tau_cog), tau_s)
        # Coulomb work at the substep's mean velocity (the kinetic energy changes by impulse x
        # mean velocity exactly); a body brought to rest within the substep dissipates what the
        # friction impulse took, at its mean velocity w_old / 2
        e_friction += hs * p.visc * w_m * w_m
        e_friction += _coulomb_work(p.jm, omega_m, w_m, hs * p.coulomb)
        e_friction += _coulomb_work(p.jo, omega_o, w_o, fo)
        # dissipative forces book their impulse at the substep's mean velocities (the kinetic
        # energy changes by impulse x mean velocity exactly; the spring and the load are
        # covered by the modified energy)
        wm_mid = 0.5 * (omega_m + w_m)
        e_gear += hs * (tau_g - tau_s * p.inv_ratio) * wm_mid
        if c_phys != 0.0:
            dd_mid = wm_mid * p.inv_ratio - 0.5 * (omega_o + w_o)
            e_damping += hs * c_phys * (wm_n - w_o) * dd_mid
        e_load += -hs * tau_ext * w_o
        tau_rest = p.jm * (w_m - omega_m) * p.inv_hs - tau_e
        omega_m = w_m
        omega_o = w_o
        theta_m += hs * w_m
        theta_o += hs * w_o
    s.theta_m, s.omega_m, s.theta_o, s.omega_o = theta_m, omega_m, theta_o, omega_o
    s.e_friction, s.e_gear, s.e_damping, s.e_load = e_friction, e_gear, e_damping, e_load
    s.tau_rest, s.tau_s = tau_rest, tau_s

    # thermal (exact step of the first-order model at constant loss)
    s.temp = p.t_amb + (s.temp - p.t_amb) * p.th_k + p_cu * p.rth * (1.0 - p.th_k)
    s.time += h
    s.step += 1.0
