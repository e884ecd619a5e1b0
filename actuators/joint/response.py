"""Step responses of a joint module in lockstep, their metrics, and the bounds the gains imply.

- ``current_step``: the FOC law + plant alone (rotor free, d-axis step so no torque is made);
  continuous design i/i* = 1/(1 + s/w_c), bounds from the discrete model with the one-period
  computation delay (``_current_model``).
- ``velocity_step`` (CSV) and ``position_step`` (CSP target step, no feed-forward) through the
  whole ``JointModule``.

Metrics (``step_metrics``): rise time 10-90 % [s], overshoot [% of the step], 2 % settling time
[s], steady-state error (mean of the last 10 %) [unit of the signal], peak |i_q| [A], peak
|torque command| [N m].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cerebellum_rt.actuators.joint.foc import FocInput, FocOutput, FocState, foc_step
from cerebellum_rt.actuators.joint.gains import (
    current_bandwidth_hz,
    effective_inertia,
    foc_config,
    loop_bandwidths_hz,
    plant_params,
)
from cerebellum_rt.actuators.joint.module import MODE_CSP, MODE_CSV, JointModule
from cerebellum_rt.actuators.joint.plant import (
    RING,
    STATE_DTYPE,
    elec_sin_cos,
    plant_step,
    record_ring,
    sample_currents,
    sample_motor_encoder,
)
from cerebellum_rt.actuators.joint.preset import JointPreset
from cerebellum_rt.codegen import host_law
from cerebellum_rt.rtcore.jit import njit

_foc = host_law(foc_step)


@dataclass(frozen=True)
class StepResult:
    kind: str  # "current" | "velocity" | "position"
    t_s: np.ndarray
    reference: float  # step size (from 0) in the signal's unit
    signal: np.ndarray  # measured response (relative to its start)
    iq_a: np.ndarray
    torque_cmd_nm: np.ndarray
    unit: str


def step_metrics(
    t: np.ndarray,
    y: np.ndarray,
    ref: float,
    iq: np.ndarray,
    tau: np.ndarray,
    band: float = 0.02,
    smooth: int = 1,
) -> dict[str, float]:
    """Rise time (10-90 %), overshoot %, settling time into +-band of the step, steady-state
    error, peaks. ``smooth`` > 1: the response is first averaged over that many samples
    (causal moving average), so sensor noise does not count as overshoot or un-settling."""
    s = np.sign(ref) if ref != 0 else 1.0
    yn = y * s
    if smooth > 1:
        yn = np.convolve(yn, np.full(smooth, 1.0 / smooth))[: yn.size]
    r = abs(ref)
    i10 = np.argmax(yn >= 0.1 * r)
    i90 = np.argmax(yn >= 0.9 * r)
    rise = float(t[i90] - t[i10]) if yn.max() >= 0.9 * r else math.inf
    over = max(0.0, float((yn.max() - r) / r * 100.0))
    outside = np.nonzero(np.abs(yn - r) > band * r)[0]
    settle = (
        float(t[outside[-1] + 1])
        if outside.size and outside[-1] + 1 < t.size
        else (0.0 if not outside.size else math.inf)
    )
    tail = max(1, t.size // 10)
    sse = float(r - np.mean(yn[-tail:]))
    return {
        "rise_time_s": rise,
        "overshoot_pct": over,
        "settling_time_s": settle,
        "steady_state_error": sse,
        "peak_current_a": float(np.max(np.abs(iq))) if iq.size else 0.0,
        "peak_torque_nm": float(np.max(np.abs(tau))) if tau.size else 0.0,
    }


@njit(cache=True)
def _current_run(n, pa, sa, ring, rng, fca, fsa, fia, foa, out):
    p = pa[0]
    s = sa[0]
    fi = fia[0]
    fo = foa[0]
    for k in range(n):
        record_ring(p, s, ring)
        sn, cs = elec_sin_cos(p, s)
        ia, ib = sample_currents(p, s, rng, sn, cs)
        fi.ia = ia
        fi.ib = ib
        fi.enc_count = sample_motor_encoder(p, s, ring, rng)
        fi.vbus = p.vbus
        _foc(fca[0], fsa[0], fi, fo)
        plant_step(p, s, sn, cs)
        s.duty_a = fo.duty_a
        s.duty_b = fo.duty_b
        s.duty_c = fo.duty_c
        s.pwm_on = 1.0 if fo.pwm_on else 0.0
        out[0, k] = s.i_d
        out[1, k] = s.i_q


def current_step(preset: JointPreset, step_a: float, current_loop_hz: float = 20_000, duration_s: float = 0.005,
                 seed: int = 0) -> StepResult:  # fmt: skip
    """d-axis current step of ``step_a`` [A] (true current recorded; no torque is produced)."""
    from cerebellum_rt.actuators.joint.module import _seed_state

    pa = plant_params(preset, current_loop_hz)
    sa = np.zeros(1, STATE_DTYPE)
    sa[0]["temp"] = preset.thermal.ambient_c
    fca = np.zeros(1, foc_config(preset, current_loop_hz).dtype)
    fca[0] = foc_config(preset, current_loop_hz)
    fsa, fia, foa = FocState.array(1), FocInput.array(1), FocOutput.array(1)
    fia[0]["enable"] = True
    fia[0]["id_ref"] = step_a
    n = round(duration_s * current_loop_hz)
    out = np.zeros((2, n))
    ring = np.zeros((3, RING))
    _current_run(n, pa, sa, ring, _seed_state(seed), fca, fsa, fia, foa, out)
    t = np.arange(1, n + 1) / current_loop_hz
    return StepResult("current", t, step_a, out[0], out[1], np.zeros(0), "A")


def _module_run(
    jm: JointModule, mode: int, target: float, key: str, duration_s: float
) -> tuple[np.ndarray, ...]:
    n = round(duration_s * 1000 * 10)  # record at 10 kHz
    # CSP steps from the measured position; a CSV step starts from rest, so its baseline is 0
    # (one noisy velocity sample as baseline would bias the whole response by its noise)
    start = getattr(jm.read(), key) if mode == MODE_CSP else 0.0
    t, y, iq, tau = (np.zeros(n) for _ in range(4))
    for k in range(n):
        if mode == MODE_CSP:
            jm.command(MODE_CSP, start + target, 0.0, 0.0, True)
        else:
            jm.command(MODE_CSV, 0.0, target, 0.0, True)
        jm.advance(1e-4)
        m = jm.read()
        t[k] = (k + 1) * 1e-4
        y[k] = getattr(m, key) - start
        iq[k] = m.iq_a
        tau[k] = m.torque_cmd_nm
    return t, y, iq, tau


def velocity_step(
    preset: JointPreset, step_rad_s: float, duration_s: float = 0.1, seed: int = 0
) -> StepResult:
    """CSV step from rest to ``step_rad_s`` (output velocity estimate recorded)."""
    jm = _settled(preset, seed)
    t, y, iq, tau = _module_run(jm, MODE_CSV, step_rad_s, "velocity_rad_s", duration_s)
    return StepResult("velocity", t, step_rad_s, y, iq, tau, "rad/s")


def position_step(preset: JointPreset, step_rad: float, duration_s: float = 0.3, seed: int = 0) -> StepResult:
    """CSP target step of ``step_rad`` (output encoder recorded)."""
    jm = _settled(preset, seed)
    t, y, iq, tau = _module_run(jm, MODE_CSP, step_rad, "position_rad", duration_s)
    return StepResult("position", t, step_rad, y, iq, tau, "rad")


def _settled(preset: JointPreset, seed: int) -> JointModule:
    lo, hi = preset.position_limits_rad
    q0 = 0.0
    if lo >= 0.0:
        q0 = lo + 0.2 * (hi - lo)
    elif hi <= 0.0:
        q0 = hi - 0.2 * (hi - lo)
    jm = JointModule(preset, seed=seed, initial_position_rad=q0)
    jm.command(MODE_CSP, q0, 0.0, 0.0, True)
    for _ in range(100):
        jm.advance(1e-3)
    return jm


def _current_model(preset: JointPreset, current_loop_hz: float) -> dict[str, float]:
    """The current loop's ideal discrete model: i[k+1] = a i[k] + b v[k-1] (exact RL step, one
    period of computation delay), v = k_p e + I, I += k_i dt e; a d-axis unit step."""
    m = preset.motor
    h = 1.0 / current_loop_hz
    wc = 2 * math.pi * current_bandwidth_hz(preset, current_loop_hz)
    kp, ki = m.ld_h * wc, m.phase_resistance_ohm * wc
    a = math.exp(-m.phase_resistance_ohm * h / m.ld_h)
    b = (1 - a) / m.phase_resistance_ohm
    n = round(0.01 * current_loop_hz)
    i, v_prev, integ = 0.0, 0.0, 0.0
    y = np.empty(n)
    for k in range(n):
        e = 1.0 - i
        integ += ki * h * e
        v = kp * e + integ
        i = a * i + b * v_prev
        v_prev = v
        y[k] = i
    return step_metrics(np.arange(1, n + 1) * h, y, 1.0, np.zeros(0), np.zeros(0))


def _velocity_model(preset: JointPreset) -> dict[str, float]:
    """Rigid velocity loop: J_eff w' = k_v e + k_i int e -> G(s) = w_v (s + w_v/4) / (s + w_v/2)^2."""
    wv = 2 * math.pi * loop_bandwidths_hz(preset)[0]
    a = wv / 2
    t = np.linspace(0.0, 20.0 / a, 20001)[1:]
    # G(s)/s = c0/s + c1/(s+a) + c2/(s+a)^2: c0 = G(0) = 1, c1 = -c0, c2 = w_v (a - w_v/4) / a = a
    c0 = (wv * wv / 4) / (a * a)
    c1 = -c0
    c2 = wv * (a - wv / 4) / a
    y = c0 + c1 * np.exp(-a * t) + c2 * t * np.exp(-a * t)
    return step_metrics(t, y, 1.0, np.zeros(0), np.zeros(0))


def ideal_bounds(preset: JointPreset, current_loop_hz: float = 20_000) -> dict[str, float]:
    """Figures the gain design implies (models above; rigid, unsaturated, noise-free):
    current loop from its discrete model; velocity loop from G(s) = w_v (s + w_v/4)/(s + w_v/2)^2;
    position loop (inner loop much faster) first order at w_p: rise 2.2/w_p, 2 % settling 3.9/w_p.
    """
    wp = 2 * math.pi * loop_bandwidths_hz(preset)[1]
    cm = _current_model(preset, current_loop_hz)
    vm = _velocity_model(preset)
    return {
        "current_rise_time_s": cm["rise_time_s"],
        "current_overshoot_pct": cm["overshoot_pct"],
        "velocity_rise_time_s": vm["rise_time_s"],
        "velocity_overshoot_pct": vm["overshoot_pct"],
        "velocity_settling_time_s": vm["settling_time_s"],
        "position_rise_time_s": 2.2 / wp,
        "position_settling_time_s": 3.9 / wp,
        "effective_inertia_kg_m2": effective_inertia(preset),
    }
