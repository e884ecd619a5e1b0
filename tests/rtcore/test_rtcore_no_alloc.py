"""No allocation and no page faults inside the tick after warm-up, across 10,000 ticks.

Python runner (numba step): Python-heap size (tracemalloc), allocated object blocks and the
transient peak are sampled at the same point of tick 1,000 and tick 11,000: the 10,000 ticks in
between must leave them unchanged (transient ints/floats of the loop come and go within a tick).
Cython runner: the loop runs without the GIL (no Python object can be made), and the C code
counts the loop thread's minor page faults and the malloc heap in use around the loop.
"""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np

from cerebellum_rt.codegen.examples.wholebody import g1_like_records, wholebody_step
from cerebellum_rt.codegen.host import host_law
from cerebellum_rt.rtcore.clock import LockstepClock
from cerebellum_rt.rtcore.cyrunner import CyLoopRunner
from cerebellum_rt.rtcore.jit import law_cfunc, law_context, law_update
from cerebellum_rt.rtcore.loop import LoopRunner
from cerebellum_rt.rtcore.ring import TelemetryRing
from cerebellum_rt.rtcore.watchdog import Watchdog

TICKS = 10_000
FIRST = 1_000


def test_python_runner_tick_allocates_nothing() -> None:
    recs = g1_like_records(3)
    update = law_update(host_law(wholebody_step), *recs)
    clock = LockstepClock()
    count = np.zeros(1, dtype=np.int64)
    samples = np.zeros((2, 3), dtype=np.int64)  # [traced bytes, allocated blocks, transient peak]

    def probe(t_s: float, dt_s: float) -> None:  # the write phase: measures at two ticks only
        count[0] += 1
        n = count[0]
        if n == FIRST or n == FIRST + TICKS:
            j = 0 if n == FIRST else 1
            cur, peak = tracemalloc.get_traced_memory()
            samples[j, 0] = cur
            samples[j, 1] = sys.getallocatedblocks()
            samples[j, 2] = peak - cur
            tracemalloc.reset_peak()

    ring = TelemetryRing(64, 4)
    wd = Watchdog(50_000_000, [lambda reason: None], thread=False)
    runner = LoopRunner(1_000_000, clock, update=update, write=probe, telemetry=ring, watchdog=wd)
    runner.run(200)  # warm-up: every code path once
    count[0] = 0
    tracemalloc.start()
    try:
        stats = runner.run(FIRST + TICKS + 10)
    finally:
        tracemalloc.stop()
    assert stats.cycles == FIRST + TICKS + 10 and ring.dropped > 0  # ring full: the drop path ran too
    before, after = samples
    assert after[0] == before[0], f"Python heap grew by {after[0] - before[0]} bytes over {TICKS} ticks"
    assert after[1] == before[1], f"{after[1] - before[1]} object blocks retained over {TICKS} ticks"
    assert after[2] < 2048, f"a tick's transient allocations peaked at {after[2]} bytes"
    assert stats.minor_faults == 0


def test_cython_runner_tick_allocates_nothing_and_never_faults() -> None:
    recs = g1_like_records(3)
    ring = TelemetryRing(64, 4)
    runner = CyLoopRunner(1_000_000, LockstepClock(), law_cfunc(host_law(wholebody_step), *recs), law_context(*recs),
                          telemetry=ring)
    runner.run(200)  # warm-up
    stats = runner.run(TICKS)
    assert stats.cycles == TICKS and ring.dropped > 0
    assert stats.minor_faults == 0
    assert stats.heap_delta_bytes == 0  # glibc mallinfo2, all arenas
