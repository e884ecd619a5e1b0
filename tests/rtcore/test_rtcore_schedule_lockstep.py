"""Scheduling logic in virtual time: deadline arithmetic, overrun policies, fault policy and the
watchdog trip, for the Python runner and the Cython runner (which must agree tick for tick),
against an independently written model of the loop."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import carray

from cerebellum_rt.codegen.host import host_law
from cerebellum_rt.codegen.law import Record, f32, i32
from cerebellum_rt.rtcore.build import cyloop
from cerebellum_rt.rtcore.clock import LockstepClock
from cerebellum_rt.rtcore.cyrunner import CyLoopRunner
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.jit import STEP_SIG, addr_ptr, law_cfunc, law_context
from cerebellum_rt.rtcore.loop import LoopRunner
from cerebellum_rt.rtcore.schedule import CATCH_UP, SKIP, next_deadline
from cerebellum_rt.rtcore.watchdog import Watchdog

T = 1_000_000  # 1 ms
SETTINGS = settings(max_examples=60, deadline=None)


@numba.cfunc(STEP_SIG)
def costly_step(t_s, dt_s, ctx):
    """C step for lockstep tests: ctx = uint64[vclock address, costs address, n costs, counter].
    Advances the virtual clock by costs[k % n]; a cost of -1 returns status 7 instead."""
    hdr = carray(ctx, 4, dtype=np.uint64)
    vc = carray(addr_ptr(hdr[0]), 1, dtype=np.int64)
    costs = carray(addr_ptr(hdr[1]), hdr[2], dtype=np.int64)
    k = hdr[3]
    hdr[3] = k + np.uint64(1)
    c = costs[k % hdr[2]]
    if c < 0:
        return np.int32(7)
    vc[0] += c
    return np.int32(0)


def model(costs: list[int], cycles: int, policy: int, fault_after: int) -> dict:
    """The loop written out plainly: start at 0, deadlines on the grid n*T."""
    t, d, prev = 0, T, 0
    lat, per, over = [], [], []
    overruns = consecutive = 0
    faulted = False
    for i in range(cycles):
        t = max(t, d)
        wake = t
        t += costs[i % len(costs)]
        lat.append(wake - d)
        per.append(wake - prev)
        late = t > d + T
        over.append(late)
        prev = wake
        if late:
            overruns += 1
            consecutive += 1
            d = d + T if policy == CATCH_UP else T * (t // T + 1)  # first grid point after t
            if fault_after and consecutive >= fault_after:
                faulted = True
                break
        else:
            consecutive = 0
            d += T
    return {"lat": lat, "per": per, "over": over, "overruns": overruns, "faulted": faulted}


def run_python(costs: list[int], cycles: int, policy: str, fault_after: int, **kw):
    clock = LockstepClock()
    k = [0]

    def update(t_s: float, dt_s: float) -> None:
        clock.advance(costs[k[0] % len(costs)])
        k[0] += 1

    return LoopRunner(T, clock, update=update, overrun=policy, fault_after=fault_after, **kw).run(cycles)


def run_cython(costs: list[int], cycles: int, policy: str, fault_after: int, **kw):
    clock = LockstepClock()
    cost_arr = np.array(costs, dtype=np.int64)
    ctx = np.array([clock.cell.ctypes.data, cost_arr.ctypes.data, len(costs), 0], dtype=np.uint64)
    runner = CyLoopRunner(T, clock, costly_step, ctx, overrun=policy, fault_after=fault_after, **kw)
    stats = runner.run(cycles)
    return stats, ctx


@given(d=st.integers(0, 10**15), end=st.integers(0, 10**15), period=st.integers(1, 10**9))
@settings(max_examples=300, deadline=None)
def test_next_deadline_skip_lands_on_grid_after_end(d: int, end: int, period: int) -> None:
    nxt, skipped = next_deadline(d, end, period, SKIP)
    assert (nxt - d) % period == 0 and nxt >= d + period
    if end <= d + period:
        assert (nxt, skipped) == (d + period, 0)
    else:
        assert nxt > end >= nxt - period  # the first grid deadline after the tick ended
        assert skipped == (nxt - d) // period - 1  # deadlines passed over
    assert next_deadline(d, end, period, CATCH_UP) == (d + period, 0)
    assert cyloop().next_deadline(d, end, period, SKIP) == (nxt, skipped)
    assert cyloop().next_deadline(d, end, period, CATCH_UP) == (d + period, 0)


costs_st = st.lists(st.integers(0, 3_500_000), min_size=1, max_size=12)


@given(costs=costs_st, cycles=st.integers(1, 80), policy=st.sampled_from(["skip", "catch_up"]),
       fault_after=st.integers(0, 4))
@SETTINGS
def test_both_runners_follow_the_model(costs: list[int], cycles: int, policy: str, fault_after: int) -> None:
    code = SKIP if policy == "skip" else CATCH_UP
    m = model(costs, cycles, code, fault_after)
    n = len(m["lat"])
    faults: list[str] = []
    py = run_python(costs, cycles, policy, fault_after, on_fault=faults.append)
    cy, ctx = run_cython(costs, cycles, policy, fault_after)
    for s in (py, cy):
        assert s.cycles == n
        assert s.wake_latency_ns[:n].tolist() == m["lat"]
        assert s.period_ns[:n].tolist() == m["per"]
        assert s.overrun[:n].astype(bool).tolist() == m["over"]
        assert s.step_ns[:n].tolist() == [costs[i % len(costs)] for i in range(n)]
        assert s.overruns == m["overruns"]
        assert s.faulted == m["faulted"]
        assert s.histogram.sum() == n
    assert ctx[3] == n  # the C step ran once per tick
    assert (py.skipped, py.max_consecutive_overruns) == (cy.skipped, cy.max_consecutive_overruns)
    assert bool(faults) == py.faulted
    if code == CATCH_UP:
        assert py.skipped == 0


def test_skip_policy_drops_missed_deadlines_and_catch_up_runs_them_late() -> None:
    costs = [100_000] * 5 + [3_400_000] + [100_000] * 20  # tick 5 takes 3.4 ms
    skip = run_python(costs, 12, "skip", 0)
    assert skip.overruns == 1 and skip.skipped == 3
    assert skip.wake_latency_ns[6] == 0  # resumed on the grid, on time
    assert skip.period_ns[6] == 4 * T
    late = run_python(costs, 12, "catch_up", 0)
    assert late.overruns == 3 and late.skipped == 0  # ticks 5, 6, 7 end after their next deadline
    assert late.wake_latency_ns[6:9].tolist() == [2_400_000, 1_500_000, 600_000]
    assert late.wake_latency_ns[9] == 0  # caught up


def test_fault_after_consecutive_overruns_stops_and_calls_back() -> None:
    got: list[str] = []
    costs = [100_000] * 3 + [2_500_000] * 10
    for run in (run_python, run_cython):
        res = run(costs, 50, "skip", 3, on_fault=got.append)
        stats = res if run is run_python else res[0]
        assert stats.faulted and stats.cycles == 6 and stats.max_consecutive_overruns == 3
    assert len(got) == 2 and all("3 consecutive overruns" in g for g in got)


def test_cython_step_status_stops_the_loop() -> None:
    got: list[str] = []
    stats, ctx = run_cython([10_000, 10_000, -1], 20, "skip", 0, on_fault=got.append)
    assert stats.status == 7 and stats.cycles == 3 and ctx[3] == 3
    assert got == ["loop: step returned status 7 at tick 2"]


@pytest.mark.parametrize("runner", ["python", "cython"])
def test_watchdog_trips_in_virtual_time_when_a_tick_stalls(runner: str) -> None:
    calls: list[str] = []
    wd = Watchdog(10_000_000, [calls.append], thread=False)
    costs = [200_000] * 7 + [40_000_000] + [200_000] * 5  # tick 7 stalls 40 ms
    if runner == "python":
        stats = run_python(costs, 30, "skip", 0, watchdog=wd)
    else:
        stats, _ = run_cython(costs, 30, "skip", 0, watchdog=wd)
    assert stats.watchdog_tripped and stats.cycles == 8
    assert wd.tripped_rung == 0 and len(calls) == 1 and "stalled 40.8" in calls[0]
    assert wd.heartbeat[1] == 7_200_000  # last fed at the end of tick 6; tick 7 ended at 48 ms


def test_lockstep_run_is_deterministic_and_on_time() -> None:
    a = run_python([123_000, 456_000], 100, "skip", 0)
    b = run_python([123_000, 456_000], 100, "skip", 0)
    assert not a.wake_latency_ns.any() and (a.period_ns == T).all()
    assert a.summary() == b.summary()


def test_bad_runner_arguments_name_the_value_and_limit() -> None:
    with pytest.raises(ConfigError, match=r"period_ns = 5 ns is out of range"):
        LoopRunner(5, LockstepClock())
    with pytest.raises(ConfigError, match=r"overrun policy = 'later' is not one of"):
        LoopRunner(T, LockstepClock(), overrun="later")
    with pytest.raises(ConfigError, match=r"update = 3 is not callable"):
        LoopRunner(T, LockstepClock(), update=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"a C step function is required"):
        CyLoopRunner(T, LockstepClock(), None)


class _GuardCfg(Record):
    limit: i32 = 4


class _GuardState(Record):
    n: i32


class _GuardIO(Record):
    x: f32


def guard_step(cfg: _GuardCfg, st: _GuardState, inp: _GuardIO, out: _GuardIO) -> i32:
    """A law that reports a status: 3 once it has run ``limit`` times."""
    st.n = st.n + 1
    out.x = inp.x * 2.0
    if st.n >= cfg.limit:
        return 3
    return 0


def test_a_law_returning_a_status_stops_the_cython_runner() -> None:
    recs = (_GuardCfg.new(), _GuardState.new(), _GuardIO.new(x=1.5), _GuardIO.new())
    stats = CyLoopRunner(T, LockstepClock(), law_cfunc(host_law(guard_step), *recs), law_context(*recs)).run(50)
    assert (stats.status, stats.cycles, int(recs[1]["n"]), float(recs[3]["x"])) == (3, 4, 4, 3.0)
