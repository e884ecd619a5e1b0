"""The foundation scenario: one joint module, enabled through CiA 402, tracking a trajectory in CSP at 1 kHz.

Layers, bottom up: the joint module plant + firmware law (``cerebellum_rt.actuators.joint``) inside an emulated
CANopen board (``cerebellum_rt.drivers.board``) on a python-can bus; the host drives it through one batched
PDO exchange per tick (``cerebellum_rt.drivers.can.CanTransport``) from an ``rtcore`` loop whose update step is
numba-compiled and warmed up before the loop starts.

Tick k (``write`` = the exchange): the host sends RPDOs computed in tick k-1 and a SYNC; the
board replies with the state sampled at that SYNC, then applies the new targets for one period.
The update of tick k reads the reply of tick k-1's exchange, i.e. the state produced by the
target sent in tick k-2; the tracking error is ``target[k-2] - position_actual[k]`` at the output.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cerebellum_rt.hil_tests.rig import DEFAULT_FIRMWARE, FIRMWARES
from cerebellum_rt.hil_tests.trajectory import Trajectory, default_move, load_csv
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError, check_range

MODE_CSP = 8
ENABLE_BUDGET = 100  # ticks allowed to reach OPERATION ENABLED (a drive needs ~3)
DISABLE_TICKS = 50  # ticks after tracking to disable and confirm SWITCH ON DISABLED
PRIME_TICKS = 20  # idle exchanges allowed before the loop to get 3 clean replies in a row
LOSS_BUDGET = 0.01  # default: lost replies (of those expected) and loop overruns (of the cycles) allowed

# Log columns, one row per tick (preallocated).
LOG_COLUMNS = (
    "t_s", "target_rad", "position_rad", "velocity_rad_s",
    "torque_sensor_nm", "torque_demand_nm", "current_a", "statusword", "phase",
)
PHASE_ENABLE, PHASE_TRACK, PHASE_DISABLE = 0, 1, 2


@dataclass
class DemoConfig:
    """What `cbl demo` asks for; validated by :meth:`validate`."""

    seconds: float = 5.0
    lockstep: bool = False
    interface: str = "virtual"
    channel: str = "cbl-demo"
    bitrate: int = 1_000_000
    node: int = 1
    preset: str = "knee"
    trajectory: str | None = None
    emulate: bool | None = None  # None: emulate the board when the bus is in-process ('virtual')
    period_us: int = 1000
    plot: str | None = None
    rt: bool = True
    strict_rt: bool = False
    # the emulated board's firmware: c, python (the specification), qemu; None: the rig's default
    # (DEFAULT_FIRMWARE, the C image) when this run emulates the board
    firmware: str | None = None
    loss_budget: float = LOSS_BUDGET
    progress: Callable[[str], None] | None = None  # told once, when tracking starts

    def validate(self) -> None:
        """Every input checked before the run (one-line ConfigError): figures, the emulated
        board's interface (both ends of one bus must be in this process: 'virtual' or
        'emulated'; an slcan pty has one client end), the trajectory file, the plot path (a
        .png in a writable directory, so results are never lost after the run)."""
        check_range("--seconds", self.seconds, 0.1, 3600.0, "s")
        check_range("--node", self.node, 1, 127)
        check_range("--period-us", self.period_us, 250, 100_000, "µs")
        check_range("--bitrate", self.bitrate, 10_000, 8_000_000, "bit/s")
        check_range("--loss-budget", self.loss_budget, 0.0, 1.0)
        if self.firmware is not None and self.firmware not in FIRMWARES:
            raise ConfigError(f"--firmware {self.firmware!r}: not one of {list(FIRMWARES)}")
        if self.firmware is not None and not self.board_emulated:
            raise ConfigError(f"--firmware {self.firmware}: chooses the emulated board's firmware, and this run "
                              "emulates no board (--no-emulate or a non-virtual interface): start "
                              f"`cbl emulate --firmware {self.firmware}` instead")
        if self.board_emulated and self.interface not in ("virtual", "emulated"):
            raise ConfigError(f"--emulate on interface '{self.interface}': the emulated board needs an in-process "
                              "bus (-i virtual or -i emulated); for slcan run `cbl emulate` and pass --no-emulate")
        if self.trajectory is not None and Path(self.trajectory).is_dir():
            raise ConfigError(f"--trajectory {self.trajectory}: is a directory, not a CSV file")
        if self.plot is not None:
            check_plot_path(self.plot)

    @property
    def board_firmware(self) -> str | None:
        """The emulated board's firmware (``firmware``, else the default); None: no board emulated."""
        if not self.board_emulated:
            return None
        return self.firmware or DEFAULT_FIRMWARE

    @property
    def board_emulated(self) -> bool:
        return self.interface == "virtual" if self.emulate is None else self.emulate


@dataclass
class DemoResult:
    figures: dict[str, Any]
    log: np.ndarray  # (cycles, len(LOG_COLUMNS))
    extra: dict[str, Any] = field(default_factory=dict)


class DemoInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM ended the run; the drive guard's stop has already run. ``signal``:
    'SIGINT' or 'SIGTERM'; ``report``: what the guard left each enabled node in."""

    def __init__(self, signal: str, report: str) -> None:
        super().__init__(signal)
        self.signal, self.report = signal, report


def over_budget(figures: dict[str, Any], budget: float) -> str:
    """'' when the run's lost replies and loop overruns are within ``budget`` (a fraction of the
    replies expected, resp. of the cycles), else one line naming each count and its limit."""
    bad = []
    limit = int(budget * figures["expected_replies"])
    if figures["missed_replies"] > limit:
        bad.append(f"{figures['missed_replies']} of {figures['expected_replies']} replies lost "
                   f"(budget {budget:g} = {limit})")
    limit = int(budget * figures["cycles"])
    if figures["overruns"] > limit:
        bad.append(f"{figures['overruns']} of {figures['cycles']} cycles overran (budget {budget:g} = {limit})")
    return "; ".join(bad)


def _track_kernel():
    """The numba-compiled update step (imported lazily; numba is imported in rtcore.jit only)."""
    from cerebellum_rt.rtcore.jit import njit

    @njit(cache=False)
    def track_step(k, j, tx, rx, pos, vel, counts_per_rad, log, t_s, cw, phase, rated_torque_nm, rated_current_a):
        """One tick: setpoint j of the trajectory into the RPDO row, tick k's measurements into the log."""
        r = rx[0]
        x = tx[0]
        x.controlword = cw
        x.modes_of_operation = 8
        if phase == 1:
            x.target_position = np.int32(np.round(pos[j] * counts_per_rad))
            x.velocity_offset = np.int32(np.round(vel[j] * counts_per_rad))
        log[k, 0] = t_s
        log[k, 1] = pos[j]
        log[k, 2] = r.position_actual / counts_per_rad
        log[k, 3] = r.velocity_actual / counts_per_rad
        log[k, 4] = r.torque_sensor * 1e-3
        log[k, 5] = r.torque_demand * 1e-3 * rated_torque_nm
        log[k, 6] = r.current_actual * 1e-3 * rated_current_a
        log[k, 7] = r.statusword
        log[k, 8] = phase

    return track_step


def _load_trajectory(cfg: DemoConfig, dt: float) -> Trajectory:
    if cfg.trajectory is None:
        return default_move(cfg.seconds, dt)
    return load_csv(cfg.trajectory, dt, cfg.seconds)


def run_demo(cfg: DemoConfig) -> DemoResult:
    """Bring up the bus (and the emulated board), enable, track, disable; return figures and the log."""
    from cerebellum_rt.drivers import od
    from cerebellum_rt.drivers.can import CanTransport, open_bus
    from cerebellum_rt.drivers.tune.guard import DriveGuard

    cfg.validate()
    dt = cfg.period_us * 1e-6
    traj = _load_trajectory(cfg, dt)
    counts_per_rad = float(od.POSITION_COUNTS_PER_RAD)

    stack: list[Any] = []
    board = None
    world = None
    try:
        if cfg.lockstep and cfg.board_emulated:
            # Deterministic: board, bus and host in one virtual time (hil_tests.lockstep); the same
            # figures and frame counts whatever numba compiled or loaded from its cache.
            from cerebellum_rt.actuators.joint import JointModule, load_preset
            from cerebellum_rt.drivers.can.transport import joint_limits
            from cerebellum_rt.hil_tests.emulator import make_board
            from cerebellum_rt.hil_tests.lockstep import SdoClient, World
            from cerebellum_rt.hil_tests.rig import BoardSpec

            world = World(lockstep=True)
            medium = world.add_bus(cfg.channel, cfg.bitrate)
            board_bus = world.board_bus(medium, f"node{cfg.node}")
            stack.append(board_bus)
            board = make_board(BoardSpec(cfg.node, "joint", cfg.preset, cfg.board_firmware), board_bus,
                               module=JointModule(load_preset(cfg.preset), seed=0), threaded=False, clock=world.clock)
            world.add_board(board, board_bus)
            stack.append(board)
            host_bus = world.host_bus(medium)
            host_bus.reply_window_ns = cfg.period_us * 1000
            stack.append(host_bus)
            transport = CanTransport(host_bus, nodes=[cfg.node], board="joint", sync=True, timeout_s=0.002,
                                     listen=False)
            stack.append(transport)
            sdo = SdoClient(host_bus, lambda n: board.table)
            limits = joint_limits(lambda i, sub: sdo.read(cfg.node, i, sub))
        else:
            host_bus = open_bus(cfg.interface, cfg.channel, bitrate=cfg.bitrate)
            stack.append(host_bus)
            if cfg.board_emulated:
                from cerebellum_rt.actuators.joint import JointModule, load_preset
                from cerebellum_rt.hil_tests.emulator import make_board
                from cerebellum_rt.hil_tests.rig import BoardSpec

                module = JointModule(load_preset(cfg.preset), seed=0)
                board_bus = open_bus(cfg.interface, cfg.channel, bitrate=cfg.bitrate)
                stack.append(board_bus)
                board = make_board(BoardSpec(cfg.node, "joint", cfg.preset, cfg.board_firmware), board_bus, module=module)
                stack.append(board)
            # Real time: the replies must be in before most of the period has gone, or they count
            # as missed; a lockstep run against a board elsewhere waits as long as it takes.
            timeout_s = 2.0 if cfg.lockstep else 0.8 * dt
            transport = CanTransport(host_bus, nodes=[cfg.node], board="joint", sync=True, timeout_s=timeout_s)
            stack.append(transport)
            limits = transport.read_limits(cfg.node)
        start = limits["position_actual_rad"]
        if cfg.trajectory is None:
            traj = Trajectory(dt, traj.position + start, traj.velocity, traj.source)
        elif abs(traj.position[0] - start) > 0.01:
            raise ConfigError(
                f"trajectory {traj.source} starts at {traj.position[0]:.4f} rad but joint {cfg.node} is at "
                f"{start:.4f} rad (more than 0.01 rad apart): start the file at the joint's position"
            )
        traj.check_limits(limits["min_position_rad"], limits["max_position_rad"],
                          limits["max_velocity_rad_s"], f"node {cfg.node}")
        rated_torque = limits["rated_torque_nm"]
        rated_current = limits["rated_current_a"]

        if world is not None:
            sdo.write(cfg.node, 0x1006, 0, cfg.period_us)
            sdo.nmt(0x01, cfg.node)  # NMT operational
            while host_bus.recv(0.0) is not None:  # boot-up, SDO leftovers: not the loop's frames
                pass
        else:
            transport.start(period_us=cfg.period_us)  # NMT operational, SYNC period
        tx, rx = transport.tx_array(), transport.rx_array()
        cycles = ENABLE_BUDGET + traj.cycles + DISABLE_TICKS
        log = np.zeros((cycles, len(LOG_COLUMNS)))
        track_step = _track_kernel()
        # Warm-up: compile for these array types on a scratch log row, outside the loop.
        track_step(0, 0, tx.copy(), rx.copy(), traj.position, traj.velocity, counts_per_rad,
                   np.zeros((1, len(LOG_COLUMNS))), 0.0, 0, 1, rated_torque, rated_current)
        tx["target_position"] = round(start * counts_per_rad)
        tx["modes_of_operation"] = MODE_CSP
        guard = DriveGuard(transport, tx, rx)
        stats, final_state, frames, s = _guarded_run(cfg, guard, transport, tx, rx, traj, log, cycles, track_step,
                                                     counts_per_rad, rated_torque, rated_current, board, world)
    finally:
        for obj in reversed(stack):
            obj.close() if hasattr(obj, "close") else obj.shutdown()

    figures = _figures(log, stats.summary(), frames, s["missing"], final_state, traj, cfg)
    figures["expected_replies"] = figures["cycles"] * transport.expected
    figures["firmware"] = cfg.board_firmware
    if cfg.plot is not None:
        figures["plot"] = str(plot_log(log, Path(cfg.plot), figures))
    return DemoResult(figures, log)


def _guarded_run(cfg: DemoConfig, guard: Any, transport: Any, tx: np.ndarray, rx: np.ndarray, traj: Trajectory,
                 log: np.ndarray, cycles: int, track_step: Any, counts_per_rad: float, rated_torque: float,
                 rated_current: float, board: Any, world: Any = None) -> tuple[Any, str, int, dict[str, Any]]:
    """Priming and the loop inside the drive guard: however they end (Ctrl-C, SIGTERM, an
    exception, a lost bus), the drive this run enabled is stopped and disabled before the
    transport closes. ``world``: the lockstep world the board runs in (None: a real-time or
    external board). Returns the loop's stats, the final CiA 402 state, the loop's frames and
    its counters."""
    from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
    from cerebellum_rt.rtcore.clock import LockstepClock, RealTimeClock
    from cerebellum_rt.rtcore.loop import LoopRunner
    from cerebellum_rt.rtcore.rt import RtConfig, raise_thread_priority

    s = {"k": 0, "j": 0, "phase": PHASE_ENABLE, "missing": 0, "enable_ticks": 0, "fault": ""}
    try:
        with guard:
            _prime_exchange(transport, tx, rx, cfg.node)
            frames0 = transport.stats.frames_tx + transport.stats.frames_rx  # count the loop's frames only

            t0_ns = 0 if world is None else (world.now_ns // (cfg.period_us * 1000) + 1) * cfg.period_us * 1000

            def read(t_s: float, dt_s: float) -> None:
                # measurements arrive with the exchange in write(); rx is read in update(); in
                # lockstep the world (board timers, frames in flight) runs up to this tick's start
                if world is not None:
                    world.advance_to(t0_ns + round(t_s * 1e9))

            def update(t_s: float, dt_s: float) -> None:
                k, phase = s["k"], s["phase"]
                if k >= cycles:
                    return
                sw = int(rx[0]["statusword"])
                if phase == PHASE_ENABLE:
                    guard.enabling(cfg.node)  # before the first controlword that leaves SWITCH ON DISABLED
                    state = decode_state(sw)
                    if state == "operation_enabled":
                        phase = s["phase"] = PHASE_TRACK
                        s["enable_ticks"] = k
                        if cfg.progress is not None:
                            cfg.progress(f"node {cfg.node} in OPERATION ENABLED after {k} ticks: tracking "
                                         f"{traj.cycles} cycles (Ctrl-C: controlled stop, then disabled)")
                    elif k >= ENABLE_BUDGET - 1:
                        phase = s["phase"] = PHASE_DISABLE
                        s["fault"] = f"node {cfg.node} did not reach OPERATION ENABLED in {ENABLE_BUDGET} ticks (state {state})"
                    cw = next_controlword(sw, "operation_enabled")
                elif phase == PHASE_TRACK:
                    cw = next_controlword(sw, "operation_enabled")
                    if s["j"] >= traj.cycles:
                        phase = s["phase"] = PHASE_DISABLE
                else:
                    cw = next_controlword(sw, "switch_on_disabled")
                    if decode_state(sw) == "switch_on_disabled":  # disabled by this run: nothing to guard
                        guard.released(cfg.node)
                j = min(s["j"], traj.cycles - 1)
                track_step(k, j, tx, rx, traj.position, traj.velocity, counts_per_rad, log, t_s, cw, phase,
                           rated_torque, rated_current)
                if phase == PHASE_TRACK:
                    s["j"] += 1

            def write(t_s: float, dt_s: float) -> None:
                s["missing"] += transport.cycle(tx, rx)
                s["k"] += 1

            clock = LockstepClock() if cfg.lockstep else RealTimeClock()
            rt = RtConfig(strict=cfg.strict_rt) if cfg.rt and not cfg.lockstep else None
            if rt is not None and board is not None and board.service_thread is not None:
                # A real board has a CPU of its own; the emulated one gets the priority just below
                # the loop's, so that the host's other threads cannot delay its reply to SYNC.
                raise_thread_priority(board.service_thread.native_id, rt.priority - 1, "emulated board", cfg.strict_rt)
            runner = LoopRunner(period_ns=cfg.period_us * 1000, clock=clock, read=read, update=update,
                                write=write, rt=rt)
            stats = runner.run(cycles)
            final_state = decode_state(int(rx[0]["statusword"]))
            if s["fault"]:
                raise DeviceError(s["fault"])
            frames = transport.stats.frames_tx + transport.stats.frames_rx - frames0
    except KeyboardInterrupt as exc:
        raise DemoInterrupted("SIGTERM" if exc.args == ("SIGTERM",) else "SIGINT", guard.report()) from None
    return stats, final_state, frames, s


def _prime_exchange(transport: Any, tx: np.ndarray, rx: np.ndarray, node: int) -> None:
    """Exchange idle ticks (controlword 0: no transition) until the board answers every SYNC in
    time, so that first-use costs (JIT compiles, caches) on either side stay out of the loop."""
    keep, clean = transport.timeout_s, 0
    transport.timeout_s = 2.0
    try:
        for _ in range(PRIME_TICKS):
            clean = clean + 1 if transport.cycle(tx, rx) == 0 else 0
            if clean == 3:
                break
        else:
            raise DeviceError(
                f"node {node} did not answer 3 SYNCs in a row within {PRIME_TICKS} ticks "
                f"(timeout {transport.timeout_s} s each): is it in NMT OPERATIONAL?"
            )
    finally:
        transport.timeout_s = keep


def _figures(log: np.ndarray, summary: dict, frames: int, missing: int, final_state: str,
             traj: Trajectory, cfg: DemoConfig) -> dict[str, Any]:
    track = log[log[:, 8] == PHASE_TRACK]
    # Row k holds the target sent in tick k's exchange and the measurement that tick's update read,
    # i.e. the reply to the previous tick's SYNC: the state produced by the target of row k-2.
    err = track[:-2, 1] - track[2:, 2] if len(track) > 2 else np.zeros(1)
    tq_err = track[:, 4] - track[:, 5]
    return {
        "tracking_rms_rad": float(np.sqrt(np.mean(err**2))),
        "tracking_max_rad": float(np.max(np.abs(err))),
        "torque_sensor_rms_nm": float(np.sqrt(np.mean(track[:, 4] ** 2))) if len(track) else 0.0,
        "torque_demand_rms_nm": float(np.sqrt(np.mean(track[:, 5] ** 2))) if len(track) else 0.0,
        "torque_sensor_vs_demand_rms_nm": float(np.sqrt(np.mean(tq_err**2))) if len(track) else 0.0,
        "peak_current_a": float(np.max(np.abs(track[:, 6]))) if len(track) else 0.0,
        "wake_p50_us": summary["wake_p50_us"],
        "wake_p99_us": summary["wake_p99_us"],
        "wake_max_us": summary["wake_max_us"],
        "step_p50_us": summary["step_p50_us"],
        "overruns": int(summary["overruns"]),
        "cycles": int(summary["cycles"]),
        "tracking_cycles": len(track),
        "frames": int(frames),
        "missed_replies": int(missing),
        "final_state": final_state,
        "lockstep": cfg.lockstep,
        "trajectory": traj.source,
        "node": cfg.node,
        "bus": f"{cfg.interface}:{cfg.channel}",
        "board": "emulated" if cfg.board_emulated else "external",
        "plot": None,
    }


def plot_log(log: np.ndarray, path: Path, figures: dict[str, Any]) -> Path:
    """Position, torque and current against time, as a PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    used = log[: figures["cycles"]]
    t = used[:, 0] - used[0, 0]
    fig, ax = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    ax[0].plot(t, used[:, 1], label="target")
    ax[0].plot(t, used[:, 2], "--", label="measured (output encoder)")
    ax[0].set_ylabel("position [rad]")
    ax[0].set_title(
        f"cbl demo: node {figures['node']} on {figures['bus']}, tracking RMS "
        f"{figures['tracking_rms_rad'] * 1e3:.3f} mrad, max {figures['tracking_max_rad'] * 1e3:.3f} mrad"
    )
    ax[1].plot(t, used[:, 5], label="commanded (torque demand)")
    ax[1].plot(t, used[:, 4], label="torque sensor")
    ax[1].set_ylabel("torque [N·m]")
    ax[2].plot(t, used[:, 6], label="q-axis current")
    ax[2].set_ylabel("current [A]")
    ax[2].set_xlabel("time [s]")
    for a in ax:
        a.grid(True, alpha=0.3)
        a.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def check_plot_path(plot: str) -> Path:
    """The plot path must end in .png and its directory must be (made) writable: checked before
    the run. Returns the path."""
    p = Path(plot)
    if p.suffix.lower() != ".png":
        raise ConfigError(f"--plot {plot}: must end in .png")
    if p.is_dir():
        raise ConfigError(f"--plot {plot}: is a directory")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--plot {plot}: cannot create {p.parent} ({exc.strerror})") from exc
    if not os.access(p.parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ConfigError(f"--plot {plot}: is not writable")
    return p


def default_plot_path() -> str:
    return str(Path.cwd() / "out" / "demo.png")


