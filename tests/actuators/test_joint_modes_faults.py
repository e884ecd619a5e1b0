"""JointModule behaviour in lockstep: torque mode closed on the torque sensor, impedance mode,
limits (velocity, current/torque, position, thermal derating) and the latched faults."""

from __future__ import annotations

import dataclasses as dc
import math

import numpy as np
import pytest

from cerebellum_rt.actuators.joint import (
    FAULT_OVERSPEED,
    FAULT_OVERTEMPERATURE,
    FAULT_POSITION_LIMIT,
    MODE_CSP,
    MODE_CST,
    MODE_CSV,
    MODE_IMPEDANCE,
    JointModule,
    load_preset,
)
from cerebellum_rt.rtcore.errors import ConfigError


def _run(jm: JointModule, mode: int, q: float, v: float, tau: float, ms: int, enable: bool = True) -> None:
    for _ in range(ms):
        jm.command(mode, q, v, tau, enable)
        jm.advance(0.001)


def _shaft_mean(preset, gain: float, tau: float) -> float:
    p = dc.replace(preset, firmware=dc.replace(preset.firmware, torque_feedback_gain=gain))
    jm = JointModule(p, seed=2)
    _run(jm, MODE_CST, 0.0, 0.0, tau, 30)
    acc = 0.0
    for _ in range(20):
        _run(jm, MODE_CST, 0.0, 0.0, tau, 1)
        acc += jm.truth.shaft_torque_nm / 20
    return acc


def test_torque_mode_is_closed_on_the_torque_sensor():
    """CST on a load inertia J_L: the rotor's share of the commanded torque is 1/(1 + J_m N^2 /
    ((1 + k_t) J_L)); closing on the sensor (k_t > 0) brings the shaft torque closer to tau*."""
    p = load_preset("arm").with_load(inertia_kg_m2=0.05)
    tau = 5.0
    open_loop = _shaft_mean(p, 0.0, tau)
    closed = _shaft_mean(p, 1.0, tau)
    jr = p.motor.rotor_inertia_kg_m2 * p.reducer.ratio**2
    expect_closed = tau / (1 + jr / (2.0 * 0.05))
    assert abs(closed - tau) < abs(open_loop - tau)
    assert abs(closed - expect_closed) < 0.05 * tau


def test_impedance_mode_static_stiffness():
    p = load_preset("knee")
    jm = JointModule(p, seed=3, initial_position_rad=1.0)
    k, d, ext = 200.0, 5.0, -10.0
    jm.set_impedance(k, d)
    jm.set_external_torque(ext)
    _run(jm, MODE_IMPEDANCE, 1.0, 0.0, 0.0, 800)
    defl = jm.truth.output_angle_rad - 1.0
    # equilibrium k defl = ext up to the friction: Coulomb (motor, bearing) and the gear's
    # static efficiency band |ext| (1 - eta_b eta_f)
    red = p.reducer
    friction = p.motor.coulomb_friction_nm * red.ratio + red.output_friction_nm
    friction += abs(ext) * (1 - red.efficiency_backward * red.efficiency_forward)
    assert abs(k * defl - ext) <= friction
    assert jm.read().fault == 0


def test_velocity_and_torque_limits_hold():
    p = load_preset("arm")
    jm = JointModule(p, seed=4, initial_position_rad=-2.0)
    _run(jm, MODE_CSV, 0.0, 3.0 * p.max_velocity_rad_s, 0.0, 150)
    m = jm.read()
    assert m.fault == 0
    assert abs(m.velocity_rad_s) <= 1.05 * p.max_velocity_rad_s
    assert abs(m.torque_cmd_nm) <= p.peak_torque_nm * (1 + 1e-6)
    assert abs(m.iq_a) <= 1.05 * p.peak_current_a


def test_position_target_is_clamped_to_the_limits():
    p = load_preset("knee")
    jm = JointModule(p, seed=5, initial_position_rad=2.7)
    for k in range(600):
        jm.command(MODE_CSP, 2.7 + 0.5 * k / 600, 0.0, 0.0, True)
        jm.advance(0.001)
    m = jm.read()
    assert m.fault == 0
    assert m.position_rad <= p.limits.position_max_rad + 2e-3


def test_thermal_derating_and_overtemperature_fault():
    base = load_preset("knee")
    lim = base.limits
    hot = dc.replace(base, thermal=dc.replace(base.thermal, ambient_c=lim.derate_start_c + 5.0))
    jm = JointModule(hot, seed=0)
    _run(jm, MODE_CSP, 0.0, 0.0, 0.0, 5)
    frac = (lim.temperature_max_c - hot.thermal.ambient_c) / (lim.temperature_max_c - lim.derate_start_c)
    assert jm.read().current_limit_a == pytest.approx(frac * base.peak_current_a, rel=0.01)
    too_hot = dc.replace(base, thermal=dc.replace(base.thermal, ambient_c=lim.temperature_max_c + 1.0))
    jm = JointModule(too_hot, seed=0)
    _run(jm, MODE_CSP, 0.0, 0.0, 0.0, 5)
    assert jm.read().fault & FAULT_OVERTEMPERATURE
    assert not jm.truth.power_stage_on


def test_winding_heats_under_current():
    p = load_preset("wrist")
    jm = JointModule(p, seed=0, initial_position_rad=0.0)
    jm.set_external_torque(-0.8 * p.peak_torque_nm)
    _run(jm, MODE_CSP, 0.0, 0.0, 0.0, 2000)
    t = jm.truth
    # first-order model at the mean copper loss P (from the energy account, 2 s):
    # dT = P R_th (1 - exp(-t / tau_th))
    p_cu = t.e_copper_j / 2.0
    tau = p.thermal.r_th_k_per_w * p.thermal.c_th_j_per_k
    rise = t.winding_temp_c - p.thermal.ambient_c
    assert p_cu > 0.1
    assert rise == pytest.approx(p_cu * p.thermal.r_th_k_per_w * (1 - math.exp(-2.0 / tau)), rel=0.1)
    assert jm.read().winding_temp_c == pytest.approx(t.winding_temp_c, abs=0.051)


def test_overspeed_fault_latches_and_resets():
    p = load_preset("wrist")
    jm = JointModule(p, seed=6, initial_position_rad=0.0)
    jm.set_external_torque(0.5 * p.peak_torque_nm)  # back-drives the disabled joint
    _run(jm, MODE_CSP, 0.0, 0.0, 0.0, 400, enable=False)
    m = jm.read()
    assert m.fault & FAULT_OVERSPEED and m.fault & FAULT_POSITION_LIMIT
    jm.set_external_torque(0.0)
    _run(jm, MODE_CSP, 0.0, 0.0, 0.0, 5, enable=False)
    assert jm.read().fault != 0  # latched
    jm2 = JointModule(p, seed=6, initial_position_rad=0.0)
    jm2.set_external_torque(0.5 * p.peak_torque_nm)
    _run(jm2, MODE_CSP, 0.0, 0.0, 0.0, 20, enable=False)
    jm2.set_external_torque(0.0)
    jm2.reset_fault()
    _run(jm2, MODE_CSP, 0.0, 0.0, 0.0, 2, enable=False)
    assert jm2.read().fault == 0  # cause gone (within limits, slow): reset clears


@pytest.mark.parametrize("hz", [10_000, 20_000, 40_000])
def test_stable_at_every_current_loop_rate(hz: int):
    p = load_preset("knee")
    jm = JointModule(p, current_loop_hz=hz, seed=7, initial_position_rad=0.5)
    rng = np.random.default_rng(hz)
    for _ in range(8):
        q = 0.5 + rng.uniform(-0.3, 0.3)
        _run(jm, MODE_CSP, q, 0.0, 0.0, 120)
        assert abs(jm.truth.output_angle_rad - q) < 5e-3
        assert abs(jm.truth.iq_a) < 0.3 * p.peak_current_a
    assert jm.read().fault == 0


def test_same_seed_same_run_other_seed_other_noise():
    p = load_preset("hip")

    def trace(seed: int) -> list[float]:
        jm = JointModule(p, seed=seed)
        out = []
        for k in range(50):
            jm.command(MODE_CSP, 0.001 * k, 0.0, 0.0, True)
            jm.advance(0.001)
            out.append(jm.read().torque_sensor_nm)
        return out

    assert trace(11) == trace(11)
    assert trace(11) != trace(12)


def test_bad_inputs_are_refused_with_names_and_limits():
    p = load_preset("knee")
    with pytest.raises(ConfigError, match="current_loop_hz"):
        JointModule(p, current_loop_hz=50_000)
    with pytest.raises(ConfigError, match="multiple"):
        JointModule(p, current_loop_hz=15_000)
    jm = JointModule(p)
    with pytest.raises(ConfigError, match="mode = 6"):
        jm.command(6, 0.0, 0.0, 0.0, True)
    with pytest.raises(ConfigError, match="finite"):
        jm.command(MODE_CSP, math.nan, 0.0, 0.0, True)
    with pytest.raises(ConfigError, match="period_s"):
        jm.advance(0.00103)
    with pytest.raises(ConfigError, match="stiffness"):
        jm.set_impedance(-1.0, 0.0)


@pytest.mark.parametrize("name", ["knee", "arm", "arm_hd", "wrist"])
def test_full_speed_reversals_stay_within_the_trip(name: str):
    """CSV +-w_max square wave: the current loop works at its voltage limit (back-EMF ~ 80-90 % of
    V_bus / sqrt(3)); the true current vector stays below 1.4 I_pk, under the 1.5 I_pk trip."""
    p = load_preset(name)
    lo, hi = p.position_limits_rad
    jm = JointModule(p, seed=1, initial_position_rad=0.5 * (lo + hi))
    worst = 0.0
    for seg in range(6):
        v = (1 if seg % 2 else -1) * p.max_velocity_rad_s
        for _ in range(400):
            jm.command(MODE_CSV, 0.0, v, 0.0, True)
            jm.advance(0.0001)
            t = jm.truth
            worst = max(worst, math.hypot(t.iq_a, t.id_a))
    assert jm.read().fault == 0
    assert worst <= 1.4 * p.peak_current_a


@pytest.mark.parametrize("q0", [0.3, 1.234])
def test_incremental_motor_encoder_aligns_then_tracks(q0: float):
    """An incremental motor encoder counts from an unknown zero: the first enable aligns the
    rotor (d-axis current at theta_e = 0 for 0.2 s) and finds the commutation offset; then the
    joint tracks like one with an absolute encoder."""
    base = load_preset("knee")
    p = dc.replace(base, encoder_motor=dc.replace(base.encoder_motor, incremental=1))
    jm = JointModule(p, seed=3, initial_position_rad=q0)
    rec = jm.law_records
    _run(jm, MODE_CSP, q0, 0.0, 0.0, 100)
    assert rec["foc_output"][0]["aligning"] and jm.read().torque_cmd_nm == 0.0
    _run(jm, MODE_CSP, q0, 0.0, 0.0, 150)
    assert rec["foc_state"][0]["aligned"] and not rec["foc_output"][0]["aligning"]
    t = jm.truth
    # the rotor turned at most half an electrical period while aligning
    assert (
        abs(t.output_angle_rad - q0) <= math.pi / (p.motor.pole_pairs * p.gear_ratio) + p.reducer.backlash_rad
    )
    # the firmware's electrical angle now matches the rotor's (within the encoder resolution x p)
    true_e = (p.motor.pole_pairs * t.motor_angle_rad) % (2 * math.pi)
    diff = (float(rec["foc_output"][0]["theta_e"]) - true_e + math.pi) % (2 * math.pi) - math.pi
    assert abs(diff) < 0.05
    q1 = jm.read().position_rad
    err = []
    for k in range(2000):
        tt = k * 0.001
        q = q1 + 0.3 * (1.0 - math.cos(math.pi * tt))
        jm.command(MODE_CSP, q, 0.3 * math.pi * math.sin(math.pi * tt), 0.0, True)
        jm.advance(0.001)
        err.append(q - jm.read().position_rad)
    assert jm.read().fault == 0
    assert float(np.sqrt(np.mean(np.square(err)))) < 1e-3
