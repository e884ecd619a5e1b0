"""Hand motor thermal model (FAULHABER two-node figures) with firmware derating, and tendon
strength / creep limits that fault the actuator, against hand formulas from the preset."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

from cerebellum_rt.actuators.hand.preset import load_preset
from cerebellum_rt.actuators.hand.sim import (
    FAULT_TENDON_CREEP,
    FAULT_TENDON_STRENGTH,
    M_CURRENT,
    HandSim,
)

P = load_preset("hand_prs6")


def _preset(motor=None, **tendon):
    raw = copy.deepcopy(P.raw)
    raw["tendon"].update(tendon)
    raw["motor"].update(motor or {})
    return replace(P, raw=raw)


def _stalled_index(p, i_cmd: float) -> HandSim:
    """Index finger held by its end stops, tendon just taut, current mode."""
    sim = HandSim(p, None)
    sim.mode[:] = M_CURRENT
    jnt = p.jnt.copy()
    jnt[:3, 5] = jnt[:3, 4] + 1e-4
    sim.p = replace(p, jnt=jnt)
    sim.xs[0, 0] = p.raw["tendon"]["slack_m"]
    sim.i_cmd[0] = i_cmd
    return sim


def test_stalled_motor_heats_per_its_datasheet_and_derates_below_the_winding_limit():
    m = P.raw["motor"]
    # no creep fault in this run; the housing's 220 s time constant shortened to 20 s so that the
    # derating shows within 15 s (the winding node keeps its datasheet figures)
    sim = _stalled_index(_preset({"tau_housing_s": 20.0}, creep_limit_n=300.0), 10.0)
    sim.run(500)
    # hand formula, first 0.5 s (housing still at ambient): dT = P R_th1 (1 - exp(-t / tau_w1)),
    # P = U^2 / R at the stall current U / R
    p_cu = P.raw["supply"]["bus_voltage_v"] ** 2 / m["phase_resistance_ohm"]
    dt_expect = p_cu * m["r_th_winding_k_per_w"] * (1.0 - math.exp(-0.5 / m["tau_winding_s"]))
    dt_model = sim.winding_temp_c[0] - m["ambient_c"]
    assert abs(dt_model / dt_expect - 1.0) < 0.15, (dt_model, dt_expect)
    t_max = 0.0
    for _ in range(14):
        sim.run(1000)
        t_max = max(t_max, sim.winding_temp_c[0])
    assert sim.fault[0] == 0
    # derating: the winding reached the derating band and stays below its limit, the current
    # is cut below the stall current (without derating it would settle near 25 + 7 W x 39 K/W)
    assert m["derate_start_c"] <= sim.winding_temp_c[0] and t_max < m["temperature_max_c"]
    i_stall = P.raw["supply"]["bus_voltage_v"] / m["phase_resistance_ohm"]
    assert sim.xs[0, 2] < 0.9 * i_stall
    # the resistance followed the winding temperature
    r_expect = m["phase_resistance_ohm"] * (1 + m["resistance_tempco_per_k"] * (sim.winding_temp_c[0] - 25.0))
    assert abs(sim.act[0, 0] / r_expect - 1.0) < 1e-3


def test_tendon_creep_limit_faults_after_its_time_and_strength_at_once():
    td = P.raw["tendon"]
    sim = _stalled_index(P, 10.0)  # stall pulls ~94 N: above the 65 N creep limit
    above = None
    for k in range(4000):
        sim.run(1)
        if above is None and sim.tens[0, 0] > td["creep_limit_n"]:
            above = k
        if sim.fault[0]:
            break
    assert sim.fault[0] == FAULT_TENDON_CREEP
    assert abs((k - above) / 1000.0 - td["creep_time_s"]) <= 0.01
    sim.run(300)
    assert sim.xs[0, 2] == 0.0 or abs(sim.xs[0, 2]) < 1e-3  # switched off
    # strength: a tendon rated below the stall pull breaks (faults) as soon as it is exceeded
    sim = _stalled_index(_preset(strength_n=80.0, creep_limit_n=70.0, creep_time_s=100.0), 10.0)
    for _ in range(2000):
        sim.run(1)
        if sim.fault[0]:
            break
    assert sim.fault[0] & FAULT_TENDON_STRENGTH and 80.0 <= sim.tens[0, 0] <= 85.0
    # negative control: a pull below both limits never faults
    sim = _stalled_index(P, 0.25)
    sim.run(3000)
    assert sim.fault[0] == 0 and 20.0 < sim.tens[0, 0] < td["creep_limit_n"]
    sim.reset_faults()
