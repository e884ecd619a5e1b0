"""rtcore: the deterministic loop runner (clocks, absolute deadlines, RT setup, stats, watchdog); knows no bus or device.

Public API (import from the submodules; numba is imported only by ``cerebellum_rt.rtcore.jit``):

- ``cerebellum_rt.rtcore.clock``: ``RealTimeClock(spin_ns)`` (clock_nanosleep TIMER_ABSTIME + spin tail),
  ``LockstepClock()`` (virtual time, ``advance(ns)``)
- ``cerebellum_rt.rtcore.rt``: ``RtConfig(priority, cpus, lock_memory, timer_slack_ns, dma_latency_us, gc, strict)``
  ``.apply() -> RtSession`` (``.applied``, ``.refused``, ``.restore()``), ``RtWarning``
- ``cerebellum_rt.rtcore.loop``: ``LoopRunner(period_ns, clock, read, update, write, rt, overrun, fault_after,
  on_fault, telemetry, watchdog).run(cycles) -> LoopStats`` (the Python runner)
- ``cerebellum_rt.rtcore.cyrunner``: ``CyLoopRunner(period_ns, clock, step, step_ctx, ...)`` (the Cython
  runner: C function pointers, GIL released; built on first use by ``cerebellum_rt.rtcore.build``)
- ``cerebellum_rt.rtcore.jit``: ``njit``, ``law_update(law, cfg, st, inp, out)``, ``law_cfunc(...)``,
  ``law_context(...)``
- ``cerebellum_rt.rtcore.schedule``: ``next_deadline``, policies ``SKIP`` / ``CATCH_UP``
- ``cerebellum_rt.rtcore.stats``: ``LoopStats`` (per-tick arrays, histogram, ``summary()``)
- ``cerebellum_rt.rtcore.ring``: ``TelemetryRing`` (lock-free SPSC, shared memory, drop counting)
- ``cerebellum_rt.rtcore.watchdog``: ``Watchdog(timeout_ns, rungs)`` (safety-ladder escalation)
- ``cerebellum_rt.rtcore.wholebody``: the 29-joint + 2x3-axis hand workload law; ``cerebellum_rt.rtcore.refloop``: the C
  reference loop that ``cbl bench loop`` measures it against
"""
