"""rtcore: the deterministic loop runner (clocks, absolute deadlines, RT setup, stats, watchdog); knows no bus or device.

Public API (import from the submodules; numba is imported only by ``rtcore.jit``):

- ``rtcore.clock``: ``RealTimeClock(spin_ns)`` (clock_nanosleep TIMER_ABSTIME + spin tail),
  ``LockstepClock()`` (virtual time, ``advance(ns)``)
- ``rtcore.rt``: ``RtConfig(priority, cpus, lock_memory, timer_slack_ns, dma_latency_us, gc, strict)``
  ``.apply() -> RtSession`` (``.applied``, ``.refused``, ``.restore()``), ``RtWarning``
- ``rtcore.loop``: ``LoopRunner(period_ns, clock, read, update, write, rt, overrun, fault_after,
  on_fault, telemetry, watchdog).run(cycles) -> LoopStats`` (the Python runner)
- ``rtcore.cyrunner``: ``CyLoopRunner(period_ns, clock, step, step_ctx, ...)`` (the Cython
  runner: C function pointers, GIL released; built on first use by ``rtcore.build``)
- ``rtcore.jit``: ``njit``, ``law_update(law, cfg, st, inp, out)``, ``law_cfunc(...)``,
  ``law_context(...)``
- ``rtcore.schedule``: ``next_deadline``, policies ``SKIP`` / ``CATCH_UP``
- ``rtcore.stats``: ``LoopStats`` (per-tick arrays, histogram, ``summary()``)
- ``rtcore.ring``: ``TelemetryRing`` (lock-free SPSC, shared memory, drop counting)
- ``rtcore.watchdog``: ``Watchdog(timeout_ns, rungs)`` (safety-ladder escalation)
- ``rtcore.wholebody``: the 29-joint + 2x3-axis hand workload law; ``rtcore.refloop``: the C
  reference loop that ``cbl bench loop`` measures it against
"""
