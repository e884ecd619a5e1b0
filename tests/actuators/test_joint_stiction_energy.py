"""Stick/slip at the gear (exact zero-velocity state) and the energy balance through a backlash
impact, against hand formulas from the preset's physical figures.

Back-drive breakaway of an unpowered joint (output side): the output bearing holds F_o, and the
gear back-drives the rotor only when tau_s eta_b / N exceeds the motor's Coulomb friction F_c,
so the output stays put while |tau_ext| < F_o + F_c N / eta_b and slides above it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from cerebellum_rt.actuators.joint import MODE_CSP, MODE_CST, JointModule, load_preset
from cerebellum_rt.actuators.joint.energy import spring_energy


def _breakaway_nm(p) -> float:
    return p.reducer.output_friction_nm + p.motor.coulomb_friction_nm * p.reducer.ratio / p.reducer.efficiency_backward


def _unpowered_run(name: str, frac: float) -> tuple[JointModule, float]:
    p = load_preset(name)
    jm = JointModule(p, seed=3, initial_position_rad=0.5 * sum(p.position_limits_rad))
    jm.set_external_torque(frac * _breakaway_nm(p))
    for _ in range(200):  # the output crosses the backlash gap and meets the flank
        jm.command(MODE_CSP, 0.0, 0.0, 0.0, False)
        jm.advance(0.001)
    q0 = jm.truth.output_angle_rad
    for _ in range(200):
        jm.command(MODE_CSP, 0.0, 0.0, 0.0, False)
        jm.advance(0.001)
    return jm, jm.truth.output_angle_rad - q0


@pytest.mark.parametrize("name", ["knee", "arm_hd"])
def test_unpowered_joint_holds_below_its_breakaway_torque_and_slides_above(name):
    jm, moved = _unpowered_run(name, 0.9)
    t = jm.truth
    # no creep: the rotor exactly at rest, the output at rest up to rounding on its spring
    assert t.motor_velocity_rad_s == 0.0 and abs(moved) < 1e-12 and abs(t.output_velocity_rad_s) < 1e-12
    # negative control: 10 % above the hand-formula breakaway the gear back-drives
    jm, moved = _unpowered_run(name, 1.1)
    assert moved > 1e-3 and jm.truth.motor_velocity_rad_s > 0.0


def test_stalled_rotor_sticks_instead_of_chattering():
    """Locked output, CST at half the peak torque: once the torque loop has settled (0.1 s after
    the ramp) the rotor holds exactly still (the stall band; the old model chattered at the PWM
    rate), and the shaft torque lies in the band set by Kt i N, the efficiencies and F_c."""
    p = load_preset("knee")
    jm = JointModule(p, seed=2, initial_position_rad=1.0)
    jm.lock_output()
    moving = 0
    for k in range(500):
        jm.command(MODE_CST, 0.0, 0.0, 0.5 * p.peak_torque_nm * min(1.0, (k + 1) / 200), True)
        jm.advance(0.001)
        if k < 200:
            moving += jm.truth.motor_velocity_rad_s != 0.0  # control: the ramp does move it
        elif k >= 300:
            assert jm.truth.motor_velocity_rad_s == 0.0, f"rotor moving at tick {k}"
    assert moving > 50
    t = jm.truth
    n, eta = p.reducer.ratio, p.reducer.efficiency_forward
    upper = (p.kt_nm_per_a * t.iq_a + p.motor.coulomb_friction_nm + p.motor.cogging_torque_nm) * n * eta
    lower = (p.kt_nm_per_a * t.iq_a - p.motor.coulomb_friction_nm - p.motor.cogging_torque_nm) * n * p.reducer.efficiency_backward
    assert lower <= t.shaft_torque_nm <= upper


def _lossless_impact(name: str, hz: float):
    p0 = load_preset(name)
    p = replace(
        p0,
        motor=replace(p0.motor, coulomb_friction_nm=0.0, viscous_friction_nm_s_per_rad=0.0, cogging_torque_nm=0.0),
        reducer=replace(p0.reducer, output_friction_nm=0.0, damping_nm_s_per_rad=0.0, efficiency_forward=1.0,
                        efficiency_backward=1.0),
    ).with_load(inertia_kg_m2=0.02)
    jm = JointModule(p, current_loop_hz=hz, seed=0, initial_position_rad=0.5 * sum(p.position_limits_rad))
    jm._s[0]["omega_m"] = 2.0 * p.reducer.ratio  # the rotor spins into the backlash; the output rests
    return p, jm


@pytest.mark.parametrize("name", ["knee", "mini_cheetah"])
def test_backlash_impact_energy_closes_within_one_percent(name):
    """Unpowered and lossless (no friction, damping or gear loss): the rotor crosses the gap and
    hits the loaded output. All of the energy stays stored, to < 1 % at every sample."""
    p, jm = _lossless_impact(name, 20_000)
    e0 = jm.truth.e_stored_j
    worst = plain_worst = 0.0
    contact = 0
    for _ in range(300):
        jm.command(MODE_CSP, 0.0, 0.0, 0.0, False)
        jm.advance(0.00005)
        t = jm.truth
        worst = max(worst, abs(t.e_stored_j - e0) / e0)
        # negative control: the plain kinetic + spring energy (without the integrator's modified-
        # energy term) swings by ~ w h_s / 2 of itself while the reducer is loaded
        d = t.motor_angle_rad / p.reducer.ratio - t.output_angle_rad
        b = 0.5 * p.reducer.backlash_rad
        d = d - b if d > b else (d + b if d < -b else 0.0)
        pa = jm._p[0]
        plain = 0.5 * pa["jm"] * t.motor_velocity_rad_s**2 + 0.5 * pa["jo"] * t.output_velocity_rad_s**2
        plain += spring_energy(pa, d)
        plain_worst = max(plain_worst, abs(plain - e0) / e0)
        contact += d != 0.0
    assert contact > 20  # the flanks did meet
    assert worst < 0.01, f"energy balance off by {100 * worst:.2f} %"
    assert plain_worst > 0.01
