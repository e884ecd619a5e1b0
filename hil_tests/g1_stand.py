"""Whole-body scenarios on the G1 legs under joint PD through the emulated boards (lockstep).

The host side is what a robot's own control loop does: every 1 ms it sends joint targets (the
boards run the PD, :mod:`cerebellum_rt.hil_tests.g1_body`) and supervises the boards. Scenarios:

- :func:`stand`: the balanced stand posture (:mod:`cerebellum_rt.hil_tests.g1_posture`) held
  for ``seconds``; optional frame loss on one bus.
- :func:`squat`: down by ``depth_m`` along the balanced squat postures (minimum-jerk in time),
  hold, back up, hold.
- :func:`knee_reset`: stand, a knee board resets mid-stand; the supervisor detects it
  (boot-up frame or ``MISS_LIMIT`` replies missed in a row or a drive leaving OPERATION ENABLED),
  reports it, restarts the board (NMT start; its saved PD gains and PDO mapping come back from
  its flash, the controlwords re-enable it) and moves the whole body to the safe posture (a
  crouch ``SAFE_DROP_M`` lower, reached in ``SAFE_RAMP_S``), where it stays.

Each returns a :class:`Run` with the pelvis trace (ground truth), the joint tracking errors (as
the host measures them) and the supervisor's detections.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cerebellum_rt.hil_tests.g1_body import BUS_NAMES, JPB, PERIOD_S, G1Body
from cerebellum_rt.hil_tests.g1_models import stand_gains
from cerebellum_rt.hil_tests.g1_posture import pelvis_height, posture
from cerebellum_rt.rtcore.errors import check_range

MISS_LIMIT = 3  # replies missed in a row that mean a board is gone (1 % loss: 1e-6 per tick)
SAFE_DROP_M = 0.15
SAFE_RAMP_S = 1.0
RESTART_EVERY_S = 0.02  # NMT start repeated while a lost board is not back
TRACE_EVERY = 10  # ticks between trace rows
FALL_HEIGHT_M = 0.5


@dataclass
class Detection:
    t_s: float
    joint: str
    reason: str


@dataclass
class Run:
    """One scenario's outcome. ``trace`` rows every 10 ms: t, pelvis x, y, z, planned pelvis z."""

    seconds: float
    trace: np.ndarray
    joint_err_max: np.ndarray  # per joint, max |q_ref - q| [rad] after the first 0.5 s
    missed_replies: int
    detections: list[Detection]
    events: list[tuple[float, str]]
    final_states: list[str]
    final_q: np.ndarray
    wall_s: float
    ticks: int
    split_s: dict[str, float] = field(default_factory=dict)
    recovered_s: float | None = None  # the lost board back in OPERATION ENABLED (virtual time)

    @property
    def fell(self) -> bool:
        return bool(self.trace[:, 3].min() < FALL_HEIGHT_M)

    def pelvis_at(self, t_s: float) -> np.ndarray:
        k = int(np.argmin(np.abs(self.trace[:, 0] - t_s)))
        return self.trace[k, 1:4]

    def drift_m(self, t0_s: float) -> float:
        """Largest horizontal distance of the pelvis from where it was at ``t0_s``."""
        p0 = self.pelvis_at(t0_s)
        after = self.trace[self.trace[:, 0] >= t0_s]
        return float(np.hypot(after[:, 1] - p0[0], after[:, 2] - p0[1]).max())

    def height_error_m(self, t0_s: float) -> float:
        """Largest |pelvis z - planned z| from ``t0_s`` on (planned: kinematics of the reference,
        offset by the static sag measured at ``t0_s``)."""
        after = self.trace[self.trace[:, 0] >= t0_s]
        k0 = int(np.argmin(np.abs(self.trace[:, 0] - t0_s)))
        sag = self.trace[k0, 3] - self.trace[k0, 4]
        return float(np.abs(after[:, 3] - after[:, 4] - sag).max())


class Supervisor:
    """The host's watch over its boards (see module doc)."""

    def __init__(self, body: G1Body) -> None:
        self.body = body
        self.streak = np.zeros(body.n, np.int64)
        self.lost: dict[int, float] = {}  # joint -> virtual time of the last NMT start sent
        self.detections: list[Detection] = []
        self.recovered_s: float | None = None
        self._was_enabled = np.zeros(body.n, bool)
        for tr in body.transports:  # what came before the watch (the boards' first boot-up) is history
            while tr.recv(0.0) is not None:
                pass

    def _detect(self, t: float, j: int, reason: str) -> None:
        if j not in self.lost:
            self.lost[j] = -math.inf
            self.detections.append(Detection(t, self.body.joint_names[j], reason))

    def check(self, t: float) -> None:
        body = self.body
        for b, tr in enumerate(body.transports):  # boot-up frames (0x700 + node, 0x00)
            while (msg := tr.recv(0.0)) is not None:
                node = msg.arbitration_id - 0x700
                if 1 <= node <= len(tr.nodes) and bytes(msg.data[:1]) == b"\x00":
                    self._detect(t, b * JPB + node - 1, "boot-up frame")
        fresh, enabled = body.fresh(), body.enabled()
        self.streak = np.where(fresh, 0, self.streak + 1)
        if (self.streak >= MISS_LIMIT).any() or (self._was_enabled & fresh & ~enabled).any():
            states = body.observe().states
            for j in range(body.n):
                if self.streak[j] >= MISS_LIMIT:
                    self._detect(t, j, f"{self.streak[j]} replies missed")
                elif self._was_enabled[j] and fresh[j] and not enabled[j]:
                    self._detect(t, j, f"drive left OPERATION ENABLED ({states[j]})")
        self._was_enabled |= enabled & fresh
        for j in list(self.lost):
            if fresh[j] and enabled[j]:
                del self.lost[j]
                self.recovered_s = t
            elif t - self.lost[j] >= RESTART_EVERY_S:
                body.nmt_start(j)
                self.lost[j] = t

    @property
    def tripped(self) -> bool:
        return bool(self.detections)


def min_jerk(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * x * (10.0 - 15.0 * x + 6.0 * x * x)


def _run(body: G1Body, ref: Callable[[float], np.ndarray], seconds: float, safe_q: np.ndarray | None,
         at: dict[float, Callable[[], None]] | None = None) -> Run:
    """Drive ``body`` for ``seconds`` with ``ref(t)``; with ``safe_q``, a detection ramps the
    targets to it. ``at``: actions (fault injections) at virtual times from the start."""
    model = body.model
    sup = Supervisor(body)
    ticks = round(seconds / PERIOD_S)
    trace = np.zeros((ticks // TRACE_EVERY + 1, 5))
    err = np.zeros(body.n)
    q_meas = np.zeros(body.n)
    pending = sorted((at or {}).items())
    safe_from: tuple[float, np.ndarray] | None = None
    z_plan_cache: dict[bytes, float] = {}
    wall0 = time.perf_counter()
    split0 = dict(body.stats.split_s)
    miss0 = body.stats.missed_replies
    q_ref = ref(0.0)
    for k in range(ticks):
        t = k * PERIOD_S
        while pending and pending[0][0] <= t + 1e-12:
            pending.pop(0)[1]()
        if sup.tripped and safe_q is not None and safe_from is None:
            safe_from = (t, q_ref.copy())
        if safe_from is not None and safe_q is not None:
            a = min_jerk((t - safe_from[0]) / SAFE_RAMP_S)
            q_ref = safe_from[1] + (safe_q - safe_from[1]) * a
        else:
            q_ref = ref(t)
        body.step(q_ref)
        sup.check(t + PERIOD_S)
        if t >= 0.5:
            np.maximum(err, np.abs(q_ref - body.measured_q(q_meas)), out=err)
        if k % TRACE_EVERY == 0:
            key = np.round(q_ref, 4).tobytes()
            zp = z_plan_cache.get(key)
            if zp is None:
                zp = z_plan_cache[key] = pelvis_height(model, q_ref)
            trace[k // TRACE_EVERY] = (t + PERIOD_S, *body.data.qpos[0:3], zp)
    trace = trace[: (ticks - 1) // TRACE_EVERY + 1]
    st = body.observe()
    split = {k: body.stats.split_s[k] - split0[k] for k in split0}
    return Run(seconds, trace, err, body.stats.missed_replies - miss0, sup.detections, list(body.events),
               st.states, st.q, time.perf_counter() - wall0, ticks, split,
               None if sup.recovered_s is None else sup.recovered_s)


def start_standing(body: G1Body) -> np.ndarray:
    """Place ``body`` at its balanced stand, enable it with the stand's joint PD; the posture."""
    q = posture(body.model)
    body.place(q)
    kp, kd = stand_gains(body.joint_names)
    body.start(np.array(kp), np.array(kd))
    return q


def _body(robot_dir: str | Path | None, seed: int, robot: str = "g1_12dof", firmware: str = "c") -> G1Body:
    body = G1Body(robot_dir, seed, robot=robot, firmware=firmware)
    try:
        start_standing(body)
    except BaseException:
        body.close()
        raise
    return body


def stand(robot_dir: str | Path | None = None, seconds: float = 10.0, loss_bus: str | None = None,
          loss: float = 0.0, seed: int = 0, robot: str = "g1_12dof", firmware: str = "c") -> Run:
    """Hold the balanced stand for ``seconds``; ``loss`` of the frames lost on ``loss_bus``.
    ``robot``: 'g1_12dof' (the legs model of the robot folder) or 'g1_29dof' (example-robot-data);
    ``firmware``: the boards' ("c": the C image, "python": the Python board)."""
    check_range("stand seconds", seconds, 0.1, 600.0, "s")
    with _body(robot_dir, seed, robot, firmware) as body:
        q = posture(body.model)
        if loss_bus is not None:
            body.set_frame_loss(loss_bus, loss)
        run = _run(body, lambda t: q, seconds, posture(body.model, SAFE_DROP_M))
        run.final_states = body.stop()
        return run


def squat(robot_dir: str | Path | None = None, depth_m: float = 0.10, down_s: float = 2.0, hold_s: float = 1.0,
          seed: int = 0) -> Run:
    """Stand 0.5 s, squat ``depth_m`` in ``down_s`` (minimum jerk through the balanced postures),
    hold ``hold_s``, back up in ``down_s``, hold 0.5 s."""
    check_range("squat depth", depth_m, 0.0, 0.25, "m")
    check_range("squat down_s", down_s, 0.2, 10.0, "s")
    with _body(robot_dir, seed) as body:
        model = body.model
        deep = posture(model, depth_m)
        z0 = pelvis_height(model, posture(model))
        table = np.array([posture(model, d) for d in np.linspace(0.0, depth_m, 21)])  # postures every depth/20

        def at_depth(frac: float) -> np.ndarray:
            x = frac * (len(table) - 1)
            i = min(int(x), len(table) - 2)
            return table[i] + (table[i + 1] - table[i]) * (x - i)

        t1, t2, t3 = 0.5, 0.5 + down_s, 0.5 + down_s + hold_s

        def ref(t: float) -> np.ndarray:
            if t < t1:
                return table[0]
            if t < t2:
                return at_depth(min_jerk((t - t1) / down_s))
            if t < t3:
                return deep
            return at_depth(1.0 - min_jerk((t - t3) / down_s))

        run = _run(body, ref, t3 + down_s + 0.5, posture(model, SAFE_DROP_M))
        run.final_states = body.stop()
        run.events.append((0.0, f"squat {depth_m * 100:.0f} cm: planned pelvis {z0:.3f} m -> "
                                f"{pelvis_height(model, deep):.3f} m"))
        return run


def knee_reset(robot_dir: str | Path | None = None, seconds: float = 3.0, reset_at_s: float = 1.0,
               joint: str = "left_knee", seed: int = 0) -> Run:
    """Stand; ``joint``'s board resets at ``reset_at_s``; the supervisor's reaction (module doc)."""
    check_range("knee_reset seconds", seconds, reset_at_s + 0.5, 600.0, "s")
    with _body(robot_dir, seed) as body:
        q = posture(body.model)
        body.joint_index(joint)
        run = _run(body, lambda t: q, seconds, posture(body.model, SAFE_DROP_M),
                   at={reset_at_s: lambda: body.reset_board(joint)})
        run.final_states = body.stop()
        return run


__all__ = ["BUS_NAMES", "Detection", "Run", "Supervisor", "knee_reset", "squat", "stand"]
