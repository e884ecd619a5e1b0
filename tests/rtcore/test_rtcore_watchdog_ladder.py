"""The software watchdog and the safety ladder (quick stop -> damping -> safe torque off):
trip, escalation while the stall lasts, a failed rung falling through to the next, latching."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.rtcore.clock import RealTimeClock
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.loop import LoopRunner
from cerebellum_rt.rtcore.rt import RtConfig
from cerebellum_rt.rtcore.watchdog import Watchdog

MS = 1_000_000


class Ladder:
    """Three rungs recording their calls; ``fail`` rungs report failure (or raise)."""

    def __init__(self, fail: tuple[int, ...] = (), raise_: tuple[int, ...] = ()) -> None:
        self.calls: list[tuple[int, str]] = []
        self.fail, self.raise_ = fail, raise_

    def rung(self, i: int):
        def act(reason: str) -> bool:
            self.calls.append((i, reason))
            if i in self.raise_:
                raise RuntimeError(f"rung {i} bus down")
            return i not in self.fail

        return act

    def rungs(self) -> list:
        return [self.rung(i) for i in range(3)]


def test_no_trip_while_fed_then_trip_and_escalate_per_interval() -> None:
    lad = Ladder()
    wd = Watchdog(10 * MS, lad.rungs(), escalate_ns=20 * MS, thread=False)
    wd.start(0)
    for t in range(1, 50):
        wd.feed(t * MS)
        assert wd.check(t * MS + 5 * MS) == -1
    assert wd.check(49 * MS + 10 * MS) == -1  # exactly the timeout: not yet
    assert wd.check(49 * MS + 11 * MS) == 0
    assert [c[0] for c in lad.calls] == [0] and "stalled 11.000 ms" in lad.calls[0][1]
    assert wd.check(49 * MS + 30 * MS) == 0  # escalation waits escalate_ns after the last rung
    assert wd.check(49 * MS + 31 * MS) == 1
    assert wd.check(49 * MS + 52 * MS) == 2
    assert wd.check(49 * MS + 500 * MS) == 2  # top of the ladder: nothing more to call
    assert [c[0] for c in lad.calls] == [0, 1, 2]


def test_failed_or_raising_rung_falls_through_at_once() -> None:
    lad = Ladder(fail=(0,), raise_=(1,))
    wd = Watchdog(5 * MS, lad.rungs(), thread=False)
    wd.start(0)
    assert wd.check(6 * MS) == 2
    assert [c[0] for c in lad.calls] == [0, 1, 2]
    assert wd.failed_rungs == [0, 1]
    assert "rung 0 failed" in lad.calls[1][1]
    assert "rung 1 raised RuntimeError: rung 1 bus down; rung 1 failed" in lad.calls[2][1]


def test_trip_is_latched_until_reset() -> None:
    lad = Ladder()
    wd = Watchdog(5 * MS, lad.rungs(), escalate_ns=100 * MS, thread=False)
    wd.start(0)
    assert wd.check(6 * MS) == 0
    wd.feed(7 * MS)  # the loop came back
    assert wd.check(8 * MS) == 0 and wd.tripped  # still tripped, no new call
    assert len(lad.calls) == 1
    wd.reset()
    assert wd.check(8 * MS) == -1 and not wd.tripped


@given(feeds=st.lists(st.integers(1, 30), min_size=1, max_size=40), timeout_ms=st.integers(1, 20))
@settings(max_examples=100, deadline=None)
def test_trips_exactly_when_a_gap_exceeds_the_timeout(feeds: list[int], timeout_ms: int) -> None:
    lad = Ladder()
    wd = Watchdog(timeout_ms * MS, lad.rungs(), thread=False)
    wd.start(0)
    t = 0
    for gap in feeds:
        t += gap * MS
        wd.check(t)
        wd.feed(t)
    gaps_over = [g for g in feeds if g > timeout_ms]
    assert wd.tripped == bool(gaps_over)
    if gaps_over:
        assert lad.calls[0][0] == 0


def test_watchdog_thread_trips_while_the_real_time_loop_is_stalled() -> None:
    lad = Ladder()
    wd = Watchdog(20 * MS, lad.rungs(), escalate_ns=1000 * MS)
    stalled = []

    def update(t_s: float, dt_s: float) -> None:
        if not stalled and t_s > 0.02:
            stalled.append(t_s)
            time.sleep(0.3)  # a 300 ms stall, 15x the timeout

    stats = LoopRunner(1 * MS, RealTimeClock(), update=update, watchdog=wd, rt=RtConfig.off()).run(60)
    assert stats.cycles == 60 and stats.overruns >= 1
    assert wd.tripped_rung == 0 and lad.calls[0][0] == 0 and "loop stalled" in lad.calls[0][1]


def test_watchdog_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"Watchdog.timeout_ns = 10 ns is out of range"):
        Watchdog(10, [print])
    with pytest.raises(ConfigError, match=r"need at least one callable safety rung"):
        Watchdog(10 * MS, [])


def test_heartbeat_can_live_in_caller_memory() -> None:
    import numpy as np

    hb = np.zeros(2, dtype=np.int64)
    wd = Watchdog(5 * MS, Ladder().rungs(), thread=False, heartbeat=hb)
    wd.start(0)
    wd.feed(3 * MS)
    assert hb.tolist() == [2, 3 * MS]
    with pytest.raises(ConfigError, match=r"is not a contiguous int64\[2\]"):
        Watchdog(5 * MS, [print], heartbeat=np.zeros(3))
