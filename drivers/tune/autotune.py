"""Identification and auto-tuning of a joint's velocity and position loops.

Model (output side, the board's cascade of :mod:`cerebellum_rt.actuators.joint.cascade`)::

    plant      J dv/dt = tau(t - T_d) - b v          (J effective inertia, b viscous, T_d delay)
    velocity   tau = k_v (v* - v) + k_i integral(v* - v)
    position   v* = k_p (q* - q)                      (CSP, no velocity feed-forward)

1. :func:`identify`: from a relay capture (CST, tau = -d sign(v)), least squares of the
   integrated equation of motion v(t) - v(t0) = (1/J) integral(tau_demand) - (b/J) integral(v)
   - (c/J) integral(sign v) gives J, b and the Coulomb residual c; then the delay T_d is the one
   whose simulated velocity step (the board's present gains) best matches a measured one.
2. :func:`design`: velocity loop k_v = J w_v, k_i = k_v w_v / 4 (the gain rule of
   :mod:`cerebellum_rt.actuators.joint.gains`) with the largest w_v whose open loop keeps a phase
   margin >= ``pm_vel`` and a gain margin >= ``gm_db``; position k_p the largest whose simulated
   step overshoots at most ``overshoot_pct`` with a phase margin >= ``pm_pos``.
3. The proposal carries its predicted bandwidths (-3 dB of the closed loops), margins and
   step overshoot / settling; nothing is written to the board here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError

SIM_DT = 1e-4  # the model's integration step [s] (the boards' velocity loop period)
DELAY_MARGIN_S = 6e-4  # delay uncertainty the design keeps its margins against [s]


@dataclass(frozen=True)
class JointModel:
    inertia_kg_m2: float
    viscous_nm_s_per_rad: float
    coulomb_nm: float
    delay_s: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Gains:
    position_kp: float  # 1/s
    velocity_kp: float  # N·m·s/rad
    velocity_ki: float  # N·m/rad

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Identification


def fit_inertia(t: np.ndarray, v: np.ndarray, tau: np.ndarray) -> tuple[float, float, float]:
    """(J, b, c) from velocity and applied torque samples (see module doc)."""
    if t.size < 50:
        raise ConfigError(f"identification needs at least 50 samples, got {t.size}")
    dt = np.diff(t, prepend=t[0] - (t[1] - t[0]))
    i_tau = np.cumsum(tau * dt)
    i_v = np.cumsum(v * dt)
    i_sgn = np.cumsum(np.sign(v) * dt)
    a = np.column_stack([np.ones_like(t), i_tau, -i_v, -i_sgn])
    coef, *_ = np.linalg.lstsq(a, v, rcond=None)
    if coef[1] <= 0:
        raise ConfigError("identification: the relay data give a non-positive 1/J (no motion? raise the torque)")
    inv_j = coef[1]
    return 1.0 / inv_j, max(0.0, coef[2] / inv_j), coef[3] / inv_j


def identify_inertia(cap) -> tuple[float, float, float]:
    """J, b, c from a relay capture: torque demand of row k drives the velocity of row k+1."""
    rows = cap.run_rows()
    if len(rows) < 60:
        raise ConfigError(f"relay capture has {len(rows)} rows; it stopped early: {cap.stopped or 'too short'}")
    v = rows[1:, 3]
    tau = rows[:-1, 5]
    t = np.arange(v.size) * cap.period_s
    return fit_inertia(t, v, tau)


def fit_delay(model: JointModel, gains: Gains, cap) -> float:
    """The delay T_d whose simulated velocity step best matches the measured one (grid 0-2 ms)."""
    rows = cap.run_rows()
    pre = int(cap.meta["pre_ticks"])
    y = rows[pre + 1:, 3]
    n = y.size
    size = float(cap.meta["size"])
    best, best_err = 0.0, math.inf
    for d in np.arange(0.0, 2.0e-3 + 1e-9, 1e-4):
        m = JointModel(model.inertia_kg_m2, model.viscous_nm_s_per_rad, 0.0, float(d))
        sim = simulate(m, gains, "velocity", size, n * cap.period_s, sample_dt=cap.period_s)[:n]
        err = float(np.mean((sim - y[: sim.size]) ** 2))
        if err < best_err:
            best, best_err = float(d), err
    return best


# ---------------------------------------------------------------------------------------------
# The model: time and frequency domain


def simulate(m: JointModel, g: Gains, kind: str, size: float, seconds: float, sample_dt: float = 1e-3,
             interp_s: float = 1e-3, max_velocity: float = math.inf, max_torque: float = math.inf) -> np.ndarray:
    """Step response of the model (position: CSP step interpolated over ``interp_s`` as the board
    does; velocity: CSV step), sampled every ``sample_dt`` starting one sample after the step. The
    velocity command is clamped to ``max_velocity``, the torque and the integral to ``max_torque``
    (the board's 0x6080 / 0x6072), as the firmware does."""
    n = round(seconds / SIM_DT)
    nd = round(m.delay_s / SIM_DT)
    buf = np.zeros(nd + 1)
    q = v = integ = 0.0
    every = max(1, round(sample_dt / SIM_DT))
    out = np.empty(n // every)
    j = 0
    for i in range(n):
        t = i * SIM_DT
        if kind == "position":
            q_ref = size * min(1.0, (t + SIM_DT) / interp_s)
            v_ref = g.position_kp * (q_ref - q)
        else:
            v_ref = size
        v_ref = min(max(v_ref, -max_velocity), max_velocity)
        e = v_ref - v
        integ = min(max(integ + g.velocity_ki * SIM_DT * e, -max_torque), max_torque)
        tau = min(max(g.velocity_kp * e + integ, -max_torque), max_torque)
        buf[i % (nd + 1)] = tau
        tau_d = buf[(i - nd) % (nd + 1)] if nd else tau
        v += SIM_DT * (tau_d - m.viscous_nm_s_per_rad * v) / m.inertia_kg_m2
        q += SIM_DT * v
        if (i + 1) % every == 0 and j < out.size:
            out[j] = q if kind == "position" else v
            j += 1
    return out[:j]


def loops(m: JointModel, g: Gains, w: np.ndarray) -> dict[str, np.ndarray]:
    """Frequency responses at ``w`` [rad/s]: velocity open/closed loop, position open/closed loop."""
    s = 1j * w
    plant = np.exp(-s * m.delay_s) / (m.inertia_kg_m2 * s + m.viscous_nm_s_per_rad)
    lv = (g.velocity_kp + g.velocity_ki / s) * plant
    tv = lv / (1.0 + lv)
    lp = g.position_kp / s * tv
    tp = lp / (1.0 + lp)
    return {"L_vel": lv, "T_vel": tv, "L_pos": lp, "T_pos": tp}


def margins(loop: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """(phase margin [deg], gain margin [dB], crossover [Hz]) of an open loop sampled on ``w``."""
    mag = np.abs(loop)
    ph = np.unwrap(np.angle(loop))
    cross = np.nonzero((mag[:-1] >= 1.0) & (mag[1:] < 1.0))[0]
    if cross.size:
        i = cross[0]
        pm = 180.0 + math.degrees(ph[i])
        wc = w[i]
    else:
        pm, wc = math.inf, math.nan
    below = np.nonzero((ph[:-1] > -math.pi) & (ph[1:] <= -math.pi))[0]
    gm = -20.0 * math.log10(mag[below[0]]) if below.size else math.inf
    return pm, gm, wc / (2.0 * math.pi)


def bandwidth_hz(closed: np.ndarray, w: np.ndarray) -> float:
    """-3 dB frequency of a closed loop [Hz] (first crossing below 1/sqrt 2)."""
    idx = np.nonzero(np.abs(closed) < 1.0 / math.sqrt(2.0))[0]
    return float(w[idx[0]] / (2.0 * math.pi)) if idx.size else float(w[-1] / (2.0 * math.pi))


W = 2.0 * math.pi * np.geomspace(0.1, 2000.0, 4000)


def predict(m: JointModel, g: Gains, step_rad: float = 0.05, max_velocity: float = math.inf,
            max_torque: float = math.inf) -> dict[str, float]:
    """Bandwidths, margins and the position step's overshoot / settling of the model with ``g``
    (the step simulated with the board's velocity and torque clamps)."""
    from cerebellum_rt.actuators.joint.response import step_metrics

    fr = loops(m, g, W)
    pm_v, gm_v, _fc_v = margins(fr["L_vel"], W)
    pm_p, gm_p, _fc_p = margins(fr["L_pos"], W)
    y = simulate(m, g, "position", step_rad, 0.4, max_velocity=max_velocity, max_torque=max_torque)
    t = np.arange(y.size) * 1e-3
    met = step_metrics(t, y, step_rad, np.zeros(1), np.zeros(1))
    return {"velocity_bandwidth_hz": bandwidth_hz(fr["T_vel"], W), "velocity_phase_margin_deg": pm_v,
            "velocity_gain_margin_db": gm_v, "position_bandwidth_hz": bandwidth_hz(fr["T_pos"], W),
            "position_phase_margin_deg": pm_p, "position_gain_margin_db": gm_p,
            "overshoot_pct": met["overshoot_pct"], "settling_time_s": met["settling_time_s"],
            "rise_time_s": met["rise_time_s"]}


def design(m: JointModel, *, pm_vel: float = 50.0, gm_db: float = 8.0, pm_pos: float = 60.0,
           overshoot_pct: float = 2.0, max_velocity_hz: float = 300.0, limits: dict | None = None,
           step_rad: float = 0.05, delay_margin_s: float = DELAY_MARGIN_S) -> tuple[Gains, dict[str, float]]:
    """Gains for ``m`` (see module doc) within the board's gain limits; with their prediction.

    The margins are required of the model with its delay increased by ``delay_margin_s`` (the
    identification's grid step plus what the 1 kHz host cannot see of the board's loop), the
    prediction is given for the identified delay."""
    lim = limits or {}
    robust = JointModel(m.inertia_kg_m2, m.viscous_nm_s_per_rad, m.coulomb_nm, m.delay_s + delay_margin_s)
    clamps = {"max_velocity": lim.get("max_velocity", math.inf), "max_torque": lim.get("max_torque", math.inf)}
    kv_hi, ki_hi, kp_hi = lim.get("velocity_kp", 500.0), lim.get("velocity_ki", 1e5), lim.get("position_kp", 2000.0)
    best_v = None
    for fv in np.geomspace(5.0, max_velocity_hz, 60):
        wv = 2.0 * math.pi * fv
        kv = m.inertia_kg_m2 * wv
        ki = kv * wv / 4.0
        if kv > kv_hi or ki > ki_hi:
            break
        g = Gains(0.0, kv, ki)
        pm, gm, _ = margins(loops(robust, g, W)["L_vel"], W)
        if pm >= pm_vel and gm >= gm_db:
            best_v = (kv, ki)
    if best_v is None:
        raise ConfigError(f"auto-tune: no velocity bandwidth from 5 Hz keeps {pm_vel} deg / {gm_db} dB "
                          f"margins for the identified model {m.as_dict()}")
    kv, ki = best_v
    chosen = None
    for kp in np.geomspace(5.0, min(kp_hi, 2.0 * math.pi * 200.0), 40):
        g = Gains(float(kp), kv, ki)
        pm, _, _ = margins(loops(robust, g, W)["L_pos"], W)
        if pm < pm_pos:
            break
        if predict(robust, g, step_rad, **clamps)["overshoot_pct"] > overshoot_pct:
            break
        pred = predict(m, g, step_rad, **clamps)
        chosen = (g, pred)
    if chosen is None:
        raise ConfigError(f"auto-tune: no position gain keeps {pm_pos} deg and {overshoot_pct} % overshoot")
    return chosen
