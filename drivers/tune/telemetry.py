"""Live telemetry: the board's process data every tick into a lock-free ring, a view reads it.

The sampler is the 1 kHz loop itself (a :class:`~cerebellum_rt.rtcore.loop.LoopRunner` over
:meth:`CanTransport.cycle` with controlword 0x0000, DISABLE VOLTAGE: watching never enables a
drive); each tick's measurement is pushed into a :class:`~cerebellum_rt.rtcore.ring.TelemetryRing`
with ``try_push`` (never waits; a full ring drops and counts). The view drains the ring from
another thread at its own pace, so a slow terminal cannot delay the loop.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from cerebellum_rt.drivers import od

FIELDS = ("t_s", "position_rad", "velocity_rad_s", "torque_sensor_nm", "current_a", "temperature_c", "statusword")
UNITS = ("s", "rad", "rad/s", "N*m", "A", "°C", "")
SPARK = " ▁▂▃▄▅▆▇█"


class Telemetry:
    """Samples ``session``'s board every ``period_us`` (see module doc)."""

    def __init__(self, session: Any, lockstep: bool | None = None, period_us: int = 1000,
                 capacity: int = 16384) -> None:
        """``lockstep``: None = virtual time on an emulated board, wall-clock 1 kHz otherwise."""
        from cerebellum_rt.rtcore.ring import TelemetryRing

        self.s = session
        emulated = getattr(session, "emulated", None) is not None
        self.lockstep = emulated if lockstep is None else lockstep
        self.period_us = period_us
        self.ring = TelemetryRing(capacity, len(FIELDS))
        self.history = np.zeros((0, len(FIELDS)))
        self.stats: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _loop(self, seconds: float) -> None:
        from cerebellum_rt.rtcore.clock import LockstepClock, RealTimeClock
        from cerebellum_rt.rtcore.loop import LoopRunner
        from cerebellum_rt.rtcore.rt import RtConfig

        s, t = self.s, self.s.transport
        tx, rx = t.tx_array(), t.rx_array()
        row_i = t.nodes.index(s.node)
        tx[row_i]["controlword"] = 0
        tx[row_i]["target_position"] = rx[row_i]["position_actual"]
        tx[row_i]["modes_of_operation"] = 8
        cpr, vcpr = od.POSITION_COUNTS_PER_RAD, od.VELOCITY_COUNTS_PER_RAD_S
        rt, rc = s.objs.rated_torque_nm, s.objs.rated_current_a
        row = np.zeros(len(FIELDS))
        ring, stop = self.ring, self._stop
        dt = self.period_us * 1e-6
        cnt = {"k": 0, "fresh": 0, "missing": 0}
        full = t.fresh_all
        keep = t.timeout_s
        t.timeout_s = 2.0 if self.lockstep else 0.8 * dt

        def tick(t_s: float, dt_s: float) -> None:
            if stop.is_set():
                return
            cnt["missing"] += t.cycle(tx, rx)
            r = rx[row_i]
            if int(r["fresh"]) == full:
                cnt["fresh"] += 1
            elif cnt["fresh"] == 0:
                return  # nothing measured yet: the rows are still zeros
            row[0] = cnt["k"] * dt
            row[1] = int(r["position_actual"]) / cpr
            row[2] = int(r["velocity_actual"]) / vcpr
            row[3] = int(r["torque_actual"]) * rt / 1000.0
            row[4] = int(r["current_actual"]) * rc / 1000.0
            row[5] = int(r["winding_temperature"]) / od.TEMPERATURE_PER_DEGC
            row[6] = int(r["statusword"])
            ring.try_push(row)
            cnt["k"] += 1

        emulated = getattr(s, "emulated", None)
        if not self.lockstep:
            clock = RealTimeClock()
        else:
            clock = emulated.clock if emulated is not None else LockstepClock()
        ticks = max(1, int(seconds / dt))
        w0 = time.perf_counter()
        try:
            runner = LoopRunner(period_ns=self.period_us * 1000, clock=clock, write=tick,
                                rt=RtConfig.off() if self.lockstep else None)
            st = runner.run(ticks)
            summary = st.summary()
        finally:
            t.timeout_s = keep
            t.end_cycling()
        wall = time.perf_counter() - w0
        self.stats = {"ticks": cnt["k"], "samples": cnt["fresh"], "missing_tpdos": cnt["missing"],
                      "wall_s": wall, "telemetry_hz": cnt["fresh"] / wall if wall > 0 else 0.0,
                      "sample_period_s": dt, "overruns": int(summary["overruns"]),
                      "ring_dropped": int(self.ring.dropped), "lockstep": self.lockstep}

    def run(self, seconds: float) -> dict[str, Any]:
        """Sample for ``seconds`` on this thread; returns the rate reached and what was dropped."""
        self._stop.clear()
        self._loop(seconds)
        self.drain()
        return self.stats

    def start(self, seconds: float) -> None:
        """Sample on a background thread (the view drains from this one)."""
        self._stop.clear()

        def body() -> None:
            try:
                self._loop(seconds)
            except BaseException as exc:  # handed to the view's thread by join()
                self._error = exc

        self._thread = threading.Thread(target=body, name="cbl-tune-telemetry", daemon=True)
        self._thread.start()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.drain()
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        return self.stats

    def drain(self, keep: int = 20000) -> np.ndarray:
        buf = np.empty((self.ring.capacity, len(FIELDS)))
        n = self.ring.drain(buf)
        if n:
            self.history = np.vstack([self.history, buf[:n]])[-keep:]
        return self.history


def sparkline(values: np.ndarray, width: int = 60) -> str:
    """A one-line plot of the last ``width`` bins of ``values`` (min..max of the window)."""
    if values.size == 0:
        return ""
    bins = np.array_split(values[-width * 10:], min(width, values.size))
    v = np.array([b.mean() for b in bins])
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo if hi > lo else 1.0
    return "".join(SPARK[int((x - lo) / span * (len(SPARK) - 1))] for x in v)


def view_lines(hist: np.ndarray, stats_rate: float | None = None) -> list[str]:
    """The live view: the last values with units and a sparkline of position and velocity."""
    if hist.size == 0:
        return ["(no samples yet)"]
    last = hist[-1]
    vals = "  ".join(f"{n} {last[i]:.5g} {UNITS[i]}".rstrip() for i, n in enumerate(FIELDS[1:-1], 1))
    lines = [vals]
    if stats_rate is not None:
        lines.append(f"rate {stats_rate:.0f} Hz, {len(hist)} samples")
    for i, n in ((1, "position"), (2, "velocity"), (3, "torque")):
        col = hist[:, i]
        lines.append(f"{n:>8} [{col[-2000:].min():+.4g}, {col[-2000:].max():+.4g}] {sparkline(col[-2000:])}")
    return lines
