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
from cerebellum_rt.actuators.hand.sim import LOG_F, M_CURRENT, M_GRASP, M_JOINT, HandSim


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


def _tip_force(p: HandPreset, finger: str) -> float:
    """Fingertip force at the maximum force command: a rigid plate (a box 30 mm above the palm,
    over the outer half of the finger only) that only the fingertip pad reaches; the finger's
    actuator in grasp mode with a force command far above any limit; the pad force averaged
    over the last 4 s of 8 s (the other fingers idle): the force loop's integrator corner is
    0.8 Hz, so the force converges to its limit over seconds (the pad sticks on the plate: no
    creep since the elasto-plastic pad stiction)."""
    f = p.fingers.index(finger)
    k = int(next(a for a in range(p.n_act) if p.finger_of_tendon[a] == f))
    sim = HandSim(p, None)
    base_y = p.fing_f[f, 1]
    sim.obj[:] = [3, 0.20, base_y, 0.08, 0, 0, 0, 0, 0.05, 0.008, 0.05]
    sim.mode[:] = M_CURRENT
    sim.mode[k] = M_GRASP
    sim.f_ref[k] = 1000.0
    sim.run(round(4.0 * sim.loop_hz))
    log = sim.run(round(4.0 * sim.loop_hz))
    return float(log[:, k, LOG_F].mean())


def index_tip_force(p: HandPreset) -> float:
    return _tip_force(p, "index")


def middle_tip_force(p: HandPreset) -> float:
    return _tip_force(p, "middle")


def thumb_tip_force(p: HandPreset) -> float:
    """Thumb-bend force at the maximum force command: the thumb turned to pi/2 (joint mode on its
    rotation tendon) so that it flexes out of the palm, a rigid plate 30 mm above the palm over
    its distal link only (x 0.085-0.15 m, 16 mm wide at the thumb's y); thumb_flex in grasp mode
    with a force command far above any limit once the rotation has turned ([grasp]
    rotate_first_s); pad force averaged over the last 4 s of 8 s."""
    f = p.fingers.index("thumb")
    acts = [a for a in range(p.n_act) if p.finger_of_tendon[a] == f]
    rot = int(p.fing_i[f, 0])
    sim = HandSim(p, None)
    sim.obj[:] = [3, 0.1175, p.fing_f[f, 1], 0.08, 0, 0, 0, 0, 0.0325, 0.008, 0.05]
    sim.mode[:] = M_CURRENT
    k = -1
    for a in acts:
        if p.coupling[a, rot] != 0.0 and not any(p.coupling[a, int(j)] for j in p.fing_i[f, 2 : 2 + p.fing_i[f, 1]]):
            sim.mode[a] = M_JOINT
        else:
            k = a
    sim.q_ref[rot] = 0.5 * 3.141592653589793
    sim.run(round(p.raw["grasp"]["rotate_first_s"] * sim.loop_hz))  # turn first, then flex
    sim.mode[k] = M_GRASP
    sim.f_ref[k] = 1000.0
    sim.run(round(4.0 * sim.loop_hz))
    log = sim.run(round(4.0 * sim.loop_hz))
    return float(log[:, k, LOG_F].mean())


EXPERIMENTS: dict[str, Callable[[HandPreset], float]] = {
    "motor_stall_torque_nm": motor_stall_torque,
    "index_tip_force_n": index_tip_force,
    "middle_tip_force_n": middle_tip_force,
    "thumb_tip_force_n": thumb_tip_force,
}
