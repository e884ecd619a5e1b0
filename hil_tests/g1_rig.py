"""The G1 walk through our stack: policy on the host loop, CAN-FD, emulated joint boards running the joint PD, MuJoCo.

The body is :class:`~cerebellum_rt.hil_tests.g1_body.G1Body` (lockstep: host, buses, boards,
joint modules and MuJoCo advance together in virtual time). The host runs an rtcore
``LoopRunner`` at 1 kHz on a ``LockstepClock``; every 20 ticks the policy
(:class:`~cerebellum_rt.codegen.nn.runtime.PolicyRuntime`) turns the observation into joint
targets (action x action_scale + default angles). The joint PD of the deployment file (kp, kd of
``g1.yaml``) runs on the boards, at their loop rate, as CiA 402 CSP with the cascade gains
position_kp = kp / kd, velocity_kp = kd, velocity_ki = 0 (set by SDO before the run): the host
only sends position targets every tick, the way Unitree's low-level command hands q, kp, kd to
the motor drivers. The IMU (base orientation and angular velocity) is read from MuJoCo, the
joint states from the boards' PDOs (what a real robot has).

Before the walk the drives are enabled with the body held (MuJoCo does not step); after it, or
after any error, they are brought to SWITCH ON DISABLED before the buses close.

History: with the PD on the host, sent as CST torque through a 1-2 tick bus delay, the hips went
into a limit cycle with the reducers' backlash and the robot fell within ~1 s.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cerebellum_rt.hil_tests.g1_walk import FALL_HEIGHT_M, Observer, WalkResult
from cerebellum_rt.rtcore.errors import check_range


@dataclass
class BoardsWalk:
    walk: WalkResult
    missed_replies: int
    frames: int
    enable_ticks: int
    final_states: list[str]
    max_torque_nm: float  # largest |torque| any module applied to its MuJoCo joint
    wall_s: float


def walk_boards(robot_dir: str | Path | None = None, seconds: float = 10.0, command: float = 0.5,
                seed: int = 0) -> BoardsWalk:
    """The policy walking the G1 through the boards (see module doc)."""
    from cerebellum_rt.codegen.nn.runtime import PolicyRuntime
    from cerebellum_rt.hil_tests.g1_body import PERIOD_S, G1Body
    from cerebellum_rt.rtcore.clock import LockstepClock
    from cerebellum_rt.rtcore.loop import LoopRunner

    check_range("walk seconds", seconds, 0.02, 600.0, "s")
    check_range("walk command", command, -1.0, 1.0, "m/s")
    wall0 = time.perf_counter()
    with G1Body(robot_dir, seed) as body:
        dep, n = body.dep, body.n
        policy = PolicyRuntime(body.dir / "policy.onnx")
        enable_ticks = body.start(dep.kps, dep.kds)
        target = body.observe().q.copy()  # hold where the drives were enabled until the first action
        q_meas, qd_meas = np.zeros(n), np.zeros(n)
        obs = Observer(dep, (command, 0.0, 0.0))
        decim = round(dep.policy_dt / PERIOD_S)
        walk_ticks = round(seconds / PERIOD_S)
        trace = np.zeros((walk_ticks // decim + 1, 3))
        s = {"k": 0, "zmin": math.inf, "fell": False, "tau_max": 0.0, "tr": 0}
        x0 = float(body.data.qpos[0])
        policy.reset()
        try:
            def update(t_s: float, dt_s: float) -> None:
                if s["k"] % decim == 0:  # the policy at 50 Hz, as deployed
                    st = body.observe()
                    q_meas[:], qd_meas[:] = st.q, st.qd
                    o = obs.build(s["k"] * PERIOD_S, body.data.qpos[3:7], body.data.qvel[3:6], q_meas, qd_meas)
                    a = policy.step(o)
                    obs.action[:] = a
                    np.multiply(a, dep.action_scale, out=target)
                    np.add(target, dep.default_angles, out=target)
                    trace[s["tr"]] = (s["k"] * PERIOD_S, body.data.qpos[0], body.data.qpos[2])
                    s["tr"] += 1

            def write(t_s: float, dt_s: float) -> None:
                if not s["fell"]:
                    body.step(target)
                    s["tau_max"] = max(s["tau_max"], float(np.abs(body.data.ctrl[:n]).max()))
                    z = float(body.data.qpos[2])
                    s["zmin"] = min(s["zmin"], z)
                    s["fell"] = z < FALL_HEIGHT_M
                    if s["fell"]:
                        s["t_fall"] = (s["k"] + 1) * PERIOD_S
                s["k"] += 1

            LoopRunner(1_000_000, LockstepClock(), update=update, write=write).run(walk_ticks)
        finally:  # whatever happened: every drive to SWITCH ON DISABLED before the buses close
            states = body.stop()
        t_end = s.get("t_fall", walk_ticks * PERIOD_S)
        dist = float(body.data.qpos[0]) - x0
        walk = WalkResult(dist, dist / t_end, s["fell"], s["zmin"], t_end, trace[: s["tr"]])
        frames = sum(t.stats.frames_tx + t.stats.frames_rx for t in body.transports)
        return BoardsWalk(walk, body.stats.missed_replies, frames, enable_ticks, states, s["tau_max"],
                          time.perf_counter() - wall0)
