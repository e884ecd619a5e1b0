"""The G1 walk through our stack: policy on the host loop, CAN-FD, emulated joint boards, joint modules, MuJoCo.

Layers, host to body (lockstep: host, boards and plant advance together in virtual time):

- host: an rtcore ``LoopRunner`` at 1 kHz on a ``LockstepClock``. Every 20 ticks the policy
  (:class:`~cerebellum_rt.codegen.nn.runtime.PolicyRuntime`) turns the observation into joint
  targets; every tick the joint PD of the deployment file (kp, kd of ``g1.yaml``) turns the boards'
  measured positions and velocities into torque targets, sent in cyclic synchronous torque mode
  (CiA 402 CST, 0x6071) — the way Unitree's low-level command runs PD at the joint.
- buses: two CAN-FD buses (1 Mbit/s / 5 Mbit/s, CANopen FD packed PDOs: one command and one reply
  frame per joint and tick), six joints each (left leg, right leg), through ``CanTransport``.
- boards: emulated CiA 402 joint boards (drivers.board.JointBoard), each with a joint module:
  PMSM + FOC + cascade torque loop + reducer + encoders + torque sensor (actuators.joint), presets
  by joint class (hip pitch / yaw: ``hip`` 88 N m, hip roll / knee: ``knee`` 139 N m, ankles:
  ``ankle`` 50 N m) with the model's joint ranges as position limits.
- body: MuJoCo at 1 kHz. Each module is coupled to its MuJoCo joint
  (:meth:`JointModule.couple_load`): before a tick the module's output takes the joint's angle,
  velocity, effective inertia (the diagonal of MuJoCo's mass matrix) and the rest-of-body torque
  of the last step (M_ii qacc_i - actuator torque_i); after the tick MuJoCo applies the module's
  shaft torque. MuJoCo's own armature and friction loss are zeroed on these joints: the modules
  carry the rotor inertia and the friction.
- the IMU (base orientation and angular velocity) is read from MuJoCo, the joint states from the
  boards' PDOs (what a real robot has).

Before the walk the drives are enabled with the body held (a gantry: MuJoCo does not step);
after it they are brought to SWITCH ON DISABLED before the buses close.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cerebellum_rt.hil_tests.g1_walk import (
    FALL_HEIGHT_M,
    Observer,
    WalkResult,
    load_deploy,
    load_model,
    robot_files,
)
from cerebellum_rt.rtcore.errors import ConfigError, DeviceTimeout, check_range

LEG_PRESETS = ("hip", "knee", "hip", "knee", "ankle", "ankle")  # per leg, in the model's joint order
MODE_CST = 10
ENABLE_TICKS = 200  # budget for the CiA 402 walk of all drives
DISABLE_TICKS = 10
BUS_BITRATE, BUS_DATA_BITRATE = 1_000_000, 5_000_000
WAIT_S = 60.0  # lockstep: a board's first cycle may load or compile its kernels


@dataclass
class BoardsWalk:
    walk: WalkResult
    missed_replies: int
    frames: int
    enable_ticks: int
    final_states: list[str]
    max_torque_nm: float  # largest |torque| any module applied to its MuJoCo joint
    wall_s: float


def _pd_kernel():
    from cerebellum_rt.rtcore.jit import njit

    @njit(cache=True)
    def pd(rx, tx, q_meas, qd_meas, target, kp, kd, rated_nm, pos_cpr, vel_cpr, off):
        """Board measurements -> q, qd (rad); PD torque -> 0x6071 per mille (saturated to int16)."""
        for i in range(rx.shape[0]):
            q = rx[i].position_actual / pos_cpr
            qd = rx[i].velocity_actual / vel_cpr
            q_meas[off + i] = q
            qd_meas[off + i] = qd
            tau = kp[off + i] * (target[off + i] - q) - kd[off + i] * qd
            pm = round(1000.0 * tau / rated_nm[off + i])
            tx[i].target_torque = max(-32768, min(32767, pm))
            tx[i].modes_of_operation = 10

    return pd


class G1Rig:
    """The coupled rig (see module doc). ``with G1Rig(robot_dir) as rig: rig.walk(10.0, 0.5)``."""

    def __init__(self, robot_dir: str | Path | None = None, seed: int = 0) -> None:
        import mujoco

        from cerebellum_rt.actuators.joint import JointModule, load_preset
        from cerebellum_rt.codegen.nn.runtime import PolicyRuntime
        from cerebellum_rt.drivers import od
        from cerebellum_rt.drivers.can import CanTransport, layout
        from cerebellum_rt.hil_tests.emulator import InProcessRig
        from cerebellum_rt.hil_tests.rig import BoardSpec, BusSpec

        self.dir = robot_files(robot_dir)
        self.dep = load_deploy(self.dir)
        n = self.dep.num_actions
        if n != 2 * len(LEG_PRESETS):
            raise ConfigError(f"{self.dir}/g1.yaml: num_actions {n}, the G1 rig drives {2 * len(LEG_PRESETS)} leg joints")
        self.model, self.data = load_model(self.dir, 0.001)
        m = self.model
        self.dofs = np.arange(6, 6 + n)
        m.dof_armature[self.dofs] = 0.0
        m.dof_frictionloss[self.dofs] = 0.0
        mujoco.mj_forward(m, self.data)
        self._unit = np.zeros((m.nv, n))
        self._minv = np.zeros((n, m.nv))
        self._cpl = np.zeros((n, 3))  # per joint: inertia, start velocity, rest-of-body torque of this tick
        self.policy = PolicyRuntime(self.dir / "policy.onnx")
        self.modules = []
        for i in range(n):
            jid = int(m.dof_jntid[6 + i])
            lo, hi = (float(x) for x in m.jnt_range[jid])
            p = load_preset(LEG_PRESETS[i % len(LEG_PRESETS)])
            p = replace(p, limits=replace(p.limits, position_min_rad=lo, position_max_rad=hi))
            self.modules.append(JointModule(p, seed=seed * 100 + i, initial_position_rad=float(self.data.qpos[7 + i])))
        self.rated_nm = np.array([mod.preset.rated_torque_nm for mod in self.modules])
        self._stack: list[Any] = []
        self.buses, self.transports, self.boards = [], [], []
        lay = layout.packed(layout.board_layout("joint"))
        try:
            for b, name in enumerate(("left_leg", "right_leg")):
                nodes = list(range(1, 7))
                spec = BusSpec(name, "virtual", bitrate=BUS_BITRATE, fd=True, data_bitrate=BUS_DATA_BITRATE,
                               boards=tuple(BoardSpec(k, "joint", None) for k in nodes), pdo_packing=True)
                rig = InProcessRig(spec, "virtual", modules={k: self.modules[6 * b + k - 1] for k in nodes})
                self._stack.append(rig)
                self.boards += rig.boards
                t = CanTransport(rig.host_bus(), nodes=nodes, board=lay, sync=True, timeout_s=2.0, fd=True)
                self._stack.append(t)
                self.transports.append(t)
        except BaseException:
            self.close()
            raise
        self.pos_cpr, self.vel_cpr = float(od.POSITION_COUNTS_PER_RAD), float(od.VELOCITY_COUNTS_PER_RAD_S)
        self._pd = _pd_kernel()

    # --- plant side (lockstep world step) ---------------------------------------------------
    def _couple(self, frozen: bool) -> None:
        import mujoco

        d, m = self.data, self.model
        # apparent inertia of each joint, 1 / (M^-1)_ii: what a torque on that joint alone meets
        # with the rest of the free-floating body yielding (the diagonal M_ii would be far too
        # heavy: the trunk recoils)
        self._unit[:] = 0.0
        self._unit[self.dofs, np.arange(len(self.dofs))] = 1.0
        mujoco.mj_solveM(m, d, self._minv, self._unit.T.copy())
        for i, mod in enumerate(self.modules):
            dof = 6 + i
            mii = 1.0 / float(self._minv[i, dof])
            ext = 0.0 if frozen else -float(d.qfrc_bias[dof])  # gravity, Coriolis of the last step
            w0 = 0.0 if frozen else float(d.qvel[dof])
            mod.couple_load(float(d.qpos[7 + i]), w0, mii, ext)
            self._cpl[i] = (mii, w0, ext)

    def _wait_boards(self, want: list[int]) -> None:
        deadline = time.monotonic() + WAIT_S
        while any(b.cycles < w for b, w in zip(self.boards, want)):
            if time.monotonic() > deadline:
                late = [b.node_id for b, w in zip(self.boards, want) if b.cycles < w]
                raise DeviceTimeout(f"G1 rig: boards {late} did not finish their cycle within {WAIT_S:g} s")
            time.sleep(20e-6)

    def _step_body(self) -> None:
        import mujoco

        for i, mod in enumerate(self.modules):  # the actuator's impulse on the load over the tick
            mii, w0, ext = self._cpl[i]
            self.data.ctrl[i] = mii * (mod.output_velocity_rad_s - w0) / 0.001 - ext
        mujoco.mj_step(self.model, self.data)

    # --- the run ------------------------------------------------------------------------------
    def walk(self, seconds: float = 10.0, command: float = 0.5) -> BoardsWalk:
        from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
        from cerebellum_rt.rtcore.clock import LockstepClock
        from cerebellum_rt.rtcore.loop import LoopRunner

        check_range("walk seconds", seconds, 0.02, 600.0, "s")
        check_range("walk command", command, -1.0, 1.0, "m/s")
        dep, n = self.dep, self.dep.num_actions
        wall0 = time.perf_counter()
        for t in self.transports:
            t.start(period_us=1000)
        txs = [t.tx_array() for t in self.transports]
        rxs = [t.rx_array() for t in self.transports]
        kp, kd = dep.kps.astype(np.float64), dep.kds.astype(np.float64)
        target = dep.default_angles.astype(np.float64).copy()
        q_meas, qd_meas = np.zeros(n), np.zeros(n)
        obs = Observer(dep, (command, 0.0, 0.0))
        decim = round(dep.policy_dt / 0.001)
        walk_ticks = round(seconds / 0.001)
        trace = np.zeros((walk_ticks // decim + 1, 3))
        s = {"k": 0, "walk_k": -1, "missing": 0, "enable": 0, "phase": "enable", "zmin": math.inf, "fell": False,
             "tau_max": 0.0, "tr": 0}
        x0 = float(self.data.qpos[0])
        for tx in txs:
            tx["modes_of_operation"] = MODE_CST
            tx["target_torque"] = 0
        self.policy.reset()

        def update(t_s: float, dt_s: float) -> None:
            phase = s["phase"]
            for b, (tx, rx) in enumerate(zip(txs, rxs)):
                self._pd(rx, tx, q_meas, qd_meas, target, kp, kd, self.rated_nm, self.pos_cpr, self.vel_cpr, 6 * b)
            if phase == "walk" and s["walk_k"] % decim == 0:
                tw = s["walk_k"] * 0.001
                o = obs.build(tw, self.data.qpos[3:7], self.data.qvel[3:6], q_meas, qd_meas)
                a = self.policy.step(o)
                obs.action[:] = a
                np.multiply(a, dep.action_scale, out=target)
                np.add(target, dep.default_angles, out=target)
                trace[s["tr"]] = (tw, self.data.qpos[0], self.data.qpos[2])
                s["tr"] += 1
            goal = "switch_on_disabled" if phase == "disable" else "operation_enabled"
            states = []
            for tx, rx in zip(txs, rxs):
                for i in range(len(rx)):
                    sw = int(rx[i]["statusword"])
                    states.append(decode_state(sw))
                    tx[i]["controlword"] = next_controlword(sw, goal)
            if phase == "enable":
                if all(st == "operation_enabled" for st in states):
                    s["phase"], s["enable"] = "walk", s["k"]
                elif s["k"] >= ENABLE_TICKS:
                    raise DeviceTimeout(f"G1 rig: drives not OPERATION ENABLED after {ENABLE_TICKS} ticks: {states}")

        def write(t_s: float, dt_s: float) -> None:
            walking = s["phase"] == "walk"
            self._couple(frozen=not walking)
            want = [b.cycles + 1 for b in self.boards]
            for t, tx, rx in zip(self.transports, txs, rxs):
                s["missing"] += t.cycle(tx, rx)
            self._wait_boards(want)
            if walking:
                self._step_body()
                s["walk_k"] += 1
                s["tau_max"] = max(s["tau_max"], float(np.abs(self.data.ctrl[:n]).max()))
                z = float(self.data.qpos[2])
                s["zmin"] = min(s["zmin"], z)
                if z < FALL_HEIGHT_M:
                    s["fell"] = True
                if s["walk_k"] >= walk_ticks or s["fell"]:
                    s["phase"] = "disable"
            s["k"] += 1

        def read(t_s: float, dt_s: float) -> None:
            pass

        runner = LoopRunner(1_000_000, LockstepClock(), read, update, write)
        self._prime(txs, rxs)
        runner.run(ENABLE_TICKS + walk_ticks + 1)
        # bring every drive to SWITCH ON DISABLED before the buses close
        states = self._disable(txs, rxs)
        t_end = max(s["walk_k"], 1) * 0.001
        dist = float(self.data.qpos[0]) - x0
        walk = WalkResult(dist, dist / t_end, s["fell"], s["zmin"], t_end, trace[: s["tr"]])
        frames = sum(t.stats.frames_tx + t.stats.frames_rx for t in self.transports)
        return BoardsWalk(walk, s["missing"], frames, s["enable"], states, s["tau_max"], time.perf_counter() - wall0)

    def _prime(self, txs: list, rxs: list) -> None:
        """One exchange so the first tick sees real measurements (the demo primes the same way)."""
        want = [b.cycles + 1 for b in self.boards]
        self._couple(frozen=True)
        for t, tx, rx in zip(self.transports, txs, rxs):
            t.cycle(tx, rx)
        self._wait_boards(want)

    def _disable(self, txs: list, rxs: list) -> list[str]:
        from cerebellum_rt.drivers.cia402 import decode_state, next_controlword

        for _ in range(DISABLE_TICKS):
            for tx, rx in zip(txs, rxs):
                tx["target_torque"] = 0
                for i in range(len(rx)):
                    tx[i]["controlword"] = next_controlword(int(rx[i]["statusword"]), "switch_on_disabled")
            want = [b.cycles + 1 for b in self.boards]
            self._couple(frozen=True)
            for t, tx, rx in zip(self.transports, txs, rxs):
                t.cycle(tx, rx)
            self._wait_boards(want)
        return [decode_state(int(rx[i]["statusword"])) for rx in rxs for i in range(len(rx))]

    def close(self) -> None:
        for obj in reversed(self._stack):
            obj.close()
        self._stack.clear()

    def __enter__(self) -> G1Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def walk_boards(robot_dir: str | Path | None = None, seconds: float = 10.0, command: float = 0.5,
                seed: int = 0) -> BoardsWalk:
    with G1Rig(robot_dir, seed) as rig:
        return rig.walk(seconds, command)
