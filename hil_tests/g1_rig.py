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
  velocity, apparent inertia (probed with the feet's contacts active, less the armature) and the
  gravity / Coriolis torque of the last step; after the tick MuJoCo applies the torque that moved
  the module's output, i.e. the actuator's mean shaft torque over the tick. The drive trains'
  reflected inertia (rotor J_m N^2 + reducer output) is MuJoCo's armature on these joints, so it
  acts implicitly as a real rotor does; their friction is the modules' (MuJoCo's friction loss is
  zeroed).
- the IMU (base orientation and angular velocity) is read from MuJoCo, the joint states from the
  boards' PDOs (what a real robot has).

Before the walk the drives are enabled with the body held (a gantry: MuJoCo does not step);
after it, or after any error, they are brought to SWITCH ON DISABLED before the buses close.

Status: the stack runs end to end (0 missed replies, drives enabled in 6 ticks), but the walk does
not hold yet: the hip joints go into a limit cycle (the host-side PD through a 1-2 tick bus delay,
the reducers' backlash and the CST torque loop), torques saturate, drives fault and the robot
falls within ~1 s, where the same policy with ideal actuators walks 4.59 m in 10 s
(:func:`~cerebellum_rt.hil_tests.g1_walk.walk_mujoco`; with a 3 ms delay and no drive-train
model it still walks). Next: the PD on the boards (impedance mode at the board's loop rate, as
the robot's own motor drivers run it) and the policy's targets in CSP.
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
PROBE_NM = 1.0  # torque of the apparent-inertia probe
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
        m.dof_frictionloss[self.dofs] = 0.0  # the modules carry the friction
        self._app = np.full(n, 1.0)  # apparent inertia per joint [kg m^2]
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
        # the drive trains' reflected inertia (rotor J_m N^2 + reducer output) is MuJoCo's armature:
        # it acts implicitly in MuJoCo's step, as the real rotor does on the joint
        self.armature = np.array([mod.preset.reflected_inertia_kg_m2 for mod in self.modules])
        m.dof_armature[self.dofs] = self.armature
        mujoco.mj_forward(m, self.data)
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
        # apparent inertia of each joint with the body as it is now (free-floating trunk, feet in
        # contact): 1 / (d qacc_i / d tau_i), probed by one constrained forward solve per joint
        # (a foot on the ground makes the ankle move the whole robot, not the foot alone)
        if not frozen:
            mujoco.mj_forward(m, d)
            base = d.qacc[self.dofs].copy()
            for i, dof in enumerate(self.dofs):
                d.qfrc_applied[dof] = PROBE_NM
                mujoco.mj_forward(m, d)
                d.qfrc_applied[dof] = 0.0
                self._app[i] = PROBE_NM / max(float(d.qacc[dof] - base[i]), 1e-9)
            mujoco.mj_forward(m, d)
        for i, mod in enumerate(self.modules):
            dof = 6 + i
            mii = float(self._app[i])  # includes the armature
            ext = 0.0 if frozen else -float(d.qfrc_bias[dof])  # gravity, Coriolis of the last step
            w0 = 0.0 if frozen else float(d.qvel[dof])
            mod.couple_load(float(d.qpos[7 + i]), w0, max(mii - self.armature[i], 1e-6), ext)
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
    def _exchange(self, txs: list, rxs: list, frozen: bool) -> int:
        """One lockstep tick of the buses and boards: couple, SYNC + PDOs on every bus, wait until
        every board has advanced its module. Returns the replies missed."""
        self._couple(frozen)
        want = [b.cycles + 1 for b in self.boards]
        missing = 0
        for t, tx, rx in zip(self.transports, txs, rxs):
            missing += t.cycle(tx, rx)
        self._wait_boards(want)
        return missing

    def _walk_drives(self, txs: list, rxs: list, goal: str, budget: int) -> tuple[int, list[str]]:
        """Slow path (body held): step the CiA 402 state machines toward ``goal``; (ticks, states)."""
        from cerebellum_rt.drivers.cia402 import decode_state, next_controlword

        states: list[str] = []
        for k in range(budget):
            states = [decode_state(int(sw)) for rx in rxs for sw in rx["statusword"]]
            if all(st == goal for st in states):
                return k, states
            for tx, rx in zip(txs, rxs):
                if goal != "operation_enabled":
                    tx["target_torque"] = 0
                for i in range(len(rx)):
                    tx[i]["controlword"] = next_controlword(int(rx[i]["statusword"]), goal)
            self._exchange(txs, rxs, frozen=True)
        return budget, states

    def walk(self, seconds: float = 10.0, command: float = 0.5) -> BoardsWalk:
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
        s = {"k": 0, "missing": 0, "zmin": math.inf, "fell": False, "tau_max": 0.0, "tr": 0}
        x0 = float(self.data.qpos[0])
        for tx in txs:
            tx["modes_of_operation"] = MODE_CST
            tx["target_torque"] = 0
        self.policy.reset()
        try:
            s["missing"] += self._exchange(txs, rxs, frozen=True)  # prime: measurements for the first tick
            enable_ticks, states = self._walk_drives(txs, rxs, "operation_enabled", ENABLE_TICKS)
            if enable_ticks >= ENABLE_TICKS:
                raise DeviceTimeout(f"G1 rig: drives not OPERATION ENABLED after {ENABLE_TICKS} ticks: {states}")

            def update(t_s: float, dt_s: float) -> None:
                for b, (tx, rx) in enumerate(zip(txs, rxs)):
                    self._pd(rx, tx, q_meas, qd_meas, target, kp, kd, self.rated_nm, self.pos_cpr, self.vel_cpr, 6 * b)
                if s["k"] % decim == 0:  # the policy at 50 Hz, as deployed
                    o = obs.build(s["k"] * 0.001, self.data.qpos[3:7], self.data.qvel[3:6], q_meas, qd_meas)
                    a = self.policy.step(o)
                    obs.action[:] = a
                    np.multiply(a, dep.action_scale, out=target)
                    np.add(target, dep.default_angles, out=target)
                    trace[s["tr"]] = (s["k"] * 0.001, self.data.qpos[0], self.data.qpos[2])
                    s["tr"] += 1

            def write(t_s: float, dt_s: float) -> None:
                s["missing"] += self._exchange(txs, rxs, frozen=s["fell"])
                if not s["fell"]:
                    self._step_body()
                    s["tau_max"] = max(s["tau_max"], float(np.abs(self.data.ctrl[:n]).max()))
                    z = float(self.data.qpos[2])
                    s["zmin"] = min(s["zmin"], z)
                    s["fell"] = z < FALL_HEIGHT_M
                    if s["fell"]:
                        s["t_fall"] = (s["k"] + 1) * 0.001
                s["k"] += 1

            LoopRunner(1_000_000, LockstepClock(), update=update, write=write).run(walk_ticks)
        finally:  # whatever happened: every drive to SWITCH ON DISABLED before the buses close
            _, states = self._walk_drives(txs, rxs, "switch_on_disabled", DISABLE_TICKS)
        t_end = s.get("t_fall", walk_ticks * 0.001)
        dist = float(self.data.qpos[0]) - x0
        walk = WalkResult(dist, dist / t_end, s["fell"], s["zmin"], t_end, trace[: s["tr"]])
        frames = sum(t.stats.frames_tx + t.stats.frames_rx for t in self.transports)
        return BoardsWalk(walk, s["missing"], frames, enable_ticks, states, s["tau_max"], time.perf_counter() - wall0)

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
