"""Stored energy of the joint plant [J] (ground truth, for energy-balance tests).

E = 1/2 J_m w_m^2 + 1/2 J_o w_o^2                       kinetic
  + U_K(d)                                              spring (piecewise: 1/2 k1 d^2, then
                                                        + t1 (a - d1) + 1/2 k2 (a - d1)^2, ...)
  + 3/4 (L_d i_d^2 + L_q i_q^2)                         magnetic (amplitude-invariant dq)
  + A/P (1 - cos(P theta_m))                            cogging potential
  + h_s/2 sum(F . v)                                     the symplectic integrator's correction
                                                        (spring, load and cogging forces)

The mechanics are symplectic Euler in substeps h_s (velocities from the spring at the start of
the substep, then positions from the new velocities): it conserves the modified energy
KE + U + h_s/2 v.F(x) exactly for a linear spring (the plain KE + U oscillates by ~ w h_s / 2
of itself while the reducer is loaded). Booking that modified energy as the stored energy
closes the balance through backlash impacts and reducer oscillations to rounding.
"""

from __future__ import annotations

import math

from cerebellum_rt.actuators.joint.plant import PARAM_DTYPE, STATE_DTYPE


def spring_energy(p, d: float) -> float:
    """U_K(d) [J] of the piecewise-linear stiffness (d beyond the backlash) [rad]."""
    a = abs(d)
    d1, d2 = p["delta1"], p["delta2"]
    if a <= d1:
        return 0.5 * p["k1"] * a * a
    e1 = 0.5 * p["k1"] * d1 * d1
    if a <= d2:
        x = a - d1
        return e1 + p["t1"] * x + 0.5 * p["k2"] * x * x
    x12 = d2 - d1
    e2 = e1 + p["t1"] * x12 + 0.5 * p["k2"] * x12 * x12
    x = a - d2
    return e2 + p["t2"] * x + 0.5 * p["k3"] * x * x


def stored_energy(p, s) -> float:
    """Kinetic + spring + magnetic + cogging energy of plant state ``s`` with parameters ``p`` [J]."""
    assert p.dtype == PARAM_DTYPE and s.dtype == STATE_DTYPE
    delta = s["theta_m"] / p["ratio"] - s["theta_o"]
    b = p["bl_half"]
    d = delta - b if delta > b else (delta + b if delta < -b else 0.0)
    kin = 0.5 * p["jm"] * s["omega_m"] ** 2 + 0.5 * p["jo"] * s["omega_o"] ** 2
    mag = 0.75 * (p["ld"] * s["i_d"] ** 2 + p["lq"] * s["i_q"] ** 2)
    cog = p["cog_a"] / p["cog_p"] * (1.0 - math.cos(p["cog_p"] * s["theta_m"]))
    # symplectic Euler's modified energy: + h_s/2 sum(F . v) over the forces applied at the
    # start of a substep and booked over its displacement (spring, load, cogging)
    tau_s = spring_torque_py(p, d)
    tau_load = s["tau_ext"] - p["gravity"] * math.sin(s["theta_o"])
    tau_cog = -p["cog_a"] * math.sin(p["cog_p"] * s["theta_m"])
    shadow = 0.5 * p["hs"] * (
        -tau_s * s["omega_m"] / p["ratio"] + (tau_s + tau_load) * s["omega_o"] + tau_cog * s["omega_m"]
    )
    return float(kin + spring_energy(p, d) + mag + cog + shadow)


def spring_torque_py(p, d: float) -> float:
    """K(d) [N m] of the piecewise-linear stiffness (as ``plant.spring_torque``)."""
    a = abs(d)
    if a <= p["delta1"]:
        t = p["k1"] * a
    elif a <= p["delta2"]:
        t = p["t1"] + p["k2"] * (a - p["delta1"])
    else:
        t = p["t2"] + p["k3"] * (a - p["delta2"])
    return t if d >= 0.0 else -t
