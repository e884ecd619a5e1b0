"""Auto-tuning of a joint's impedance mode (0x6060 = -1) from the identified model.

Loop (output side; the board's impedance law of :mod:`cerebellum_rt.actuators.joint.cascade`
on the model of :mod:`cerebellum_rt.drivers.tune.autotune`)::

    plant      J dv/dt = tau(t - T_d) - b v - c sign(v)       (J, b, c, T_d: autotune.identify)
    impedance  tau = tau_ff + K (q* - q) + D (w_ff - v)       (K 0x2011:1, D 0x2011:2)

A torque ``tau_ff`` (or an external one) deflects the joint by tau / K at steady state; the
closed loop is J s^2 + (D + b) s + K: natural frequency w_n = sqrt(K / J), damping ratio
zeta = (D + b) / (2 sqrt(K J)). The open loop the margins are taken on is the impedance
controller around the plant, L(s) = (K + D s) e^(-s T_d) / (s (J s + b)).

:func:`design`: the damping D = 2 zeta sqrt(K J) - b for a requested damping ratio (default 1,
critically damped) at a requested stiffness K, or by default at the largest K within the
board's hard limits (0x2020:4 / 0x2020:5) whose loop keeps a phase margin >= ``pm`` and a gain
margin >= ``gm_db`` with the delay increased by ``delay_margin_s``. A request outside the
board's limits, or one whose margins are short, is refused with the limit named; nothing is
written to the board here. :func:`predict` gives the natural frequency, damping ratio, margins
and the simulated perturbation response (overshoot and settling relative to its steady state,
the deflection and the stiffness it shows), measured the same way as
:func:`cerebellum_rt.drivers.tune.experiment.impedance_metrics`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from cerebellum_rt.drivers.tune.autotune import DELAY_MARGIN_S, SIM_DT, JointModel, W, margins
from cerebellum_rt.rtcore.errors import ConfigError

STIFFNESS, DAMPING = "impedance_stiffness", "impedance_damping"  # 0x2011:1, 0x2011:2
ZETA_RANGE = (0.05, 5.0)
METRICS_SMOOTH = 5  # samples of moving average before the metrics: the output encoder's 14-bit steps
PERTURBATION_S = 0.3  # the perturbation's duration after its step [s]
PERTURBATION_DEFLECTION_RAD = 0.05  # the default perturbation deflects the joint this much ...
PERTURBATION_TORQUE_SHARE = 0.5  # ... with at most this share of the torque clamp 0x6072


@dataclass(frozen=True)
class ImpedanceGains:
    impedance_stiffness: float  # K [N*m/rad]
    impedance_damping: float  # D [N*m*s/rad]

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def inertia_model(m: JointModel) -> JointModel:
    """The identified model as the impedance loop sees it: inertia and delay. The relay's viscous
    and Coulomb terms are what the torque mode leaves after the firmware's friction compensation;
    they do not damp the impedance loop as a viscous term would (counted, they predicted 18 % of
    overshoot where 35 % was measured on the arm_hd at zeta 0.5; without them 33 %)."""
    return JointModel(m.inertia_kg_m2, 0.0, 0.0, m.delay_s)


def open_loop(m: JointModel, g: ImpedanceGains, w: np.ndarray) -> np.ndarray:
    s = 1j * w
    return ((g.impedance_stiffness + g.impedance_damping * s) * np.exp(-s * m.delay_s)
            / (s * (m.inertia_kg_m2 * s + m.viscous_nm_s_per_rad)))


def simulate(m: JointModel, g: ImpedanceGains, torque_nm: float, seconds: float, sample_dt: float = 1e-3,
             max_torque: float = math.inf) -> np.ndarray:
    """Deflection after a step ``torque_nm`` of the torque offset at t = 0 (q* = 0, w_ff = 0),
    sampled every ``sample_dt`` from one sample after the step; Coulomb friction sticks the joint
    while the torque on it is below ``m.coulomb_nm``; the torque is clamped to ``max_torque``."""
    n = round(seconds / SIM_DT)
    nd = round(m.delay_s / SIM_DT)
    buf = np.zeros(nd + 1)
    c = max(0.0, m.coulomb_nm)
    k, d, j, b = g.impedance_stiffness, g.impedance_damping, m.inertia_kg_m2, m.viscous_nm_s_per_rad
    q = v = 0.0
    every = max(1, round(sample_dt / SIM_DT))
    out = np.empty(n // every)
    i_out = 0
    for i in range(n):
        tau = min(max(torque_nm - k * q - d * v, -max_torque), max_torque)
        buf[i % (nd + 1)] = tau
        tau_d = buf[(i - nd) % (nd + 1)] if nd else tau
        if v == 0.0 and abs(tau_d) <= c:
            acc = 0.0  # stuck
        else:
            drive = tau_d - b * v - math.copysign(c, v if v != 0.0 else tau_d)
            acc = drive / j
        v_new = v + SIM_DT * acc
        if v != 0.0 and v_new * v < 0.0:
            v_new = 0.0  # friction stops the joint; it moves on only if the torque overcomes it
        v = v_new
        q += SIM_DT * v
        if (i + 1) % every == 0 and i_out < out.size:
            out[i_out] = q
            i_out += 1
    return out[:i_out]


def response_metrics(y: np.ndarray, dt: float, torque_nm: float) -> dict[str, float]:
    """Steady state (mean of the last 10 %), stiffness, rise, overshoot and 2 % settling relative
    to it: the measurement's definition (experiment.impedance_metrics)."""
    from cerebellum_rt.actuators.joint.response import step_metrics

    final = float(np.mean(y[-max(1, y.size // 10):]))
    m = step_metrics(np.arange(y.size) * dt, y, final, np.zeros(1), np.zeros(1), smooth=METRICS_SMOOTH)
    return {"deflection_rad": final, "stiffness_nm_per_rad": torque_nm / final if final else math.inf,
            "overshoot_pct": m["overshoot_pct"], "settling_time_s": m["settling_time_s"],
            "rise_time_s": m["rise_time_s"]}


def perturbation_torque(g: ImpedanceGains, max_torque_nm: float) -> float:
    """The default perturbation: PERTURBATION_DEFLECTION_RAD of deflection, within a share of 0x6072."""
    return min(g.impedance_stiffness * PERTURBATION_DEFLECTION_RAD, PERTURBATION_TORQUE_SHARE * max_torque_nm)


def predict(m: JointModel, g: ImpedanceGains, torque_nm: float, max_torque: float = math.inf,
            seconds: float = PERTURBATION_S) -> dict[str, float]:
    """Natural frequency, damping ratio, margins of L(s) and the perturbation response (module doc)
    of the :func:`inertia_model` of ``m``."""
    m = inertia_model(m)
    k, d, j = g.impedance_stiffness, g.impedance_damping, m.inertia_kg_m2
    if k <= 0.0:
        raise ConfigError(f"impedance prediction: stiffness {k} N*m/rad must be > 0")
    pm, gm, fc = margins(open_loop(m, g, W), W)
    y = simulate(m, g, torque_nm, seconds, max_torque=max_torque)
    return {"natural_frequency_hz": math.sqrt(k / j) / (2.0 * math.pi),
            "damping_ratio": (d + m.viscous_nm_s_per_rad) / (2.0 * math.sqrt(k * j)),
            "phase_margin_deg": pm, "gain_margin_db": gm, "crossover_hz": fc,
            "perturbation_torque_nm": torque_nm, **response_metrics(y, 1e-3, torque_nm)}


def _limit_error(name: str, key: str, value: float, hi: float, unit: str, why: str = "") -> ConfigError:
    return ConfigError(f"autotune impedance: {name} ({key}) = {value:.6g} {unit}{why} is out of the board's "
                       f"limits [0, {hi:.6g}] {unit}")


def gains_for(m: JointModel, stiffness: float, zeta: float, limits: dict[str, float]) -> ImpedanceGains:
    """K and the D that gives ``zeta`` with the plant's own viscous damping, checked against the
    board's limits (``limits``: max_stiffness, max_damping)."""
    k_hi, d_hi = limits["max_stiffness"], limits["max_damping"]
    if not math.isfinite(stiffness) or not 0.0 < stiffness <= k_hi:
        raise _limit_error(STIFFNESS, "0x2011:1", stiffness, k_hi, "N*m/rad")
    d = max(0.0, 2.0 * zeta * math.sqrt(stiffness * m.inertia_kg_m2) - m.viscous_nm_s_per_rad)
    if d > d_hi:
        raise _limit_error(DAMPING, "0x2011:2", d, d_hi, "N*m*s/rad", f" (damping ratio {zeta:g} at {stiffness:.6g} N*m/rad)")
    return ImpedanceGains(float(stiffness), float(d))


def check_target(stiffness: float | None, zeta: float, limits: dict[str, float]) -> None:
    """The request alone against the board's stiffness limit and the damping-ratio range (before
    any experiment runs); the damping it needs is checked once the model is known."""
    lo, hi = ZETA_RANGE
    if not (math.isfinite(zeta) and lo <= zeta <= hi):
        raise ConfigError(f"autotune impedance: damping ratio {zeta} is out of range [{lo}, {hi}]")
    k_hi = limits["max_stiffness"]
    if stiffness is not None and (not math.isfinite(stiffness) or not 0.0 < stiffness <= k_hi):
        raise _limit_error(STIFFNESS, "0x2011:1", stiffness, k_hi, "N*m/rad")


def design(m: JointModel, *, limits: dict[str, float], stiffness: float | None = None, zeta: float = 1.0,
           pm: float = 30.0, gm_db: float = 6.0, delay_margin_s: float = DELAY_MARGIN_S,
           max_torque: float = math.inf, torque_nm: float | None = None) -> tuple[ImpedanceGains, dict[str, float]]:
    """K and D for ``m`` (module doc), with the prediction for the identified delay."""
    check_target(stiffness, zeta, limits)
    m = inertia_model(m)
    robust = JointModel(m.inertia_kg_m2, m.viscous_nm_s_per_rad, m.coulomb_nm, m.delay_s + delay_margin_s)

    def short(g: ImpedanceGains) -> str:
        p, gmar, _ = margins(open_loop(robust, g, W), W)
        if p < pm:
            return f"phase margin {p:.1f} deg < {pm:g} deg"
        if gmar < gm_db:
            return f"gain margin {gmar:.1f} dB < {gm_db:g} dB"
        return ""

    if stiffness is not None:
        g = gains_for(m, stiffness, zeta, limits)
        why = short(g)
        if why:
            raise ConfigError(f"autotune impedance: K = {g.impedance_stiffness:.6g} N*m/rad, D = "
                              f"{g.impedance_damping:.6g} N*m*s/rad leaves a {why} (with {delay_margin_s * 1e3:g} ms "
                              f"more delay than identified): lower the stiffness or raise the damping ratio")
    else:
        g = None
        for k in np.geomspace(limits["max_stiffness"], limits["max_stiffness"] / 1000.0, 80):
            try:
                cand = gains_for(m, float(k), zeta, limits)
            except ConfigError:
                continue
            if not short(cand):
                g = cand
                break
        if g is None:
            raise ConfigError(f"autotune impedance: no stiffness in [{limits['max_stiffness'] / 1000.0:.4g}, "
                              f"{limits['max_stiffness']:.4g}] N*m/rad at damping ratio {zeta:g} keeps {pm:g} deg / "
                              f"{gm_db:g} dB margins for the identified model {m.as_dict()}")
    t = perturbation_torque(g, max_torque) if torque_nm is None else torque_nm
    return g, predict(m, g, t, max_torque=max_torque)
