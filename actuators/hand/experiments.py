"""Datasheet experiments on the emulated hand (``cbl validate presets``), as a bench runs them.

- ``motor_stall_torque_nm``: the index finger held by its end stops with the tendon just taut,
  current mode at a command above every limit (the firmware's current limit and the supply
  voltage over the winding resistance decide); the motor torque k_t i averaged over 0.25-0.35 s
  (the nut has stopped), while the winding is still within ~2 K of ambient (the datasheet's stall torque is at 22 degC, U_N).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cerebellum_rt.actuators.hand.preset import HandPreset
from cerebellum_rt.actuators.hand.sim import M_CURRENT, HandSim


def motor_stall_torque(p: HandPreset) -> float:
    sim = HandSim(p, None)
    sim.mode[:] = M_CURRENT
    jnt = p.jnt.copy()
    f = p.finger_of_tendon[0]
    for j in p.fing_i[f, 2 : 2 + p.fing_i[f, 1]]:
        jnt[j, 5] = jnt[j, 4] + 1e-4  # the finger cannot flex: its end stops hold the tendon
    sim.p = replace(p, jnt=jnt)
    sim.xs[0, 0] = p.raw["tendon"]["slack_m"]
    sim.i_cmd[0] = 100.0 * p.raw["motor"]["current_max_a"]
    sim.run(round(0.25 * sim.loop_hz))  # the nut stops once the tendon is stretched
    n = round(0.1 * sim.loop_hz)
    log = sim.run(n)
    return float(p.raw["motor"]["torque_constant_nm_per_a"] * log[:, 0, 2].mean())


EXPERIMENTS: dict[str, Callable[[HandPreset], float]] = {
    "motor_stall_torque_nm": motor_stall_torque,
}
