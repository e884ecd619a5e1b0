"""rtcore: the base layer. Errors, the jit entry point, clocks and the deterministic loop runners
(absolute deadlines, RT set-up, stats, watchdog, telemetry). It knows no bus, device, law or
code generator: every other package may import rtcore, rtcore imports none of them.

Public API (import from the submodules; numba is imported only by ``cerebellum_rt.rtcore.jit``,
which ruff's banned-api rule TID251 enforces):

- ``cerebellum_rt.rtcore.errors``: ``ConfigError`` / ``DeviceError`` / ``DeviceTimeout``, ``check_range``

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
- ``cerebellum_rt.rtcore.build``: ``cache_dir``, ``cyloop`` (the Cython core), ``c_executable`` (a C
  program built with gcc on first use, cached by its sources' hash)

Laws are fixed-step: a law's configured ``dt`` is the loop period. The runners take the law's
``dt`` from its config record (when the step came from :func:`~cerebellum_rt.rtcore.jit.law_update` or
:func:`~cerebellum_rt.rtcore.jit.law_cfunc`) and refuse, at construction, a period that differs; the
measured period of each tick goes to the statistics and the overrun policy, not to the law.

Workloads live elsewhere: the whole-body benchmark law is ``cerebellum_rt.codegen.examples.wholebody``
and its C reference loop ``cerebellum_rt.tools.bench.refloop``.
"""
