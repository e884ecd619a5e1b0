"""Real-time set-up: every step applied and undone where allowed; refused steps warned about
once and survived, or fatal under strict mode (refusals made real by dropping the process's
CAP_SYS_NICE and CAP_IPC_LOCK with setpriv)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.rt import RtConfig

IS_ROOT = os.geteuid() == 0


def test_bad_options_name_the_value_and_limit() -> None:
    with pytest.raises(ConfigError, match=r"RtConfig.priority = 120 is out of range \[1, 99\]"):
        RtConfig(priority=120)
    with pytest.raises(ConfigError, match=r"RtConfig.gc = 'sometimes' is not one of"):
        RtConfig(gc="sometimes")
    with pytest.raises(ConfigError, match=r"RtConfig.cpus = \[999\] must be CPUs in"):
        RtConfig(cpus=(999,))


@pytest.mark.root
@pytest.mark.needs(root="SCHED_FIFO (CAP_SYS_NICE)")
def test_apply_then_restore_as_root() -> None:
    before = (os.sched_getscheduler(0), os.sched_getaffinity(0), gc.isenabled())
    cfg = RtConfig(priority=50, cpus=(0,), lock_memory=False, timer_slack_ns=1, gc="freeze")
    with cfg.apply() as s:
        assert s.refused == {}
        assert s.applied == ["sched_fifo", "affinity", "timer_slack", "gc_freeze"]
        assert os.sched_getscheduler(0) == os.SCHED_FIFO and os.sched_getparam(0).sched_priority == 50
        assert os.sched_getaffinity(0) == {0}
        assert not gc.isenabled() and gc.get_freeze_count() > 0
    assert (os.sched_getscheduler(0), os.sched_getaffinity(0), gc.isenabled()) == before
    assert gc.get_freeze_count() == 0


CHILD = """
import sys, warnings
from cerebellum_rt.rtcore.clock import RealTimeClock
from cerebellum_rt.rtcore.errors import RtSetupError
from cerebellum_rt.rtcore.loop import LoopRunner
from cerebellum_rt.rtcore.rt import RtConfig, RtWarning
if sys.argv[1] == "strict":
    try:
        RtConfig(strict=True, gc="keep").apply()
    except RtSetupError as exc:
        print("ERROR", exc)
    sys.exit(0)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    runner = LoopRunner(1_000_000, RealTimeClock(), rt=RtConfig(gc="keep"))
    s1 = runner.run(20)
    s2 = runner.run(20)
print("CYCLES", s1.cycles + s2.cycles)
print("REFUSED", ",".join(sorted(runner.rt_session.refused)))
for x in w:
    if issubclass(x.category, RtWarning):
        print("WARN", x.message)
"""


def _unprivileged(mode: str) -> list[str]:
    cmd = ["setpriv", "--bounding-set", "-sys_nice,-ipc_lock", "--inh-caps", "-sys_nice,-ipc_lock",
           sys.executable, "-c", CHILD, mode]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


needs_setpriv = pytest.mark.needs("setpriv", root="dropping capabilities")


@needs_setpriv
def test_refused_steps_warn_once_and_the_loop_runs() -> None:
    out = _unprivileged("lenient")
    assert "CYCLES 40" in out
    assert "REFUSED mlockall,sched_fifo" in out
    warns = [line for line in out if line.startswith("WARN")]
    assert len(warns) == 2  # two runs, but each refused step is reported once
    assert any("'sched_fifo' refused (SCHED_FIFO priority 80: Operation not permitted)" in w for w in warns)
    assert any("'mlockall' refused" in w for w in warns)


@needs_setpriv
def test_strict_rt_makes_a_refusal_fatal() -> None:
    out = _unprivileged("strict")
    assert out == ["ERROR --strict-rt: real-time step 'sched_fifo' was refused: "
                   "SCHED_FIFO priority 80: Operation not permitted"]


@needs_setpriv
def test_bench_strict_rt_fails_in_one_line_when_refused() -> None:
    cmd = ["setpriv", "--bounding-set", "-sys_nice,-ipc_lock", "--inh-caps", "-sys_nice,-ipc_lock",
           sys.executable, "-m", "cerebellum_rt.tools.cli", "bench", "loop", "--seconds", "0.2", "--strict-rt"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.splitlines() == ["cbl bench: error: C reference loop: --strict-rt: real-time step "
                                       "'sched_fifo' was refused: Operation not permitted"]
