"""The SPSC telemetry ring: wrap-around and drop counting against a bounded-queue model, the
C producer of the Cython runner, a reader thread during a real-time run, and a reader process
over shared memory."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.codegen.examples.wholebody import g1_like_records, wholebody_step
from cerebellum_rt.codegen.host import host_law
from cerebellum_rt.rtcore.clock import LockstepClock, RealTimeClock
from cerebellum_rt.rtcore.cyrunner import CyLoopRunner
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.jit import law_cfunc, law_context
from cerebellum_rt.rtcore.loop import LoopRunner
from cerebellum_rt.rtcore.ring import TelemetryRing
from cerebellum_rt.rtcore.rt import RtConfig

ops_st = st.lists(st.one_of(st.tuples(st.just("push"), st.integers(1, 40)),
                            st.tuples(st.just("drain"), st.integers(0, 40))), max_size=40)


@given(capacity=st.integers(1, 16), width=st.integers(1, 5), ops=ops_st)
@settings(max_examples=150, deadline=None)
def test_ring_matches_a_bounded_queue_model(capacity: int, width: int, ops: list) -> None:
    ring = TelemetryRing(capacity, width)
    model: deque[float] = deque()
    seq = dropped = 0
    out = np.zeros((64, width))
    for op, n in ops:
        if op == "push":
            for _ in range(n):
                ok = ring.try_push(np.full(width, float(seq)))
                assert ok == (len(model) < capacity)
                if ok:
                    model.append(float(seq))
                else:
                    dropped += 1
                seq += 1
        else:
            got = ring.drain(out[:n])
            want = [model.popleft() for _ in range(min(n, len(model)))]
            assert got == len(want)
            assert out[:got, 0].tolist() == want and (out[:got] == out[:got, :1]).all()
        assert ring.pending() == len(model) <= capacity
        assert ring.dropped == dropped and ring.pushed == seq - dropped


def test_cython_runner_pushes_each_tick_and_counts_drops() -> None:
    recs = g1_like_records(0)
    ring = TelemetryRing(8, 6)
    runner = CyLoopRunner(1_000_000, LockstepClock(), law_cfunc(host_law(wholebody_step), *recs), law_context(*recs),
                          telemetry=ring)
    runner.run(20)
    assert (ring.pushed, ring.dropped) == (8, 12)
    out = np.zeros((20, 6))
    assert ring.drain(out) == 8
    assert out[:8, 0].tolist() == list(range(8))  # tick numbers
    assert out[:8, 1].tolist() == [1e6 * (i + 1) for i in range(8)]  # wake times (virtual ns)
    assert not out[:8, 2:].any()  # latency, step time (lockstep), zero-filled extra columns
    runner.run(5)  # room again: the next run's ticks are accepted
    assert ring.drain(out) == 5 and out[:5, 0].tolist() == list(range(5)) and ring.dropped == 12


def test_reader_thread_drains_while_the_cython_loop_runs() -> None:
    recs = g1_like_records(0)
    ring = TelemetryRing(16, 4)
    runner = CyLoopRunner(1_000_000, RealTimeClock(), law_cfunc(host_law(wholebody_step), *recs), law_context(*recs),
                          telemetry=ring, rt=RtConfig.off())
    seen: list[float] = []
    done = threading.Event()

    def reader() -> None:
        buf = np.zeros((16, 4))
        while not done.is_set() or ring.pending():
            n = ring.drain(buf)
            seen.extend(buf[:n, 0].tolist())
            done.wait(0.002)

    th = threading.Thread(target=reader)
    th.start()
    stats = runner.run(300)
    done.set()
    th.join()
    assert stats.cycles == 300
    assert len(seen) + ring.dropped == 300 and ring.drained == len(seen)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # in order, no duplicates


READER = """
import json, sys, time
import numpy as np
from cerebellum_rt.rtcore.ring import TelemetryRing
ring = TelemetryRing.attach(sys.argv[1])
total = int(sys.argv[2])
buf = np.zeros((ring.capacity, ring.width))
seen = []
print("ready", flush=True)
t_end = time.monotonic() + 60
while time.monotonic() < t_end:
    n = ring.drain(buf)
    seen.extend(buf[:n, 0].astype(int).tolist())
    if n == 0 and ring.pushed + ring.dropped >= total and ring.pending() == 0:
        break
print(json.dumps({"seen": seen, "dropped": ring.dropped}))
ring.close()
"""


def test_reader_process_drains_over_shared_memory() -> None:
    ring = TelemetryRing.create_shared(32, 4)
    try:
        total = 3000
        reader = subprocess.Popen([sys.executable, "-c", READER, ring.name, str(total)],
                                  stdout=subprocess.PIPE, text=True)
        assert reader.stdout is not None and reader.stdout.readline() == "ready\n"
        # 200 µs period: the reader drains concurrently (some rows may still be dropped).
        LoopRunner(200_000, RealTimeClock(), telemetry=ring, rt=RtConfig.off()).run(total)
        res = json.loads(reader.communicate(timeout=120)[0])
    finally:
        ring.close(unlink=True)
    seen = res["seen"]
    assert len(seen) + res["dropped"] == total
    assert seen == sorted(set(seen)) and set(seen) <= set(range(total))
    assert len(seen) > 32  # more than one ring's worth: the reader drained during the run


def test_ring_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"TelemetryRing.capacity = 0 rows is out of range"):
        TelemetryRing(0, 4)
    with pytest.raises(ConfigError, match=r"no such shared memory"):
        TelemetryRing.attach("cbl-no-such-ring")
    with pytest.raises(ConfigError, match=r"telemetry width = 2 is less than"):
        LoopRunner(1_000_000, LockstepClock(), telemetry=TelemetryRing(4, 2))
