"""Fixed-step semantics: a law integrates with its configured ``cfg.dt`` (the loop period), never
with the measured period; both runners refuse, at construction, a law whose ``cfg.dt`` is not
their period."""

from __future__ import annotations

import numpy as np
import pytest

from cerebellum_rt.codegen.host import host_law
from cerebellum_rt.codegen.law import Record, f32, i32
from cerebellum_rt.rtcore.clock import LockstepClock
from cerebellum_rt.rtcore.cyrunner import CyLoopRunner
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.jit import law_cfunc, law_context, law_update
from cerebellum_rt.rtcore.loop import LoopRunner, law_dt_s

T = 1_000_000  # 1 ms


class RampCfg(Record):
    rate: f32 = 2.0  # [1/s]
    dt: f32 = 0.001  # [s]


class RampState(Record):
    x: f32
    n: i32


class RampIO(Record):
    y: f32


def ramp_step(cfg: RampCfg, st: RampState, inp: RampIO, out: RampIO) -> None:
    """x <- x + rate dt, one configured step per call."""
    st.x = st.x + cfg.rate * cfg.dt
    st.n = st.n + 1
    out.y = st.x


def _records(dt: float = 0.001) -> tuple[np.void, np.void, np.void, np.void]:
    return RampCfg.new(dt=dt), RampState.new(), RampIO.new(), RampIO.new()


def test_a_late_tick_does_not_lengthen_the_laws_step() -> None:
    """Every read costs 1.5 periods of virtual time: each tick overruns, the skip policy drops a
    deadline, the measured period is 2 T, and the law still steps by cfg.dt."""
    clock = LockstepClock()
    recs = _records()
    seen: list[float] = []

    def slow_read(t_s: float, dt_s: float) -> None:
        seen.append(dt_s)
        clock.advance(3 * T // 2)

    stats = LoopRunner(T, clock, read=slow_read, update=law_update(host_law(ramp_step), *recs)).run(10)
    assert stats.overruns == 10 and (stats.period_ns[1:] == 2 * T).all()
    assert seen[1:] == [pytest.approx(2e-3)] * 9  # the measured dt is the runner's, for stats
    x = np.float32(0.0)
    for _ in range(10):
        x = np.float32(x + np.float32(2.0) * np.float32(0.001))
    assert int(recs[1]["n"]) == 10 and recs[1]["x"] == x  # 10 steps of cfg.dt, not of 2 ms


@pytest.mark.parametrize("dt", [0.002, 0.0005, 0.00101])
def test_both_runners_refuse_a_law_configured_for_another_period(dt: float) -> None:
    recs = _records(dt)
    msg = rf"LoopRunner.update: the law's cfg.dt = {np.float32(dt):.9g} s is not the loop period 0.001 s"
    with pytest.raises(ConfigError, match=msg.replace(".", r"\.")):
        LoopRunner(T, LockstepClock(), update=law_update(host_law(ramp_step), *recs))
    with pytest.raises(ConfigError, match=r"CyLoopRunner.step: the law's cfg.dt = .* is not the loop period"):
        CyLoopRunner(T, LockstepClock(), law_cfunc(host_law(ramp_step), *recs), law_context(*recs))


def test_a_law_at_its_period_runs_under_both_runners() -> None:
    """Negative control of the refusal: the same law, cfg.dt = the period (float32 1 ms is not
    exactly 1e-3), is accepted and steps once per tick; a period of 2 ms accepts cfg.dt = 2 ms."""
    py, cy = _records(), _records()
    LoopRunner(T, LockstepClock(), update=law_update(host_law(ramp_step), *py)).run(5)
    CyLoopRunner(T, LockstepClock(), law_cfunc(host_law(ramp_step), *cy), law_context(*cy)).run(5)
    assert py[1].tobytes() == cy[1].tobytes() and int(py[1]["n"]) == 5
    slow = _records(0.002)
    LoopRunner(2 * T, LockstepClock(), update=law_update(host_law(ramp_step), *slow)).run(1)
    assert law_dt_s(law_update(host_law(ramp_step), *slow)) == pytest.approx(0.002)


def test_phases_without_a_configured_dt_are_not_checked() -> None:
    def plain(t_s: float, dt_s: float) -> None:
        pass

    assert law_dt_s(plain) is None
    LoopRunner(T, LockstepClock(), update=plain).run(1)
