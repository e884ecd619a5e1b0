"""The Cython loop runner: the same loop as :class:`~rtcore.loop.LoopRunner`, entirely in C.

The tick calls C function pointers ``int32_t f(double t_s, double dt_s, void *ctx)`` — a numba
``cfunc`` (:func:`cerebellum_rt.rtcore.jit.law_cfunc`), a cffi function, or generated C — and runs with the
GIL released from the first tick to the last, so Python threads (telemetry readers, a console)
cannot delay it. A nonzero return stops the loop (``stats.status``) and calls ``on_fault``.
Scheduling, statistics, telemetry, watchdog feeding and overrun policies behave exactly as in
the Python runner (the tests run both on the same lockstep schedules). The compiled core is
built on first use (:func:`cerebellum_rt.rtcore.build.cyloop`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cerebellum_rt.rtcore.build import cyloop
from cerebellum_rt.rtcore.clock import LockstepClock, RealTimeClock
from cerebellum_rt.rtcore.errors import ConfigError, check_range
from cerebellum_rt.rtcore.loop import FaultCallback, runner_settings
from cerebellum_rt.rtcore.ring import TelemetryRing
from cerebellum_rt.rtcore.rt import RtConfig, RtSession
from cerebellum_rt.rtcore.stats import LoopStats
from cerebellum_rt.rtcore.watchdog import Watchdog

_EMPTY = np.zeros(0, dtype=np.int64)


def c_address(fn: Any, what: str) -> int:
    """The address of a C function or buffer: a numba cfunc (``.address``), a cffi pointer, a
    numpy array (its data), an int, or None (0)."""
    if fn is None:
        return 0
    if isinstance(fn, int):
        return fn
    if isinstance(fn, np.ndarray):
        return int(fn.ctypes.data)
    if hasattr(fn, "address"):
        return int(fn.address)
    try:
        import cffi

        return int(cffi.FFI().cast("uintptr_t", fn))
    except (ImportError, TypeError) as exc:
        raise ConfigError(f"CyLoopRunner {what} = {fn!r} is not a C function/buffer address") from exc


class CyLoopRunner:
    """Run C step functions every ``period_ns`` on ``clock`` with the GIL released.

    ``step`` (required), ``read``, ``write``: C functions (see :func:`c_address`), called with
    ``step_ctx`` / ``read_ctx`` / ``write_ctx`` (numpy arrays or addresses, kept alive here).
    Other arguments, their checks (:func:`~cerebellum_rt.rtcore.loop.runner_settings`) and the fixed-step
    semantics as :class:`~rtcore.loop.LoopRunner`; the spin tail comes from the clock.
    """

    def __init__(
        self,
        period_ns: int,
        clock: RealTimeClock | LockstepClock,
        step: Any,
        step_ctx: Any = None,
        read: Any = None,
        read_ctx: Any = None,
        write: Any = None,
        write_ctx: Any = None,
        rt: RtConfig | None = None,
        overrun: str = "skip",
        fault_after: int = 0,
        on_fault: FaultCallback | None = None,
        telemetry: TelemetryRing | None = None,
        watchdog: Watchdog | None = None,
    ) -> None:
        self.period_ns, self.rt, self.policy, self.fault_after = runner_settings(
            "CyLoopRunner", period_ns, clock, {"read": read, "step": step, "write": write}, rt, overrun,
            fault_after, telemetry)
        self.clock = clock
        self._keep = (step, step_ctx, read, read_ctx, write, write_ctx)  # alive while we point at them
        self._fns = (
            c_address(read, "read"), c_address(read_ctx, "read_ctx"),
            c_address(step, "step"), c_address(step_ctx, "step_ctx"),
            c_address(write, "write"), c_address(write_ctx, "write_ctx"),
        )
        if self._fns[2] == 0:
            raise ConfigError("CyLoopRunner.step = None: a C step function is required")
        self.on_fault = on_fault
        self.rt_session: RtSession | None = None  # what the last run's real-time set-up did
        self.telemetry = telemetry
        self.watchdog = watchdog
        self._core = cyloop()  # build/load before any loop starts

    def run(self, cycles: int) -> LoopStats:
        """Run ``cycles`` ticks (fewer on fault, step status or lockstep watchdog trip)."""
        cycles = int(check_range("CyLoopRunner.run cycles", cycles, 1, 1 << 31))
        stats = LoopStats(cycles, self.period_ns)
        clock, wd = self.clock, self.watchdog
        lockstep = clock.lockstep
        vclock = clock.cell if isinstance(clock, LockstepClock) else _EMPTY
        spin = 0 if lockstep else clock.spin_ns  # type: ignore[union-attr]
        ring = self.telemetry.address if self.telemetry is not None else 0
        if wd is not None:
            wd.start(clock.now_ns(), lockstep)
        session = self.rt_session = self.rt.apply()
        try:
            r = self._core.run_loop(
                self.period_ns, cycles, *self._fns, self.policy, self.fault_after, spin, vclock,
                stats.wake_latency_ns, stats.step_ns, stats.period_ns, stats.overrun, stats.histogram,
                ring, wd.heartbeat if wd is not None else _EMPTY, wd.timeout_ns if wd is not None and lockstep else 0,
            )
        finally:
            session.restore()
            if wd is not None:
                wd.stop()
        stats.cycles, stats.overruns, stats.skipped = r["cycles"], r["overruns"], r["skipped"]
        stats.max_consecutive_overruns, stats.faulted = r["max_consecutive"], r["faulted"]
        stats.status, stats.minor_faults = r["status"], r["minor_faults"]
        stats.heap_delta_bytes = r["heap_delta_bytes"]
        if r["stalled"] and wd is not None:
            wd.check(r["end_ns"])
            stats.watchdog_tripped = True
        if self.on_fault is not None:
            if stats.faulted:
                self.on_fault(f"loop: {stats.max_consecutive_overruns} consecutive overruns "
                              f"(fault_after = {self.fault_after}) at tick {stats.cycles - 1}")
            elif stats.status:
                self.on_fault(f"loop: step returned status {stats.status} at tick {stats.cycles - 1}")
        return stats
