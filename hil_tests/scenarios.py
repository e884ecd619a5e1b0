"""Scenario helpers on a :class:`~cerebellum_rt.hil_tests.session.RigSession`: trajectory tracking
on joint boards (CSP) under a host supervisor, and grasp-and-hold on hand boards.

The host supervisor (:class:`JointSupervisor`) is the host's half of the safety ladder. Every
tick, per joint board, it detects:

* a fault the board reports: an EMCY frame (code kept), or its CiA 402 state leaving operation
  enabled (quick stop active, fault reaction, fault, switch-on disabled: the board's own rungs,
  README "Safety": command watchdog 0x2031 -> 0x6007 quick stop -> switch-on disabled);
* a board that restarted: its boot-up frame (0x700 + n, 0x00);
* lost replies: ``MISSED_LIMIT`` ticks in a row without a sample (every lost sample is counted
  by the session either way); the host then drops its queued, stale commands;
* an implausible position: the position steps disagree with what the measured (motor-side)
  velocity explains by more than ``PLAUSIBLE_RAD``, summed with a leak of ``DRIFT_LEAK`` per
  tick (an encoder glitch at once; a frozen encoder after PLAUSIBLE_RAD / |v| seconds);
* a torque sensor that disagrees with the torque demand by more than ``TORQUE_MISMATCH`` of the
  board's rated torque for ``TORQUE_TICKS`` ticks (saturation, bias).

Its reaction: quick stop for that board (controlword), hold the commanded target at the
measured position; once ``CLEAR_TICKS`` ticks pass without the cause, recover: fault reset if
the board is in fault (a restarted board is brought up again at once: 0x1006, NMT start), enable with
the target at the measured position and slew back onto the trajectory at ``SLEW_RAD_S``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cerebellum_rt.drivers import od
from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
from cerebellum_rt.hil_tests.session import RigSession

MODE_CSP = 8
MISSED_LIMIT = 3
PLAUSIBLE_RAD = 0.02
DRIFT_LEAK = 0.995
TORQUE_MISMATCH = 0.25
TORQUE_TICKS = 10
CLEAR_TICKS = 20
SLEW_RAD_S = 1.0


@dataclass
class Detection:
    t_s: float
    node: tuple[str, int]
    cause: str


@dataclass
class _Joint:
    key: tuple[str, int]
    bus: int
    row: int
    col: int
    rated_nm: float
    inward: float = 1.0  # +1 / -1: the direction from the start toward the middle of 0x607D
    lo_rad: float = -math.inf
    hi_rad: float = math.inf
    q0: float | None = None
    cmd: float = 0.0
    last_q: float | None = None
    last_v: float = 0.0
    drift: float = 0.0  # leaky sum of (position step - velocity x dt) [rad]
    prev_state: str = ""
    missed: int = 0
    mismatch: int = 0
    tripped: str = ""
    quiet: int = 0
    reset_edge: bool = False


@dataclass
class TrackResult:
    """Per tick of a run: reference, per-joint states and the supervisor's detections."""

    t_s: np.ndarray
    reference: np.ndarray  # (ticks, joints) [rad]
    detections: list[Detection] = field(default_factory=list)
    board_states: list[list[str]] = field(default_factory=list)  # per tick, per joint (board side)
    host_states: list[list[str]] = field(default_factory=list)  # per tick, per joint (statusword)

    def error_rad(self, session: RigSession, j: int, start: int, stop: int | None = None) -> np.ndarray:
        """Tracking error of joint ``j`` over ticks [start, stop): the reference 2 ticks back
        minus the measured position (the bus and board delay, see ``joint_demo``)."""
        pos = session.tel[start:stop, j, 0]
        ref = self.reference[max(start - 2, 0):(stop - 2 if stop else len(self.reference) - 2), j]
        n = min(len(pos), len(ref))
        return ref[:n] - pos[-n:] if n else np.zeros(0)


class JointSupervisor:
    """Host-side detection and reaction for every joint board of a session (see module doc)."""

    def __init__(self, session: RigSession) -> None:
        self.s = session
        self.joints: list[_Joint] = []
        col = 0
        for b, run in enumerate(session.buses):
            if "target_position" not in run.tx.dtype.names:
                col += len(run.spec.nodes)
                continue
            run.tx["modes_of_operation"] = MODE_CSP
            for i, n in enumerate(run.spec.nodes):  # slow path: the board's ratings and limits by SDO
                rated = run.sdo.read(n, 0x6076) / 1000.0
                lo, hi = (run.sdo.read(n, 0x607D, k) / od.POSITION_COUNTS_PER_RAD for k in (1, 2))
                self.joints.append(_Joint((run.spec.name, n), b, i, col + i, rated, lo_rad=lo, hi_rad=hi))
            col += len(run.spec.nodes)
        self.detections: list[Detection] = []
        self._seen_events = 0
        self.stalled = False

    def _detect(self, j: _Joint, cause: str) -> None:
        if not j.tripped:
            self.detections.append(Detection(self.s.now_s, j.key, cause))
        j.tripped = j.tripped or cause
        j.quiet = 0

    def step(self, reference: Callable[[float, _Joint], float]) -> None:
        """Before the tick's exchange: detect, react, and write each joint's controlword + target."""
        s = self.s
        for ev in s.events[self._seen_events:]:
            _, bus, cid, code = ev
            for j in self.joints:
                if j.key[0] == bus and cid in (0x80 + j.key[1], 0x700 + j.key[1]):
                    if cid >= 0x700:  # restarted: bring it up again now (0x1006, NMT start)
                        self._detect(j, "boot-up (board restarted)")
                        s.setup([j.key])
                    elif code:
                        self._detect(j, f"EMCY 0x{code:04X}")
        self._seen_events = len(s.events)
        dt = s.period_ns * 1e-9
        for j in self.joints:
            run = s.buses[j.bus]
            rx, tx = run.rx[j.row], run.tx[j.row]
            fresh = int(rx["fresh"]) == run.transport.fresh_all
            sw = int(rx["statusword"])
            state = decode_state(sw)
            q = rx["position_actual"] / od.POSITION_COUNTS_PER_RAD
            v = rx["velocity_actual"] / od.VELOCITY_COUNTS_PER_RAD_S
            cause = ""
            if not fresh and s.k > 0:
                j.missed += 1
                if j.missed >= MISSED_LIMIT:
                    cause = f"{j.missed} samples missed"
                    run.host.flush_tx_buffer()  # stale commands must not reach the board later
            else:
                j.missed = 0
            if fresh and state in ("operation_enabled",) and j.last_q is not None:
                j.drift = DRIFT_LEAK * j.drift + (q - j.last_q) - 0.5 * (v + j.last_v) * dt
                if abs(j.drift) > PLAUSIBLE_RAD:
                    cause = f"position disagrees with velocity by {j.drift:+.4f} rad (encoder)"
                    j.drift = 0.0
                tq_err = abs(rx["torque_sensor"] * 1e-3 - rx["torque_demand"] * 1e-3 * j.rated_nm)
                j.mismatch = j.mismatch + 1 if tq_err > TORQUE_MISMATCH * j.rated_nm else 0
                if j.mismatch >= TORQUE_TICKS:
                    cause = f"torque sensor off the demand by {tq_err:.1f} N m"
            if fresh:
                j.last_q, j.last_v = q, v
            if j.q0 is None and fresh:
                j.q0 = j.cmd = q
                j.inward = 1.0 if q <= 0.5 * (j.lo_rad + j.hi_rad) else -1.0
            if fresh and j.prev_state == "operation_enabled" and state != "operation_enabled" and not j.tripped:
                cause = cause or f"board left operation enabled ({state})"  # not by the host's command
            if fresh:
                j.prev_state = state
            if cause:
                self._detect(j, cause)
            elif j.tripped:
                j.quiet += 1
                if j.quiet >= CLEAR_TICKS:
                    j.tripped = ""
            self._command(j, tx, sw, state, q, reference, dt, fresh)

    def _command(self, j: _Joint, tx: Any, sw: int, state: str, q: float, reference: Callable[[float, _Joint], float],
                 dt: float, fresh: bool) -> None:
        if j.tripped:
            tx["controlword"] = next_controlword(sw, "quick_stop")
            j.cmd = q
        elif state == "fault":
            j.reset_edge = not j.reset_edge
            tx["controlword"] = 0x80 if j.reset_edge else 0x00
            j.cmd = q
        elif state != "operation_enabled":
            tx["controlword"] = next_controlword(sw, "operation_enabled")
            j.cmd = q
        else:
            tx["controlword"] = next_controlword(sw, "operation_enabled")
            ref = reference(self.s.now_s, j)
            step = SLEW_RAD_S * dt
            j.cmd += max(-step, min(step, ref - j.cmd))
        tx["modes_of_operation"] = MODE_CSP
        tx["target_position"] = round(j.cmd * od.POSITION_COUNTS_PER_RAD)


def sine(amplitude_rad: float = 0.1, freq_hz: float = 1.0) -> Callable[[float, _Joint], float]:
    """A reference from each joint's start position toward the middle of its range and back:
    q0 + inward * A (1 - cos(2 pi f t)), clamped into the joint's limits 0x607D."""
    def ref(t: float, j: _Joint) -> float:
        q = (j.q0 or 0.0) + j.inward * amplitude_rad * (1.0 - math.cos(2 * math.pi * freq_hz * t))
        return min(max(q, j.lo_rad), j.hi_rad)

    return ref


def track(session: RigSession, ticks: int, reference: Callable[[float, _Joint], float] | None = None,
          events: dict[int, Callable[[RigSession], None]] | None = None,
          stall: tuple[int, int] | None = None) -> TrackResult:
    """Run ``ticks`` ticks: the supervisor tracks ``reference`` (default :func:`sine`) on every
    joint board in CSP; ``events[k]`` runs before tick k (inject or clear a fault); ``stall``
    = (first, last) ticks where the host loop sends nothing (a stalled host)."""
    ref = reference or sine()
    sup = JointSupervisor(session)
    t = np.zeros(ticks)
    refs = np.zeros((ticks, len(sup.joints)))
    out = TrackResult(t, refs, sup.detections)
    for k in range(ticks):
        if events and k in events:
            events[k](session)
        stalled = stall is not None and stall[0] <= k <= stall[1]
        if stall is not None and k == stall[1] + 1:
            for j in sup.joints:  # the host knows its own loop stalled: it checks every board
                sup._detect(j, f"host loop stalled for {(stall[1] - stall[0] + 1) * session.period_ns * 1e-6:.0f} ms")
        if not stalled:
            sup.step(ref)
        session.tick(skip_host=stalled)
        t[k] = session.now_s
        for i, j in enumerate(sup.joints):
            refs[k, i] = ref(session.now_s, j) if j.q0 is not None else math.nan
        out.board_states.append([str(session.board(*j.key).state) for j in sup.joints])
        out.host_states.append([decode_state(int(session.buses[j.bus].rx[j.row]["statusword"])) for j in sup.joints])
    return out


def state_runs(states: list[str]) -> list[str]:
    """The sequence of distinct consecutive states (e.g. the rungs a board went through)."""
    out: list[str] = []
    for st in states:
        if not out or out[-1] != st:
            out.append(st)
    return out


def grasp_and_hold(session: RigSession, ticks: int, tension_n: float, bus: str | None = None) -> dict[str, Any]:
    """Enable every hand board of the session, command ``tension_n`` on each of its six tendons
    (CiA 402 enable, target tensions 0x2102 through the hand board's RPDOs, axis mode 2) and hold it.
    Returns the per-tick tensions (ticks, tendons) [N] of the first hand and the board's state."""
    runs = [r for r in session.buses if "target_tension_1" in r.tx.dtype.names and (bus is None or r.spec.name == bus)]
    if not runs:
        from cerebellum_rt.rtcore.errors import ConfigError

        raise ConfigError("grasp_and_hold: the session has no hand board")
    run = runs[0]
    names = [f"target_tension_{i}" for i in range(1, 7)]
    scale = _tension_scale(run)
    tensions = np.zeros((ticks, 6))
    states = []
    for k in range(ticks):
        sw = int(run.rx[0]["statusword"])
        run.tx[0]["controlword"] = next_controlword(sw, "operation_enabled")
        for name in names:
            run.tx[0][name] = round(tension_n * scale) if decode_state(sw) == "operation_enabled" else 0
        session.tick()
        tensions[k] = [run.rx[0][f"tension_actual_{i}"] / scale for i in range(1, 7)]
        states.append(decode_state(int(run.rx[0]["statusword"])))
    return {"tension_n": tensions, "states": states}


def _tension_scale(run: Any) -> float:
    """Counts per newton of the hand board's tension objects (0x2102 / 0x2111: 0.01 N)."""
    return 100.0
