"""The Python loop runner: a fixed read -> update -> write cycle on absolute deadlines.

Each tick ``i`` sleeps until its deadline ``d_i`` (``d_0 = start + T``), calls
``read(t, dt)``, ``update(t, dt)``, ``write(t, dt)`` (a phase left at its default is skipped)
with ``t`` = wake time since start [s] and ``dt`` = measured period since the previous wake [s]
(since start on the first tick), records the tick in preallocated
:class:`~rtcore.stats.LoopStats` arrays, then computes ``d_{i+1}`` with the overrun policy of
:mod:`cerebellum_rt.rtcore.schedule`.

Fixed-step semantics: a law integrates with the ``dt`` of its config record, which is the
loop period ``T``, not with the measured ``dt`` (a late tick does not make the law take a
longer step; the overrun policy decides what a late tick costs, and the statistics record it).
:func:`runner_settings` checks at construction that every phase built by
:func:`cerebellum_rt.rtcore.jit.law_update` / ``law_cfunc`` has ``cfg.dt`` equal to ``T``. A
hand-written phase may still use the measured ``dt`` it is passed.

The tick retains no allocation: its numbers are transient ints/floats that CPython frees
within the tick (tests/rtcore/test_rtcore_no_alloc.py measures zero heap growth, zero retained
blocks and zero page faults over 10,000 ticks). The step should be compiled
(:func:`cerebellum_rt.rtcore.jit.law_update`); for a tick that creates no Python object at all, and that
Python threads cannot delay, use :class:`cerebellum_rt.rtcore.cyrunner.CyLoopRunner`.

With a :class:`~rtcore.clock.LockstepClock` time jumps to each deadline, so wake latency is 0
and the run is deterministic.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from cerebellum_rt.rtcore.clock import LockstepClock, RealTimeClock
from cerebellum_rt.rtcore.errors import ConfigError, check_range
from cerebellum_rt.rtcore.rt import RtConfig, RtSession
from cerebellum_rt.rtcore.schedule import next_deadline, policy_code
from cerebellum_rt.rtcore.stats import LoopStats

if TYPE_CHECKING:
    from cerebellum_rt.rtcore.ring import TelemetryRing
    from cerebellum_rt.rtcore.watchdog import Watchdog

Step = Callable[[float, float], object]
FaultCallback = Callable[[str], object]

__all__ = ["LoopRunner", "LoopStats", "RunnerSettings", "law_dt_s", "runner_settings"]

#: Relative tolerance between a law's float32 ``cfg.dt`` and the loop period (float32 holds
#: 1 ms as 1.00000005 ms; a law configured for another period is off by far more).
DT_RTOL = 1e-6


class RunnerSettings(NamedTuple):
    """A runner's checked constructor arguments (see :func:`runner_settings`)."""

    period_ns: int
    rt: RtConfig
    policy: int
    fault_after: int


def law_dt_s(phase: Any) -> float | None:
    """The configured ``cfg.dt`` [s] of a phase built from a law by
    :func:`cerebellum_rt.rtcore.jit.law_update` or ``law_cfunc`` (its ``law_records``), or None
    for a phase that is not a law or whose config has no ``dt`` field."""
    recs = getattr(phase, "law_records", None)
    if recs is None:
        return None
    cfg = recs[0]
    names = cfg.dtype.names or ()
    return float(cfg["dt"]) if "dt" in names else None


def runner_settings(who: str, period_ns: int, clock: Any, phases: dict[str, Any], rt: RtConfig | None,
                    overrun: str, fault_after: int, telemetry: TelemetryRing | None) -> RunnerSettings:
    """The constructor checks shared by :class:`LoopRunner` and
    :class:`~cerebellum_rt.rtcore.cyrunner.CyLoopRunner` (``who`` names the runner in errors):
    period range, clock type, each law phase's configured ``dt`` against the period (fixed
    step), overrun policy, fault threshold and telemetry width; ``rt`` defaults to
    :class:`RtConfig` on a real-time clock and to none in lockstep."""
    period_ns = int(check_range(f"{who}.period_ns", period_ns, 10_000, 10_000_000_000, "ns"))
    if not isinstance(clock, RealTimeClock | LockstepClock):
        raise ConfigError(f"{who}.clock = {clock!r} is not a RealTimeClock or LockstepClock")
    period_s = period_ns * 1e-9
    for name, phase in phases.items():
        dt = law_dt_s(phase)
        if dt is not None and abs(dt - period_s) > DT_RTOL * period_s:
            raise ConfigError(f"{who}.{name}: the law's cfg.dt = {dt:.9g} s is not the loop period "
                              f"{period_s:.9g} s (period_ns = {period_ns}); laws are fixed-step: set cfg.dt "
                              "to the period or run the loop at cfg.dt")
    if rt is None:
        rt = RtConfig.off() if clock.lockstep else RtConfig()
    policy = policy_code(overrun)
    fault_after = int(check_range(f"{who}.fault_after", fault_after, 0, 1_000_000))
    if telemetry is not None and telemetry.width < 4:
        raise ConfigError(f"{who}.telemetry width = {telemetry.width} is less than the 4 values per tick")
    return RunnerSettings(period_ns, rt, policy, fault_after)


def _noop(t_s: float, dt_s: float) -> None:
    """A phase that does nothing."""


class LoopRunner:
    """Run ``read``, ``update``, ``write`` every ``period_ns`` on ``clock``.

    ``rt``: real-time set-up applied (to the calling thread) for the duration of :meth:`run`
    (default :class:`RtConfig` for a real-time clock, none for lockstep).
    ``overrun``: 'skip' (default) or 'catch_up'; ``fault_after`` N > 0 stops the loop after N
    consecutive overruns and calls ``on_fault(reason)``. ``telemetry``: a ring that receives
    ``(tick, wake time [ns], wake latency [ns], step time [ns])`` each tick. ``watchdog``: fed
    at the end of every tick, its thread started and stopped around the run (real time); in
    lockstep a tick that ends more than its timeout after the previous feed trips it and stops
    the loop (``stats.watchdog_tripped``).
    """

    def __init__(
        self,
        period_ns: int,
        clock: RealTimeClock | LockstepClock,
        read: Step = _noop,
        update: Step = _noop,
        write: Step = _noop,
        rt: RtConfig | None = None,
        overrun: str = "skip",
        fault_after: int = 0,
        on_fault: FaultCallback | None = None,
        telemetry: TelemetryRing | None = None,
        watchdog: Watchdog | None = None,
    ) -> None:
        phases = {"read": read, "update": update, "write": write}
        for name, f in phases.items():
            if not callable(f):
                raise ConfigError(f"LoopRunner.{name} = {f!r} is not callable (t_s, dt_s) -> None")
        self.period_ns, self.rt, self.policy, self.fault_after = runner_settings(
            "LoopRunner", period_ns, clock, phases, rt, overrun, fault_after, telemetry)
        self.clock = clock
        self.read, self.update, self.write = read, update, write
        self.on_fault = on_fault
        self.rt_session: RtSession | None = None  # what the last run's real-time set-up did
        self.telemetry = telemetry
        self.watchdog = watchdog
        self._tel_row = np.full(telemetry.width if telemetry is not None else 4, 0.0)

    def run(self, cycles: int) -> LoopStats:
        """Run ``cycles`` ticks (fewer if the fault policy or a lockstep watchdog trip stops the
        loop); return the stats. Applies ``rt`` to the calling thread for the run's duration."""
        cycles = int(check_range("LoopRunner.run cycles", cycles, 1, 1 << 31))
        stats = LoopStats(cycles, self.period_ns)
        session = self.rt_session = self.rt.apply()
        try:
            flt0 = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            self._loop(cycles, stats)
            stats.minor_faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - flt0
        finally:
            session.restore()
        if stats.faulted and self.on_fault is not None:
            self.on_fault(
                f"loop: {stats.max_consecutive_overruns} consecutive overruns "
                f"(fault_after = {self.fault_after}) at tick {stats.cycles - 1}"
            )
        return stats

    def _loop(self, cycles: int, stats: LoopStats) -> None:
        clock, period, policy, fault_after = self.clock, self.period_ns, self.policy, self.fault_after
        read, update, write = self.read, self.update, self.write
        has_read, has_write = read is not _noop, write is not _noop  # skip empty phases
        now_ns, sleep_until, record = clock.now_ns, clock.sleep_until, stats.record
        tel, row = self.telemetry, self._tel_row
        wd = self.watchdog
        lockstep = bool(getattr(clock, "lockstep", False))
        start = now_ns()
        deadline = start + period
        prev_wake = deadline - period
        consecutive = 0
        stalled = False
        if wd is not None:
            wd.start(start, lockstep)
        i = 0
        try:
            while i < cycles:
                sleep_until(deadline)
                wake = now_ns()
                t_s = (wake - start) * 1e-9
                dt_s = (wake - prev_wake) * 1e-9
                if has_read:
                    read(t_s, dt_s)
                update(t_s, dt_s)
                if has_write:
                    write(t_s, dt_s)
                end = now_ns()
                nxt, skipped = next_deadline(deadline, end, period, policy)
                over = end > deadline + period
                record(i, wake - deadline, end - wake, wake - prev_wake, over)
                if wd is not None:
                    if lockstep and end - wd.heartbeat[1] > wd.timeout_ns:
                        wd.check(end)  # trips in virtual time; stop, as the Cython runner does
                        stalled = True
                    else:
                        wd.feed(end)
                if tel is not None:
                    row[0] = i
                    row[1] = wake
                    row[2] = wake - deadline
                    row[3] = end - wake
                    tel.try_push(row)
                i += 1
                if over:
                    stats.overruns += 1
                    stats.skipped += skipped
                    consecutive += 1
                    if consecutive > stats.max_consecutive_overruns:
                        stats.max_consecutive_overruns = consecutive
                    if fault_after and consecutive >= fault_after:
                        stats.faulted = True
                        break
                else:
                    consecutive = 0
                if stalled:
                    stats.watchdog_tripped = True
                    break
                prev_wake = wake
                deadline = nxt
        finally:
            stats.cycles = i
            if wd is not None:
                wd.stop()

