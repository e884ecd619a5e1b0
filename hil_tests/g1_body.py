"""The G1 body as a lockstep HIL object: MuJoCo legs moved by joint modules behind emulated CAN-FD boards.

:class:`G1Body` is a plain Python object (``start`` / ``step`` / ``observe`` / faults / ``stop``)
that scenarios (:mod:`cerebellum_rt.hil_tests.g1_stand`, :mod:`cerebellum_rt.hil_tests.g1_rig`) and
the pytest plugin's ``robot`` fixture drive. Layers, host to body, all in one thread and one
virtual time base (lockstep, no board threads):

- host: writes joint targets into the RPDO rows of two :class:`~cerebellum_rt.drivers.can.CanTransport`
  (one per leg, CANopen FD packed PDOs: one command and one reply frame per joint and tick) and
  reads the boards' measurements from the TPDO rows.
- boards: the joint board's C image (``firmware="c"``, the default: the code that is flashed,
  :class:`~cerebellum_rt.drivers.board.cfirmware.FirmwareBoard`, its parameter flash in memory)
  or the Python board that specifies it (``firmware="python"``); the same frames either way.
- joint PD on the boards: every board runs CiA 402 CSP (0x6060 = 8) with its cascade gains
  (0x2010) set by SDO to ``position_kp = kp / kd`` [1/s], ``velocity_kp = kd`` [N m s/rad],
  ``velocity_ki = 0``: the board's loop then realises tau = kp (q* - q) + kd (qd* - qd) + tau_ff
  at its own loop rate (q* = 0x607A, qd* = 0x60B1 velocity offset, tau_ff = 0x60B2 torque
  offset), followed by the module's torque loop on its torque sensor, its reducer (compliance,
  backlash, friction) and its motor. The gains are saved in the boards' flash (0x1010) with the
  PDO mapping, so a board that resets comes back configured (the host only restarts it).
- buses: :class:`~cerebellum_rt.drivers.can.emulated.Medium` segments (1 / 5 Mbit/s CAN FD,
  exact frame times, seeded frame loss / corruption / delay) on a virtual clock per bus. A tick:
  the host sends SYNC + RPDOs at t, the bus runs until they are on the wire, every board
  handles them (sample -> TPDO, RPDO, CiA 402 law, module command), the bus runs until the
  replies are delivered, the host reads them. Before the cyclic phase the boards are configured
  by SDO while a pump thread serves the buses (the body held still).
- joint modules: one :class:`~cerebellum_rt.actuators.joint.bank.JointBank` (firmware cascade,
  FOC, motor, reducer, encoders, torque sensor of every joint advanced by one numba call per
  tick), each module coupled to its MuJoCo joint (:meth:`JointBank.couple_loads`: angle,
  velocity, apparent inertia probed with the feet's contacts, rest-of-body torque), the modules'
  reflected inertia being MuJoCo's armature and their friction the modules' (MuJoCo's zeroed).
- MuJoCo at 1 kHz; the IMU (base orientation, angular velocity) is read from MuJoCo.

A board reset (:meth:`G1Body.reset_board`) power-cycles the board (boot-up, pre-operational,
saved parameters) and turns its power stage off, as an MCU reset does to its PWM outputs; the
host sees the missing replies and the boot-up frame.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cerebellum_rt.hil_tests.g1_walk import load_deploy, load_model, robot_files
from cerebellum_rt.rtcore.errors import ConfigError, DeviceTimeout, check_range

LEG_PRESETS = ("hip", "knee", "hip", "knee", "ankle", "ankle")  # per leg, in the model's joint order
BUS_NAMES = ("left_hip", "left_knee_ankle", "right_hip", "right_knee_ankle")  # model order, 3 joints each
JPB = 3  # joints (boards) per bus
BUS_BITRATE, BUS_DATA_BITRATE = 1_000_000, 5_000_000
PERIOD_S = 0.001
MODE_CSP = 8
PROBE_NM = 1.0  # torque of the apparent-inertia probe
ENABLE_TICKS = 200
DISABLE_TICKS = 20
SDO_TIMEOUT_S = 1.0
SW_MASK, SW_ENABLED = 0x6F, 0x27  # CiA 402 statusword pattern of OPERATION ENABLED
CW_ENABLE_OPERATION = 0x0F
PUMP_STEP_S = 100e-6  # virtual time the setup pump advances per round


class VirtualClock:
    """A settable clock (seconds) for a bus and its boards."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class _BankSlot:
    """A board's view of its module inside the bank: everything is the module's except
    ``advance``, which the bank does for all joints at once after the boards' cycles."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def advance(self, period_s: float = PERIOD_S) -> None:
        if abs(period_s - PERIOD_S) > 1e-12:
            raise ConfigError(f"G1 body: board cycle {period_s} s, the bank advances {PERIOD_S} s per tick")


@dataclass
class G1State:
    """What the host knows after a tick (joint values from the boards' TPDOs, IMU from MuJoCo)
    and the body's ground truth (pelvis position) for scenario assertions."""

    t_s: float
    q: np.ndarray  # [rad] joint positions, model order
    qd: np.ndarray  # [rad/s]
    tau: np.ndarray  # [N m] torque sensors
    states: list[str]  # CiA 402 state per joint
    fresh: np.ndarray  # bool per joint: its reply arrived this tick
    quat_wxyz: np.ndarray
    ang_vel: np.ndarray
    pelvis: np.ndarray  # ground truth [m]


@dataclass
class BodyStats:
    ticks: int = 0
    missed_replies: int = 0
    split_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("host", "bus", "boards", "physics"), 0.0))


class G1Body:
    """The lockstep G1 legs rig (see module doc). ``with G1Body(robot_dir) as body: body.start(kp, kd)``
    then ``body.step(q_ref)`` per 1 ms tick and ``body.observe()``.

    ``probe_every``: ticks between apparent-inertia probes (12 constrained forward solves);
    ``firmware``: what the boards run: "c" (the joint board's C image) or "python" (the Python
    board, the device's specification, its CiA 402 law under numba).
    ``fast=False`` is the reference the benchmark compares against: no acceptance filters on the
    boards' controllers (every board handles every frame of its bus) and every module coupled and
    advanced one by one inside its board's cycle instead of one batched call per tick."""

    def __init__(self, robot_dir: str | Path | None = None, seed: int = 0, probe_every: int = 5,
                 firmware: str = "c", fast: bool = True, robot: str = "g1_12dof") -> None:
        import mujoco

        from cerebellum_rt.actuators.joint import load_preset
        from cerebellum_rt.actuators.joint.bank import JointBank
        from cerebellum_rt.drivers import od
        from cerebellum_rt.drivers.board import JointBoard
        from cerebellum_rt.drivers.board.cfirmware import FirmwareBoard
        from cerebellum_rt.drivers.can import CanTransport, layout
        from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium
        from cerebellum_rt.hil_tests.g1_models import MODELS, load_g1_29, preset_name

        check_range("G1 body probe_every", probe_every, 1, 1000, "ticks")
        if firmware not in ("c", "python"):
            raise ConfigError(f"G1 body: firmware '{firmware}' is not one of ['c', 'python']")
        self.firmware = firmware
        if robot not in MODELS:
            raise ConfigError(f"G1 body: robot '{robot}' is not one of {MODELS}")
        self.robot = robot
        if robot == "g1_12dof":
            self.dir: Path | None = robot_files(robot_dir)
            self.dep = load_deploy(self.dir)
            if self.dep.num_actions != 2 * len(LEG_PRESETS):
                raise ConfigError(f"{self.dir}/g1.yaml: num_actions {self.dep.num_actions}, the G1 body drives "
                                  f"{2 * len(LEG_PRESETS)} leg joints")
            self.model, self.data = load_model(self.dir, PERIOD_S)
        else:
            self.dir, self.dep = None, None
            self.model, self.data = load_g1_29(PERIOD_S)
        m = self.model
        n = self.n = int(m.nu)
        self.dofs = np.arange(6, 6 + n)
        self.joint_names = [m.joint(int(m.dof_jntid[d])).name.removesuffix("_joint") for d in self.dofs]
        self.bus_names = BUS_NAMES if robot == "g1_12dof" else tuple(f"bus{b}" for b in range(-(-n // JPB)))
        m.dof_frictionloss[self.dofs] = 0.0  # the modules carry the friction
        presets = []
        for i in range(n):
            lo, hi = (float(x) for x in m.jnt_range[int(m.dof_jntid[6 + i])])
            p = load_preset(preset_name(self.joint_names[i]))
            presets.append(replace(p, limits=replace(p.limits, position_min_rad=lo, position_max_rad=hi)))
        self.bank = JointBank(presets, seeds=[seed * 100 + i for i in range(n)],
                              initial_positions_rad=[float(x) for x in self.data.qpos[7:7 + n]])
        self.armature = np.array([p.reflected_inertia_kg_m2 for p in presets])
        m.dof_armature[self.dofs] = self.armature
        mujoco.mj_forward(m, self.data)
        self.probe_every = int(probe_every)
        self.fast = bool(fast)
        self._app = np.ones(n)  # apparent inertia per joint (with armature) [kg m^2]
        self._w0 = np.zeros(n)
        self._ext = np.zeros(n)
        self._theta = np.zeros(n)
        self._load = np.zeros(n)
        self._wout = np.zeros(n)
        self.pos_cpr, self.vel_cpr = float(od.POSITION_COUNTS_PER_RAD), float(od.VELOCITY_COUNTS_PER_RAD_S)
        self.rated_nm = np.array([p.rated_torque_nm for p in presets])
        self.clocks = [VirtualClock() for _ in self.bus_names]
        self.media, self.boards, self.transports, self._buses = [], [], [], []
        self._eps: list[list[Any]] = []
        self._closed = False
        lay = layout.packed(layout.board_layout("joint"))
        try:
            for b, name in enumerate(self.bus_names):
                med = Medium(f"g1-{name}-{id(self)}", BUS_BITRATE, True, BUS_DATA_BITRATE, clock=self.clocks[b])
                self.media.append(med)
                eps = []
                nodes = range(1, min(JPB, n - b * JPB) + 1)
                for k in nodes:
                    bus = EmulatedBus(medium_=med, name=f"node{k}")
                    if fast:
                        bus.set_filters(_board_filters(k))  # the controller's acceptance filter
                    self._buses.append(bus)
                    eps.append(bus.endpoint)
                    j = b * JPB + k - 1
                    plant = _BankSlot(self.bank[j]) if fast else self.bank[j]
                    kind = FirmwareBoard if firmware == "c" else JointBoard
                    self.boards.append(kind(k, bus, plant, fd=True, serial_number=j + 1, clock=self.clocks[b],
                                            threaded=False))
                self._eps.append(eps)
                host = EmulatedBus(medium_=med, name="host")
                self._buses.append(host)
                self.transports.append(CanTransport(host, nodes=nodes, board=lay, sync=True,
                                                    timeout_s=1e-6, fd=True))
        except BaseException:
            self.close()
            raise
        self.txs = [t.tx_array() for t in self.transports]
        self.rxs = [t.rx_array() for t in self.transports]
        self._t_host, self._t_reply = self._wire_times()
        self.stats = BodyStats()
        self.tick = 0
        self._tick0 = 0
        self.frozen = True
        self.events: list[tuple[float, str]] = []  # faults injected (virtual time, text)

    # --- bus timing ---------------------------------------------------------------------------
    def _wire_times(self) -> tuple[float, float]:
        """Seconds the host's frames (SYNC + RPDOs) and the boards' replies occupy one bus."""
        from cerebellum_rt.drivers.can.codec import FLAG_BRS, FLAG_FD

        med, t = self.media[0], self.transports[0]
        fl = FLAG_FD | FLAG_BRS
        rsize = sum(p.size for p in t.rpdos if p.enabled)
        tsize = sum(p.size for p in t.tpdos if p.enabled)
        host = med.wire_time((0x80, 0, b"")) + JPB * med.wire_time((0x201, fl, bytes(_fd_len(rsize))))
        reply = JPB * med.wire_time((0x181, fl, bytes(_fd_len(tsize))))
        if host + reply > 0.8 * PERIOD_S:
            raise ConfigError(f"G1 body: one tick's frames take {(host + reply) * 1e6:.0f} us on a bus, "
                              f"more than 80 % of the {PERIOD_S * 1e6:.0f} us period")
        return host, reply

    # --- set-up (slow path; the body is held) --------------------------------------------------
    def place(self, q: np.ndarray) -> None:
        """Before :meth:`start`: put the legs at joint angles ``q`` with the pelvis level, its
        height such that the lowest foot contact point is 1 mm above the floor."""
        import mujoco

        from cerebellum_rt.hil_tests.g1_posture import pelvis_height

        if self.tick:
            raise ConfigError("G1 body: place() comes before start()")
        q = np.asarray(q, np.float64)
        if q.shape != (self.n,):
            raise ConfigError(f"G1 body: place needs {self.n} joint angles, got {q.size}")
        d = self.data
        d.qpos[:] = 0.0
        d.qpos[3] = 1.0
        d.qpos[7:7 + self.n] = q
        d.qpos[2] = pelvis_height(self.model, q) + 0.001
        d.qvel[:] = 0.0
        mujoco.mj_forward(self.model, d)

    def _pump(self, stop: threading.Event) -> None:
        while not stop.is_set():
            for b, clk in enumerate(self.clocks):
                clk.t += PUMP_STEP_S
                for board in self.boards[b * JPB:(b + 1) * JPB]:
                    board.poll()
            time.sleep(50e-6)

    def start(self, kp: np.ndarray, kd: np.ndarray) -> int:
        """Configure every board by SDO (cycle 1 ms, packed PDOs, CSP, PD gains kp [N m/rad] and
        kd [N m s/rad] as cascade gains, all saved to flash), NMT start, then enable every drive
        through CiA 402 with the body held at its current pose. Returns the enable ticks."""
        kp, kd = np.asarray(kp, np.float64), np.asarray(kd, np.float64)
        if kp.shape != (self.n,) or kd.shape != (self.n,):
            raise ConfigError(f"G1 body: kp and kd need {self.n} values each, got {kp.size} and {kd.size}")
        for i in range(self.n):
            check_range(f"G1 body kp[{self.joint_names[i]}]", float(kp[i]), 1.0, 2000.0, "N m/rad")
            check_range(f"G1 body kd[{self.joint_names[i]}]", float(kd[i]), 0.05, 100.0, "N m s/rad")
        stop = threading.Event()
        pump = threading.Thread(target=self._pump, args=(stop,), name="g1-setup-pump", daemon=True)
        pump.start()
        try:
            for b, t in enumerate(self.transports):
                t.start(period_us=round(PERIOD_S * 1e6), timeout_s=SDO_TIMEOUT_S)
                for k, node in enumerate(t.nodes):
                    j = b * JPB + k
                    t.sdo_write(node, 0x2010, 1, float(kp[j] / kd[j]), SDO_TIMEOUT_S)
                    t.sdo_write(node, 0x2010, 2, float(kd[j]), SDO_TIMEOUT_S)
                    t.sdo_write(node, 0x2010, 3, 0.0, SDO_TIMEOUT_S)
                    t.sdo_write(node, 0x6060, 0, MODE_CSP, SDO_TIMEOUT_S)
                    t.sdo_write(node, 0x1010, 1, 0x65766173, SDO_TIMEOUT_S)  # "save": gains + mapping survive a reset
        finally:
            stop.set()
            pump.join()
        # the cyclic phase starts at the next whole virtual second: how long the SDO set-up took in
        # wall time never shifts the boards' timers (heartbeats) against the ticks (determinism)
        t0 = max(c.t for c in self.clocks)
        self.tick = round(math.ceil(t0 + PERIOD_S) / PERIOD_S)
        q = self.data.qpos[7:7 + self.n]
        for b, tx in enumerate(self.txs):
            sl = slice(b * JPB, (b + 1) * JPB)
            tx["modes_of_operation"] = MODE_CSP
            tx["target_position"] = np.round(q[sl] * self.pos_cpr)
            tx["velocity_offset"] = 0
            tx["torque_offset"] = 0
        self.frozen = True
        self._exchange()
        ticks, states = self._drive_to("operation_enabled", ENABLE_TICKS)
        if ticks >= ENABLE_TICKS:
            raise DeviceTimeout(f"G1 body: drives not OPERATION ENABLED after {ENABLE_TICKS} ticks: {states}")
        self._tick0 = self.tick
        return ticks

    @property
    def time_s(self) -> float:
        """Virtual time since the drives were enabled (the scenario's clock)."""
        return (self.tick - self._tick0) * PERIOD_S

    def _drive_to(self, goal: str, budget: int) -> tuple[int, list[str]]:
        """Body held: step every drive's CiA 402 state machine toward ``goal``; (ticks, states)."""
        from cerebellum_rt.drivers.cia402 import decode_state

        states: list[str] = []
        for k in range(budget):
            states = [decode_state(int(sw)) for rx in self.rxs for sw in rx["statusword"]]
            if all(st == goal for st in states):
                return k, states
            self._controlwords(goal)
            self._exchange()
        return budget, states

    def _controlwords(self, goal: str) -> None:
        from cerebellum_rt.drivers.cia402 import next_controlword

        for tx, rx in zip(self.txs, self.rxs):
            if goal == "operation_enabled" and ((rx["statusword"] & SW_MASK) == SW_ENABLED).all():
                tx["controlword"] = CW_ENABLE_OPERATION  # the fast path: every drive on
                continue
            for i in range(len(rx)):
                tx[i]["controlword"] = next_controlword(int(rx[i]["statusword"]), goal)

    # --- the tick -----------------------------------------------------------------------------
    def _couple(self) -> None:
        import mujoco

        d, m, n = self.data, self.model, self.n
        if self.frozen:
            self._app[:] = self.armature + 1.0
            self._w0[:] = 0.0
            self._ext[:] = 0.0
        else:
            # apparent inertia of each joint with the body as it is (free trunk, feet in contact):
            # 1 / (d qacc_i / d tau_i), one constrained forward solve per joint, every probe_every ticks
            if self.tick % self.probe_every == 0:
                mujoco.mj_forward(m, d)
                base = d.qacc[self.dofs].copy()
                for i, dof in enumerate(self.dofs):
                    d.qfrc_applied[dof] = PROBE_NM
                    mujoco.mj_forward(m, d)
                    d.qfrc_applied[dof] = 0.0
                    self._app[i] = PROBE_NM / max(float(d.qacc[dof] - base[i]), 1e-9)
                mujoco.mj_forward(m, d)
            np.negative(d.qfrc_bias[6:6 + n], out=self._ext)  # gravity, Coriolis of the last step
            self._w0[:] = d.qvel[6:6 + n]
        self._theta[:] = d.qpos[7:7 + n]
        np.subtract(self._app, self.armature, out=self._load)
        np.maximum(self._load, 1e-6, out=self._load)
        if self.fast:
            self.bank.couple_loads(self._theta, self._w0, self._load, self._ext)
        else:
            for i, mod in enumerate(self.bank.modules):
                mod.couple_load(float(self._theta[i]), float(self._w0[i]), float(self._load[i]), float(self._ext[i]))

    def _settle(self, b: int) -> None:
        """Lockstep bus ``b``: its frames onto the wire, its boards' cycles, their replies delivered."""
        t0 = time.perf_counter()
        clk, t = self.clocks[b], self.tick * PERIOD_S
        clk.t = t + self._t_host + 2e-6
        self.media[b].has_rx(self._eps[b][0])  # run the bus up to now
        t1 = time.perf_counter()
        for board in self.boards[b * JPB:(b + 1) * JPB]:
            board.poll()
        t2 = time.perf_counter()
        clk.t = min(t + self._t_host + self._t_reply + 150e-6, t + 0.98 * PERIOD_S)
        sp = self.stats.split_s
        sp["bus"] += t1 - t0
        sp["boards"] += t2 - t1

    def _exchange(self) -> int:
        sp = self.stats.split_s
        t0 = time.perf_counter()
        self._couple()
        t1 = time.perf_counter()
        missing = 0
        for b, (t, tx, rx) in enumerate(zip(self.transports, self.txs, self.rxs)):
            self.clocks[b].t = self.tick * PERIOD_S
            t.cycle_send(tx, rx)
            self._settle(b)  # the virtual bus carries the frames and the boards answer
            missing += t.cycle_collect()
        t2 = time.perf_counter()
        if self.fast:
            self.bank.advance(PERIOD_S)
        t3 = time.perf_counter()
        sp["physics"] += (t1 - t0) + (t3 - t2)
        self.tick += 1
        self.stats.missed_replies += missing
        return missing

    def step(self, q_ref: np.ndarray, qd_ref: np.ndarray | None = None, tau_ff: np.ndarray | None = None) -> int:
        """One 1 ms lockstep tick with joint targets (CSP position, velocity and torque
        feed-forward, model order); the drives' controlwords keep (or bring back) every drive in
        OPERATION ENABLED. Returns the replies missed this tick."""
        import mujoco

        t0 = time.perf_counter()
        sp = self.stats.split_s
        inner = sp["bus"] + sp["boards"] + sp["physics"]
        self._write_targets(q_ref, qd_ref, tau_ff)
        self._controlwords("operation_enabled")
        self.frozen = False
        missing = self._exchange()
        t1 = time.perf_counter()
        np.copyto(self._wout, self.bank.output_velocities())
        d = self.data
        d.ctrl[:self.n] = self._app * (self._wout - self._w0) / PERIOD_S - self._ext  # the actuators' impulse
        mujoco.mj_step(self.model, d)
        t2 = time.perf_counter()
        self.stats.ticks += 1
        sp["physics"] += t2 - t1
        sp["host"] += (t2 - t0) - (sp["bus"] + sp["boards"] + sp["physics"] - inner)
        return missing

    def _write_targets(self, q_ref: np.ndarray, qd_ref: np.ndarray | None, tau_ff: np.ndarray | None) -> None:
        L = JPB
        for b, tx in enumerate(self.txs):
            sl = slice(b * L, (b + 1) * L)
            tx["modes_of_operation"] = MODE_CSP
            tx["target_position"] = np.round(np.asarray(q_ref[sl]) * self.pos_cpr)
            tx["velocity_offset"] = 0 if qd_ref is None else np.round(np.asarray(qd_ref[sl]) * self.vel_cpr)
            if tau_ff is None:
                tx["torque_offset"] = 0
            else:
                pm = np.round(1000.0 * np.asarray(tau_ff[sl]) / self.rated_nm[sl])
                tx["torque_offset"] = np.clip(pm, -32768, 32767)

    # --- what the host sees -------------------------------------------------------------------
    def _field(self, name: str, out: np.ndarray) -> np.ndarray:
        for b, rx in enumerate(self.rxs):
            out[b * JPB:(b + 1) * JPB] = rx[name]
        return out

    def measured_q(self, out: np.ndarray | None = None) -> np.ndarray:
        """Joint positions from the boards' last replies [rad] (the host's view)."""
        out = np.zeros(self.n) if out is None else out
        self._field("position_actual", out)
        out /= self.pos_cpr
        return out

    def fresh(self) -> np.ndarray:
        """Per joint: its reply arrived this tick."""
        f = self._field("fresh", np.zeros(self.n, np.int64))
        return f == self.transports[0].fresh_all

    def enabled(self) -> np.ndarray:
        """Per joint: its last statusword says OPERATION ENABLED."""
        return (self._field("statusword", np.zeros(self.n, np.int64)) & SW_MASK) == SW_ENABLED

    def observe(self) -> G1State:
        from cerebellum_rt.drivers.cia402 import decode_state

        sw = self._field("statusword", np.zeros(self.n, np.int64))
        return G1State(
            t_s=self.time_s,
            q=self.measured_q(),
            qd=self._field("velocity_actual", np.zeros(self.n)) / self.vel_cpr,
            tau=self._field("torque_sensor", np.zeros(self.n)) / 1000.0,
            states=[decode_state(int(x)) for x in sw],
            fresh=self.fresh(),
            quat_wxyz=self.data.qpos[3:7].copy(),
            ang_vel=self.data.qvel[3:6].copy(),
            pelvis=self.data.qpos[0:3].copy(),
        )

    def joint_index(self, name: str) -> int:
        """Model index of a joint by name ('left_knee' or 'left_knee_joint')."""
        key = name.removesuffix("_joint")
        if key not in self.joint_names:
            raise ConfigError(f"G1 body: joint '{name}' is not one of {self.joint_names}")
        return self.joint_names.index(key)

    def node_of(self, joint: int) -> tuple[int, int]:
        """(bus index, node id) of a joint's board."""
        return joint // JPB, joint % JPB + 1

    # --- faults -------------------------------------------------------------------------------
    def set_frame_loss(self, bus: str, fraction: float) -> None:
        """Every frame on ``bus`` (one of ``bus_names``) is lost with probability ``fraction``
        (the medium's seeded generator: the same run loses the same frames)."""
        if bus not in self.bus_names:
            raise ConfigError(f"G1 body: bus '{bus}' is not one of {self.bus_names}")
        check_range(f"frame loss on {bus}", fraction, 0.0, 1.0)
        med = self.media[self.bus_names.index(bus)]
        med.faults = replace(med.faults, drop=float(fraction))
        self.events.append((self.time_s, f"frame loss {fraction:.2%} on {bus}"))

    def reset_board(self, joint: str) -> None:
        """The board of ``joint`` resets (see module doc): power stage off, CANopen reboot."""
        j = self.joint_index(joint)
        b, node = self.node_of(j)
        meas = self.bank[j].read()
        self.bank[j].command(MODE_CSP, float(meas.position_rad), 0.0, 0.0, False)
        self.boards[j].power_cycle()
        self.events.append((self.time_s, f"board reset: {self.joint_names[j]} (bus {self.bus_names[b]}, node {node})"))

    def nmt_start(self, joint: int) -> None:
        """Host: NMT start (operational) to one joint's board (after it rebooted)."""
        import can

        b, node = self.node_of(joint)
        self.transports[b].send(can.Message(arbitration_id=0x000, data=bytes((0x01, node)), is_extended_id=False))

    # --- end ----------------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Every drive to SWITCH ON DISABLED (body held). Returns the final states."""
        if self._closed:
            return []
        self.frozen = True
        _, states = self._drive_to("switch_on_disabled", DISABLE_TICKS)
        return states

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for board in self.boards:
            board.close()
        for t in self.transports:
            t.close()
        for bus in self._buses:
            bus.shutdown()

    def __enter__(self) -> G1Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _board_filters(node: int) -> list[dict[str, Any]]:
    """What a joint board's CAN controller accepts: NMT, SYNC, its RPDOs and its SDO requests."""
    ids = (0x000, 0x080, 0x200 + node, 0x300 + node, 0x400 + node, 0x500 + node, 0x600 + node)
    return [{"can_id": i, "can_mask": 0x7FF, "extended": False} for i in ids]


def _fd_len(n: int) -> int:
    """CAN FD frame length carrying ``n`` bytes."""
    for size in (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64):
        if size >= n:
            return size
    raise ConfigError(f"{n} bytes do not fit one CAN FD frame")
