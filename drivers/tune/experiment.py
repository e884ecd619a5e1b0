"""Experiments through the board's process data at 1 kHz: steps, chirps, relay feedback.

One run is one :class:`~cerebellum_rt.rtcore.loop.LoopRunner` loop (a lockstep clock on an
emulated board, the real-time clock otherwise) over :meth:`CanTransport.cycle`, inside a
:class:`~cerebellum_rt.drivers.tune.guard.DriveGuard`: phases

1. enable (CiA 402 walk, CSP holding the measured position);
2. move to the work position: the measured one, or at least ``WORK_MARGIN_RAD`` inside the
   software position limits (CSP ramp at ``MOVE_SPEED_RAD_S``), then settle;
3. the experiment: each tick a setpoint in the experiment's mode (CSP position, CSV velocity
   through 0x60B1, CST torque through 0x6071; impedance (-1): a torque perturbation through the
   torque offset 0x60B2 about q* = the work position), computed from the last measurement;
4. disable: quick stop, then SWITCH ON DISABLED.

Any limit hit (position outside the software limits, |velocity| over 0x6080, torque at the
0x6072 clamp for ``TORQUE_LIMIT_TICKS`` ticks, a fault, lost replies) ends phase 3 at once and
names the limit in :attr:`Capture.stopped`.

Log row k: the setpoint sent with SYNC k and the state the board sampled at SYNC k (before it
applied that setpoint), so the response to row k's setpoint starts in row k+1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cerebellum_rt.drivers import od
from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
from cerebellum_rt.drivers.tune.guard import DriveGuard
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

MODES = {"position": 8, "velocity": 9, "torque": 10, "impedance": od.MODE_IMPEDANCE}
SIGNAL_UNITS = {"position": "rad", "velocity": "rad/s", "torque": "N*m", "impedance": "N*m"}
MEASURED_COLUMN = {"position": 2, "velocity": 3, "torque": 4, "impedance": 2}
COLUMNS = ("t_s", "setpoint", "position_rad", "velocity_rad_s", "torque_sensor_nm", "torque_demand_nm",
           "current_a", "statusword", "phase")
PHASE_ENABLE, PHASE_MOVE, PHASE_RUN, PHASE_STOP = 0, 1, 2, 3
ENABLE_TICKS, STOP_TICKS, SETTLE_TICKS = 200, 600, 100
WORK_MARGIN_RAD = 0.3
MOVE_SPEED_RAD_S = 1.0
TORQUE_LIMIT_TICKS = 50
LOST_TICKS = 20


@dataclass
class Capture:
    """One experiment's log (rows x COLUMNS) with units, and how it ended."""

    kind: str  # position | velocity | torque (the mode)
    name: str  # step | chirp | relay
    data: np.ndarray
    setpoint_unit: str
    period_s: float
    start: int  # first row of phase 3
    stopped: str = ""  # '' = ran to the end, else the limit / fault that ended it
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def units(self) -> tuple[str, ...]:
        return ("s", self.setpoint_unit, "rad", "rad/s", "N*m", "N*m", "A", "", "")

    def run_rows(self) -> np.ndarray:
        d = self.data
        return d[d[:, 8] == PHASE_RUN]

    def measured(self) -> np.ndarray:
        """The signal of the experiment's mode (position, velocity, torque; impedance: position)."""
        return self.run_rows()[:, MEASURED_COLUMN[self.kind]]


class PdoExperiment:
    """Runs experiments on ``session``'s board (see module doc)."""

    def __init__(self, session: Any, lockstep: bool, period_us: int = 1000) -> None:
        self.s = session
        self.lockstep = lockstep or getattr(session, "emulated", None) is not None
        self.period_us = period_us
        # called once per run when the drive is enabled at the work position and the experiment's
        # own signal begins (``cbl tune --exec`` prints it: a long experiment shows it started)
        self.on_running: Callable[[str], None] | None = None

    def limits(self) -> dict[str, float]:
        s = self.s
        cpr, vcpr = od.POSITION_COUNTS_PER_RAD, od.VELOCITY_COUNTS_PER_RAD_S
        rt = s.objs.rated_torque_nm
        return {
            "min_position_rad": s.read_raw(0x607D, 1) / cpr, "max_position_rad": s.read_raw(0x607D, 2) / cpr,
            "max_velocity_rad_s": s.read_raw(0x6080, 0) / vcpr,
            "max_torque_nm": s.read_raw(0x6072, 0) * rt / 1000.0,
            "position_rad": s.read_raw(0x6064, 0) / cpr,
        }

    def work_position(self, lim: dict[str, float], margin: float = WORK_MARGIN_RAD) -> float:
        lo, hi, q = lim["min_position_rad"], lim["max_position_rad"], lim["position_rad"]
        if hi - lo <= 2 * margin:
            return 0.5 * (lo + hi)
        return min(max(q, lo + margin), hi - margin)

    def run(self, kind: str, name: str, ticks: int,
            setpoint: Callable[[int, float, np.void, float], float], meta: dict[str, Any] | None = None,
            work: float | None = None) -> Capture:
        """Enable, move to the work position, run ``setpoint(k, t, rx_row, work_position)`` for
        ``ticks`` ticks in mode ``kind``, stop; returns the capture. Ctrl-C / exceptions: the guard
        stops and disables the drive before they propagate."""
        from cerebellum_rt.rtcore.clock import LockstepClock, RealTimeClock
        from cerebellum_rt.rtcore.loop import LoopRunner
        from cerebellum_rt.rtcore.rt import RtConfig

        if kind not in MODES:
            raise ConfigError(f"experiment mode {kind!r} is not one of {tuple(MODES)}")
        s, t = self.s, self.s.transport
        lim = self.limits()
        q_work = self.work_position(lim) if work is None else work
        if not lim["min_position_rad"] <= q_work <= lim["max_position_rad"]:
            raise ConfigError(f"work position {q_work:.4f} rad is outside the software limits "
                              f"[{lim['min_position_rad']:.4f}, {lim['max_position_rad']:.4f}] rad")
        cpr, vcpr = od.POSITION_COUNTS_PER_RAD, od.VELOCITY_COUNTS_PER_RAD_S
        rt, rc = s.objs.rated_torque_nm, s.objs.rated_current_a
        dt = self.period_us * 1e-6
        move_ticks = int(abs(q_work - lim["position_rad"]) / (MOVE_SPEED_RAD_S * dt)) + SETTLE_TICKS
        total = ENABLE_TICKS + move_ticks + ticks + STOP_TICKS
        log = np.zeros((total, len(COLUMNS)))
        tx, rx = t.tx_array(), t.rx_array()
        row = t.nodes.index(s.node)
        q0 = lim["position_rad"]
        tx[row]["target_position"] = round(q0 * cpr)
        tx[row]["modes_of_operation"] = MODES["position"]
        keep_timeout = t.timeout_s
        wait_s = t.timeout_s = 2.0 if self.lockstep else 0.8 * dt
        st = {"k": 0, "phase": PHASE_ENABLE, "j": 0, "stopped": "", "silent": 0, "tsat": 0, "start": -1,
              "enabled_at": -1, "done": False}
        max_t_permille = s.read_raw(0x6072, 0)

        def tick(t_s: float, dt_s: float) -> None:
            k = st["k"]
            if st["done"] or k >= total:
                return
            r, x = rx[row], tx[row]
            sw = int(r["statusword"])
            state = decode_state(sw)
            pos = int(r["position_actual"]) / cpr
            vel = int(r["velocity_actual"]) / vcpr
            ph = st["phase"]
            value = 0.0
            if ph == PHASE_ENABLE:
                guard.enabling(s.node)  # before the first controlword that leaves SWITCH ON DISABLED
                x["controlword"] = next_controlword(sw, "operation_enabled")
                if state == "operation_enabled":
                    ph = st["phase"] = PHASE_MOVE
                    st["j"] = 0
                elif k >= ENABLE_TICKS - 1 or state == "fault":
                    st["stopped"] = f"node {s.node} did not reach OPERATION ENABLED (state {state})"
                    ph = st["phase"] = PHASE_STOP
            if ph == PHASE_MOVE:
                j = st["j"]
                step = MOVE_SPEED_RAD_S * dt * j
                q = q_work if abs(q_work - q0) <= step else q0 + math.copysign(step, q_work - q0)
                x["target_position"] = round(q * cpr)
                value = q
                st["j"] += 1
                if j >= move_ticks:
                    ph = st["phase"] = PHASE_RUN
                    st["j"] = 0
                    st["start"] = k
                    if self.on_running is not None:
                        self.on_running(f"node {s.node} enabled at the work position {q_work:.4f} rad; "
                                        f"{name} runs for {ticks * dt:g} s")
            if ph == PHASE_RUN:
                j = st["j"]
                if j >= ticks:
                    ph = st["phase"] = PHASE_STOP
                else:
                    reason = self._limit_hit(state, pos, vel, r, lim, max_t_permille, st)
                    if reason:
                        st["stopped"] = reason
                        ph = st["phase"] = PHASE_STOP
                    else:
                        value = float(setpoint(j, j * dt, r, q_work))
                        self._command(x, kind, value, q_work, cpr, vcpr, rt)
                        st["j"] += 1
            if ph == PHASE_STOP:
                x["modes_of_operation"] = MODES["position"]
                x["target_position"] = int(r["position_actual"])
                x["velocity_offset"] = 0
                x["target_torque"] = 0
                x["torque_offset"] = 0
                x["controlword"] = next_controlword(sw, "quick_stop" if state in ("operation_enabled", "quick_stop_active") else "switch_on_disabled")
                if state == "switch_on_disabled":
                    guard.released(s.node)
                    st["done"] = True
            rx_before = t.stats.frames_rx
            missing = t.cycle(tx, rx)
            # silent = nothing at all came back (late replies of the previous tick count as alive)
            st["silent"] = st["silent"] + 1 if missing >= t.expected and t.stats.frames_rx == rx_before else 0
            # silent ticks: wait less for the next ones, so a lost bus is named within ~2 s
            t.timeout_s = min(wait_s, 0.1) if st["silent"] >= 1 else wait_s
            if st["silent"] >= LOST_TICKS:
                raise DeviceError(f"node {s.node}: no reply for {LOST_TICKS} ticks in a row (bus lost?)")
            r = rx[row]
            log[k] = (k * dt, value, int(r["position_actual"]) / cpr, int(r["velocity_actual"]) / vcpr,
                      int(r["torque_actual"]) * rt / 1000.0, int(r["torque_demand"]) * rt / 1000.0,
                      int(r["current_actual"]) * rc / 1000.0, int(r["statusword"]), ph)
            st["k"] = k + 1

        guard = DriveGuard(t, tx, rx)
        self.last_guard_outcome: dict[int, str] = {}
        try:
            with guard:
                _prime(t, tx, rx, s.node)
                emulated = getattr(s, "emulated", None)
                if emulated is not None:
                    clock = emulated.clock  # the emulated board's own time: one period per tick
                else:
                    clock = LockstepClock() if self.lockstep else RealTimeClock()
                runner = LoopRunner(period_ns=self.period_us * 1000, clock=clock, write=tick,
                                    rt=RtConfig.off() if self.lockstep else None)
                runner.run(total)
            if not st["done"]:
                st["stopped"] = st["stopped"] or "the drive did not confirm SWITCH ON DISABLED in time"
        finally:
            self.last_guard_outcome = dict(guard.outcome)  # what the guard had to stop (Ctrl-C, errors)
            t.timeout_s = keep_timeout
            t.end_cycling()
        cap = Capture(kind, name, log[: st["k"]], SIGNAL_UNITS[kind], dt, st["start"], st["stopped"],
                      dict(meta or {}, work_position_rad=q_work,
                           final="switch_on_disabled (by the experiment)" if st["done"] else guard.report()))
        return cap

    @staticmethod
    def _command(x: np.void, kind: str, value: float, q_work: float, cpr: float, vcpr: float, rt: float) -> None:
        x["modes_of_operation"] = MODES[kind]
        if kind == "position":
            x["target_position"] = round(value * cpr)
        elif kind == "velocity":
            x["velocity_offset"] = round(value * vcpr)
        elif kind == "impedance":
            x["target_position"] = round(q_work * cpr)
            x["velocity_offset"] = 0
            x["torque_offset"] = max(-32768, min(32767, round(value / rt * 1000.0)))
        else:
            x["target_torque"] = max(-32768, min(32767, round(value / rt * 1000.0)))

    @staticmethod
    def _limit_hit(state: str, pos: float, vel: float, r: np.void, lim: dict[str, float], max_t: int,
                   st: dict[str, Any]) -> str:
        if state != "operation_enabled":
            return f"drive left OPERATION ENABLED (state {state}, error 0x{int(r['statusword']):04X})"
        if not lim["min_position_rad"] <= pos <= lim["max_position_rad"]:
            return (f"position limit: {pos:.4f} rad outside [{lim['min_position_rad']:.4f}, "
                    f"{lim['max_position_rad']:.4f}] rad (0x607D)")
        if abs(vel) >= lim["max_velocity_rad_s"]:
            return f"velocity limit: |{vel:.3f}| rad/s >= {lim['max_velocity_rad_s']:.3f} rad/s (0x6080)"
        st["tsat"] = st["tsat"] + 1 if abs(int(r["torque_demand"])) >= max_t else 0
        if st["tsat"] >= TORQUE_LIMIT_TICKS:
            return f"torque limit: demand at the 0x6072 clamp ({max_t} ‰) for {TORQUE_LIMIT_TICKS} ticks"
        return ""


def _prime(t: Any, tx: np.ndarray, rx: np.ndarray, node: int, ticks: int = 50) -> None:
    keep, clean = t.timeout_s, 0
    t.timeout_s = max(keep, 0.5)
    try:
        for _ in range(ticks):
            clean = clean + 1 if t.cycle(tx, rx) == 0 else 0
            if clean == 3:
                return
        raise DeviceError(f"node {node} did not answer 3 SYNCs in a row within {ticks} ticks: NMT OPERATIONAL?")
    finally:
        t.timeout_s = keep


# ---------------------------------------------------------------------------------------------
# The experiments


def step(exp: PdoExperiment, kind: str, size: float, seconds: float = 0.4, pre_s: float = 0.05) -> Capture:
    """A step of ``size`` (rad, rad/s or N·m) from the work position / rest / zero torque."""
    dt = exp.period_us * 1e-6
    pre = int(pre_s / dt)

    def sp(k: int, t: float, r: np.void, q: float) -> float:
        on = k >= pre
        if kind == "position":
            return q + (size if on else 0.0)
        return size if on else 0.0

    cap = exp.run(kind, "step", pre + int(seconds / dt), sp, {"size": size, "pre_ticks": pre})
    cap.meta["metrics"] = step_metrics(cap)
    return cap


def step_metrics(cap: Capture) -> dict[str, float]:
    """Rise (10-90 %), overshoot %, 2 % settling, steady-state error: actuators.joint.response's."""
    from cerebellum_rt.actuators.joint.response import step_metrics as metrics

    rows = cap.run_rows()
    pre = int(cap.meta["pre_ticks"])
    if len(rows) < pre + 10:
        return {"rise_time_s": math.inf, "overshoot_pct": math.nan, "settling_time_s": math.inf,
                "steady_state_error": math.nan}
    col = MEASURED_COLUMN[cap.kind]
    y = rows[pre + 1:, col] - (np.mean(rows[max(0, pre - 20):pre + 1, col]) if cap.kind == "position" else 0.0)
    t = np.arange(y.size) * cap.period_s
    smooth = 1 if cap.kind == "position" else 5
    m = metrics(t, y, float(cap.meta["size"]), rows[pre + 1:, 6], rows[pre + 1:, 5], smooth=smooth)
    return {k: m[k] for k in ("rise_time_s", "overshoot_pct", "settling_time_s", "steady_state_error",
                              "peak_current_a", "peak_torque_nm")}


def perturbation(exp: PdoExperiment, torque_nm: float, stiffness_nm_per_rad: float, seconds: float = 0.3,
                 pre_s: float = 0.05) -> Capture:
    """Impedance mode about the work position (q* = q_work) with a torque step ``torque_nm`` on
    the torque offset 0x60B2 after ``pre_s``: a known torque on the joint's impedance, as an
    external one would be. Metrics: :func:`impedance_metrics`."""
    dt = exp.period_us * 1e-6
    pre = int(pre_s / dt)

    def sp(k: int, t: float, r: np.void, q: float) -> float:
        return torque_nm if k >= pre else 0.0

    cap = exp.run("impedance", "perturbation", pre + int(seconds / dt), sp,
                  {"size": torque_nm, "pre_ticks": pre, "stiffness_nm_per_rad": stiffness_nm_per_rad})
    cap.meta["metrics"] = impedance_metrics(cap)
    return cap


def impedance_metrics(cap: Capture) -> dict[str, float]:
    """Deflection of a :func:`perturbation`: its steady state (mean of the last 10 %), the
    stiffness it gives (torque / deflection), and rise, overshoot and 2 % settling relative to
    that steady state (of the deflection averaged over METRICS_SMOOTH samples, as predicted)."""
    from cerebellum_rt.actuators.joint.response import step_metrics as metrics
    from cerebellum_rt.drivers.tune.impedance import METRICS_SMOOTH

    rows = cap.run_rows()
    pre = int(cap.meta["pre_ticks"])
    torque = float(cap.meta["size"])
    if len(rows) < pre + 20 or cap.stopped:
        return {"rise_time_s": math.inf, "overshoot_pct": math.nan, "settling_time_s": math.inf,
                "deflection_rad": math.nan, "stiffness_nm_per_rad": math.nan, "peak_current_a": math.nan,
                "peak_torque_nm": math.nan}
    y = rows[pre + 1:, 2] - np.mean(rows[max(0, pre - 20):pre + 1, 2])
    final = float(np.mean(y[-max(1, y.size // 10):]))
    t = np.arange(y.size) * cap.period_s
    m = metrics(t, y, final, rows[pre + 1:, 6], rows[pre + 1:, 5], smooth=METRICS_SMOOTH)
    return {"rise_time_s": m["rise_time_s"], "overshoot_pct": m["overshoot_pct"],
            "settling_time_s": m["settling_time_s"], "deflection_rad": final,
            "stiffness_nm_per_rad": torque / final if final else math.inf,
            "peak_current_a": m["peak_current_a"], "peak_torque_nm": m["peak_torque_nm"]}


def chirp(exp: PdoExperiment, kind: str, amplitude: float, f0: float, f1: float, seconds: float) -> Capture:
    """Logarithmic swept sine around the work position / zero: the closed-loop response."""
    k_rate = math.log(f1 / f0) / seconds

    def sp(k: int, t: float, r: np.void, q: float) -> float:
        phase = 2.0 * math.pi * f0 * (math.exp(k_rate * t) - 1.0) / k_rate
        u = amplitude * math.sin(phase)
        return q + u if kind == "position" else u

    dt = exp.period_us * 1e-6
    cap = exp.run(kind, "chirp", int(seconds / dt), sp, {"amplitude": amplitude, "f0": f0, "f1": f1})
    return cap


def relay(exp: PdoExperiment, torque_nm: float, hysteresis: float = 0.05, seconds: float = 0.6) -> Capture:
    """Torque relay on the measured velocity (CST): tau = -d sign(v) with hysteresis; the limit
    cycle excites the inertia, which :func:`cerebellum_rt.drivers.tune.autotune.identify` fits."""
    state = {"u": torque_nm}

    def sp(k: int, t: float, r: np.void, q: float) -> float:
        v = int(r["velocity_actual"]) / od.VELOCITY_COUNTS_PER_RAD_S
        pos = int(r["position_actual"]) / od.POSITION_COUNTS_PER_RAD
        bias = -20.0 * (pos - q)  # keep the oscillation centred on the work position [rad/s per rad]
        if v - bias > hysteresis:
            state["u"] = -torque_nm
        elif v - bias < -hysteresis:
            state["u"] = torque_nm
        return state["u"]

    dt = exp.period_us * 1e-6
    return exp.run("torque", "relay", int(seconds / dt), sp, {"torque_nm": torque_nm, "hysteresis": hysteresis})
