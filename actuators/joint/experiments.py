"""Datasheet experiments on an emulated joint module, as a test bench runs them.

Each experiment drives a :class:`JointModule` through its firmware (the board's CiA 402 modes)
and measures like a bench: load cell = the shaft torque, a phase-current probe = the plant
current, a thermocouple = the winding temperature, an angle gauge across the reducer = the
deflection theta_m / N - theta_o. Returns the figure in the unit of its name.

- ``peak_torque_nm`` (ramped stall): output bolted to the frame (``lock_output``), CST command
  ramped 0 -> T_pk over 0.3 s and held 0.1 s; mean shaft torque over the hold.
- ``max_velocity_rad_s``: free output (position limits opened, no load), CSV at the velocity
  limit for 0.25 s; mean output velocity over the last 0.1 s (can the drive reach it at V_bus).
- ``gear_efficiency_forward``: CSV at 30 % of the velocity limit against an opposing load of
  40 % of peak; eta = P_out / (P_out + P_gear) with P_out = mean(tau_s) mean(omega_m) / N and
  P_gear the gear-loss account's rate.
- ``gear_efficiency_backward``: the load (40 % of peak) back-drives the output at 30 % of the
  velocity limit held by CSV; eta = (P_in - P_gear) / P_in, P_in = |mean(tau_s) mean(omega_m)| / N.
- ``torque_sensor_noise_nm`` (1 sigma per sample at the 1 kHz read rate): output locked, CSP hold
  at 20 % of peak torque; sigma of (sensor - shaft torque) from first differences (sigma =
  std(diff) / sqrt 2, insensitive to the slow bias random walk).
- ``deflection_at_t1_rad`` / ``deflection_at_t2_rad``: output locked, CST ramps to 80 % and 95 %
  of the reducer's T1 / T2; the load-deflection line through the two holds (deflection across
  reducer + sensor, lost motion included) read at T1 / T2.
- ``torque_constant_nm_per_a``: output locked, CST at 30 % of peak: tau_e / i_q (motor side,
  amplitude-invariant dq: per peak phase ampere).
- ``phase_resistance_ohm``: output locked, CST at 30 % of peak for 50 ms from ambient: the
  electrical input power over 3/2 i^2 (the locked rotor converts nothing).
- ``thermal_resistance_k_per_w`` / ``thermal_time_constant_s``: output locked, a constant 60 %
  peak torque for 3 s; a least-squares fit of dT/dt = P_cu / C - (T - T_amb) / (R C) on the
  1 ms samples of temperature and copper power.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from cerebellum_rt.actuators.joint.module import MODE_CST, MODE_CSV, JointModule
from cerebellum_rt.actuators.joint.preset import JointPreset
from cerebellum_rt.rtcore.errors import DeviceError

DT = 0.001  # one communication period [s]


def _free(p: JointPreset) -> JointPreset:
    """The preset with its position limits opened (a free output on the bench)."""
    return replace(p, limits=replace(p.limits, position_min_rad=-900.0, position_max_rad=900.0))


def _module(p: JointPreset, locked: bool, seed: int = 7) -> JointModule:
    jm = JointModule(p, seed=seed, initial_position_rad=0.5 * sum(p.position_limits_rad))
    if locked:
        jm.lock_output()
    return jm


def _check(jm: JointModule, what: str) -> None:
    f = jm.read().fault
    if f:
        raise DeviceError(f"preset '{jm.preset.name}' {what}: the module faulted (fault word {f})")


def _ramp_hold(jm: JointModule, torque: float, t_ramp: float = 0.3, t_hold: float = 0.1) -> tuple[float, float]:
    """CST ramp to ``torque`` then hold; (mean shaft torque, mean deflection) over the hold."""
    n_r, n_h = round(t_ramp / DT), round(t_hold / DT)
    ts = dfl = 0.0
    for k in range(n_r + n_h):
        jm.command(MODE_CST, 0.0, 0.0, torque * min(1.0, (k + 1) / n_r), True)
        jm.advance(DT)
        if k >= n_r:
            t = jm.truth
            ts += t.shaft_torque_nm / n_h
            dfl += (t.motor_angle_rad / jm.preset.reducer.ratio - t.output_angle_rad) / n_h
    _check(jm, "ramped torque")
    return ts, dfl


def peak_torque(p: JointPreset) -> float:
    return _ramp_hold(_module(p, True), p.peak_torque_nm)[0]


def max_velocity(p: JointPreset) -> float:
    jm = _module(_free(p.with_load(inertia_kg_m2=0.0, gravity_torque_nm=0.0)), False)
    v = p.max_velocity_rad_s
    n, n_avg = 250, 100
    acc = 0.0
    for k in range(n):
        jm.command(MODE_CSV, 0.0, v * min(1.0, (k + 1) / 20), 0.0, True)
        jm.advance(DT)
        if k >= n - n_avg:
            acc += jm.truth.output_velocity_rad_s / n_avg
    _check(jm, "velocity limit")
    return acc


def _efficiency(p: JointPreset, backward: bool) -> float:
    q = _free(p)
    jm = _module(q, False)
    v = 0.3 * p.max_velocity_rad_s
    load = 0.4 * p.peak_torque_nm
    jm.set_external_torque(load if backward else -load)  # with the motion: back-drives
    n_settle, n_avg = 150, 200
    ts = wm = 0.0
    g0 = 0.0
    for k in range(n_settle + n_avg):
        jm.command(MODE_CSV, 0.0, v, 0.0, True)
        jm.advance(DT)
        t = jm.truth
        if k == n_settle - 1:
            g0 = t.e_gear_j
        if k >= n_settle:
            ts += t.shaft_torque_nm / n_avg
            wm += t.motor_velocity_rad_s / n_avg
    _check(jm, "efficiency run")
    p_gear = (jm.truth.e_gear_j - g0) / (n_avg * DT)
    p_shaft = abs(ts * wm) / p.reducer.ratio
    if backward:
        return (p_shaft - p_gear) / p_shaft
    return p_shaft / (p_shaft + p_gear)


def efficiency_forward(p: JointPreset) -> float:
    return _efficiency(p, backward=False)


def efficiency_backward(p: JointPreset) -> float:
    return _efficiency(p, backward=True)


def torque_sensor_noise(p: JointPreset) -> float:
    jm = _module(p, True)
    q0 = jm.read().position_rad
    tau = 0.2 * p.peak_torque_nm
    for k in range(300):
        jm.command(MODE_CST, q0, 0.0, tau * min(1.0, (k + 1) / 200), True)
        jm.advance(DT)
    n = 20_000  # sampling error of the std: 1 / sqrt(2 n) = 0.5 %
    err = np.empty(n)
    for k in range(n):
        jm.command(MODE_CST, q0, 0.0, tau, True)
        jm.advance(DT)
        err[k] = jm.read().torque_sensor_nm - jm.truth.shaft_torque_nm
    _check(jm, "sensor noise hold")
    return float(np.std(np.diff(err)) / math.sqrt(2.0))


def _deflection_at(p: JointPreset, torque: float) -> float:
    """The load-deflection curve read at ``torque``: two ramped holds at 80 % and 95 % of it
    (same stiffness segment), the line through the measured (shaft torque, deflection) points
    evaluated at ``torque`` (the firmware's torque loop lands a little off its command)."""
    (ta, da), (tb, db) = (_ramp_hold(_module(p, True), f * torque) for f in (0.80, 0.95))
    return db + (torque - tb) * (db - da) / (tb - ta)


def deflection_t1(p: JointPreset) -> float:
    return _deflection_at(p, p.reducer.stiffness_t1_nm)


def deflection_t2(p: JointPreset) -> float:
    return _deflection_at(p, p.reducer.stiffness_t2_nm)


def torque_constant(p: JointPreset) -> float:
    jm = _module(p, True)
    _ramp_hold(jm, 0.3 * p.peak_torque_nm, 0.1, 0.05)
    t = jm.truth
    return t.electromagnetic_torque_nm / t.iq_a


def phase_resistance(p: JointPreset) -> float:
    jm = _module(p, True)
    tau = 0.3 * p.peak_torque_nm
    for k in range(30):
        jm.command(MODE_CST, 0.0, 0.0, tau * min(1.0, (k + 1) / 20), True)
        jm.advance(DT)
    t0 = jm.truth
    e0, temp0 = t0.e_electrical_in_j, t0.winding_temp_c
    n = 20
    i2 = 0.0
    for _ in range(n):
        jm.command(MODE_CST, 0.0, 0.0, tau, True)
        jm.advance(DT)
        t = jm.truth
        i2 += (t.iq_a**2 + t.id_a**2) / n
    _check(jm, "resistance run")
    r = (t.e_electrical_in_j - e0) / (n * DT) / (1.5 * i2)
    # referred to 25 degC with the copper tempco (the winding warmed slightly during the run)
    tmid = 0.5 * (temp0 + t.winding_temp_c)
    return r / (1.0 + p.motor.resistance_tempco_per_k * (tmid - 25.0))


def _thermal_fit(p: JointPreset) -> tuple[float, float]:
    jm = _module(p, True)
    tau = 0.6 * p.peak_torque_nm
    n = 3000
    temp = np.empty(n + 1)
    ecu = np.empty(n + 1)
    t = jm.truth
    temp[0], ecu[0] = t.winding_temp_c, t.e_copper_j
    for k in range(n):
        jm.command(MODE_CST, 0.0, 0.0, tau * min(1.0, (k + 1) / 100), True)
        jm.advance(DT)
        t = jm.truth
        temp[k + 1], ecu[k + 1] = t.winding_temp_c, t.e_copper_j
    _check(jm, "thermal run")
    # (T_{k+1} - T_k)/dt = a P_k - b (T_mid - T_amb), a = 1/C, b = 1/(R C)
    dtemp = np.diff(temp) / DT
    pw = np.diff(ecu) / DT
    rise = 0.5 * (temp[1:] + temp[:-1]) - p.thermal.ambient_c
    a, b = np.linalg.lstsq(np.column_stack([pw, -rise]), dtemp, rcond=None)[0]
    return a / b, 1.0 / b  # R_th = (1/C) / (1/(R C)), tau = R C


def thermal_resistance(p: JointPreset) -> float:
    return _thermal_fit(p)[0]


def thermal_time_constant(p: JointPreset) -> float:
    return _thermal_fit(p)[1]


EXPERIMENTS: dict[str, Callable[[JointPreset], float]] = {
    "peak_torque_nm": peak_torque,
    "max_velocity_rad_s": max_velocity,
    "gear_efficiency_forward": efficiency_forward,
    "gear_efficiency_backward": efficiency_backward,
    "torque_sensor_noise_nm": torque_sensor_noise,
    "deflection_at_t1_rad": deflection_t1,
    "deflection_at_t2_rad": deflection_t2,
    "torque_constant_nm_per_a": torque_constant,
    "phase_resistance_ohm": phase_resistance,
    "thermal_resistance_k_per_w": thermal_resistance,
    "thermal_time_constant_s": thermal_time_constant,
}
