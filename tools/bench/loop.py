"""`cbl bench loop`: the numba and Cython 1 kHz runners against a C reference loop, same run.

Each of the three loops steps the whole-body workload (``cerebellum_rt.codegen.examples.wholebody``: 29-joint impedance +
2 x 3-axis hand tension PI) at 1 kHz for ``--seconds`` in total, under the same real-time set-up
(SCHED_FIFO, mlockall, timer slack 1 ns, CPU affinity). The time is split into ``--rounds``
interleaved rounds (C, numba, Cython, C, ...) so slow drifts of a noisy machine hit all three
alike. ``--load`` runs ``stress-ng --cpu 1`` pinned to another core for the whole benchmark.

JSON keys: ``c_ref``, ``numba``, ``cython`` (each ``p50_us``, ``p99_us``, ``p999_us``,
``max_us``, ``overruns``, ``cycles``, ``step_p50_us``, ...), ``ratio_p99_numba``,
``ratio_p99_cython`` (runner p99 wake-up latency / C's), ``targets`` and the set-up used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from typing import Any

from cerebellum_rt.rtcore.errors import ConfigError, check_range

PERIOD_NS = 1_000_000
TARGETS = {"ratio_p99_cython": 1.1, "ratio_p99_numba": 1.3, "step_p50_us": 5.0}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per loop (default 10)")
    p.add_argument("--rounds", type=int, default=0, help="interleaved rounds (default: 1 per 2 s, at least 1)")
    p.add_argument("--load", action="store_true", help="run stress-ng CPU load on another core meanwhile")
    p.add_argument("--strict-rt", action="store_true", help="fail if any real-time set-up step is refused")
    p.add_argument("--priority", type=int, default=80, help="SCHED_FIFO priority (0: keep SCHED_OTHER)")
    p.add_argument("--cpu", type=int, default=None, help="CPU for the loops (default: the last one)")
    p.add_argument("--spin-us", type=float, default=0.0, help="spin tail before each deadline, µs (default 0)")
    p.add_argument("--dma-latency-us", type=int, default=None,
                   help="hold /dev/cpu_dma_latency at this value for the whole benchmark (default: no hold)")


def _row(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "p50_us": summary["wake_p50_us"], "p99_us": summary["wake_p99_us"],
        "p999_us": summary["wake_p999_us"], "max_us": summary["wake_max_us"],
        "overruns": summary["overruns"], "cycles": summary["cycles"],
        "step_p50_us": summary["step_p50_us"], "step_p99_us": summary["step_p99_us"],
        "skipped": summary["skipped"], "minor_faults": summary["minor_faults"],
        "period_p50_us": summary["period_p50_us"],
    }


def _start_load(cpu: int) -> subprocess.Popen | None:
    if shutil.which("stress-ng") is None:
        raise ConfigError("--load needs 'stress-ng' on PATH (apt-get install stress-ng)")
    ncpu = os.cpu_count() or 1
    other = [c for c in range(ncpu) if c != cpu]
    if not other:
        raise ConfigError(f"--load: no CPU other than the loop's CPU {cpu} (machine has {ncpu})")
    return subprocess.Popen(["stress-ng", "--cpu", "1", "--taskset", str(other[0]), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(args: argparse.Namespace) -> int:
    check_range("--seconds", args.seconds, 0.1, 36_000.0, "s")
    ncpu = os.cpu_count() or 1
    cpu = ncpu - 1 if args.cpu is None else args.cpu
    check_range("--cpu", cpu, 0, ncpu - 1)
    check_range("--spin-us", args.spin_us, 0.0, 500.0, "µs")
    rounds = args.rounds or max(1, int(args.seconds // 2))
    check_range("--rounds", rounds, 1, 1000)
    per_round = max(1, int(args.seconds * 1e9 / PERIOD_NS / rounds))

    from cerebellum_rt.codegen.examples.wholebody import g1_like_records, wholebody_step
    from cerebellum_rt.codegen.host import host_law
    from cerebellum_rt.rtcore.clock import RealTimeClock
    from cerebellum_rt.rtcore.cyrunner import CyLoopRunner
    from cerebellum_rt.rtcore.jit import law_cfunc, law_context, law_update
    from cerebellum_rt.rtcore.loop import LoopRunner
    from cerebellum_rt.rtcore.rt import RtConfig
    from cerebellum_rt.rtcore.stats import LoopStats
    from cerebellum_rt.tools.bench.refloop import run_c_reference

    rt = RtConfig(priority=args.priority, cpus=(cpu,), strict=args.strict_rt)
    clock = RealTimeClock(spin_ns=int(args.spin_us * 1000))

    recs = {name: g1_like_records(seed=1) for name in ("c_ref", "numba", "cython")}
    update = law_update(host_law(wholebody_step), *recs["numba"])
    cf = law_cfunc(host_law(wholebody_step), *recs["cython"])
    ctx = law_context(*recs["cython"])
    numba_runner = LoopRunner(PERIOD_NS, clock, update=update, rt=rt)
    cy_runner = CyLoopRunner(PERIOD_NS, clock, cf, ctx, rt=rt)
    # Warm-up, 200 ticks each (first calls, code pages); all three records then take the same
    # number of steps, so their outputs must end bit-identical.
    run_c_reference(recs["c_ref"], PERIOD_NS, 200, rt)
    numba_runner.run(200)
    cy_runner.run(200)
    parts: dict[str, list[LoopStats]] = {"c_ref": [], "numba": [], "cython": []}
    refused: set[str] = set()
    # The C-state hold is system-wide: one hold around all three loops, so none is favoured.
    hold = RtConfig(priority=0, lock_memory=False, timer_slack_ns=None, gc="keep", strict=args.strict_rt,
                    dma_latency_us=args.dma_latency_us).apply()
    load = None
    try:
        load = _start_load(cpu) if args.load else None
        for _ in range(rounds):
            st, ref = run_c_reference(recs["c_ref"], PERIOD_NS, per_round, rt)
            parts["c_ref"].append(st)
            refused.update(ref)
            parts["numba"].append(numba_runner.run(per_round))
            parts["cython"].append(cy_runner.run(per_round))
    finally:
        hold.restore()
        if load is not None:
            load.terminate()
            load.wait()
    res: dict[str, Any] = {name: _row(LoopStats.concat(p).summary()) for name, p in parts.items()}
    # All three stepped the same law the same number of times from the same records.
    outs = [recs[n][3].tobytes() + recs[n][1].tobytes() for n in ("c_ref", "numba", "cython")]
    res["outputs_agree"] = outs[0] == outs[1] == outs[2]
    c99 = max(res["c_ref"]["p99_us"], 1e-3)
    res["ratio_p99_numba"] = round(res["numba"]["p99_us"] / c99, 3)
    res["ratio_p99_cython"] = round(res["cython"]["p99_us"] / c99, 3)
    res["targets"] = {
        "cython_p99_le_1.1x_c": res["ratio_p99_cython"] <= TARGETS["ratio_p99_cython"],
        "numba_p99_le_1.3x_c": res["ratio_p99_numba"] <= TARGETS["ratio_p99_numba"],
        "overruns_le_c": max(res["numba"]["overruns"], res["cython"]["overruns"]) <= res["c_ref"]["overruns"],
        "step_p50_le_5us": max(res["numba"]["step_p50_us"], res["cython"]["step_p50_us"]) <= TARGETS["step_p50_us"],
    }
    res["setup"] = {
        "seconds": args.seconds, "rounds": rounds, "cycles_per_round": per_round, "period_us": PERIOD_NS / 1e3,
        "cpu": cpu, "priority": args.priority, "spin_us": args.spin_us, "load": bool(args.load),
        "dma_latency_us": args.dma_latency_us,
        "rt_refused_c": sorted(refused), "rt_refused_python": sorted(cy_runner.rt_session.refused) if cy_runner.rt_session else [],
    }
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"cbl bench loop: {args.seconds:g} s per loop at 1 kHz in {rounds} round(s), CPU {cpu}, "
          f"FIFO {args.priority}{', stress-ng load' if args.load else ''}")
    print(f"{'loop':8} {'p50':>8} {'p99':>8} {'p99.9':>8} {'max':>9} {'overruns':>9} {'step p50':>9}  (µs)")
    for name in ("c_ref", "numba", "cython"):
        r = res[name]
        print(f"{name:8} {r['p50_us']:8.1f} {r['p99_us']:8.1f} {r['p999_us']:8.1f} {r['max_us']:9.1f} "
              f"{r['overruns']:9d} {r['step_p50_us']:9.2f}")
    refused_all = sorted(set(res["setup"]["rt_refused_c"]) | set(res["setup"]["rt_refused_python"]))
    if refused_all:
        print(f"warning: real-time steps refused by the OS (results are not real-time): {', '.join(refused_all)}")
    print(f"p99 ratio to C: numba {res['ratio_p99_numba']:.2f} (target <= 1.3), "
          f"cython {res['ratio_p99_cython']:.2f} (target <= 1.1); outputs agree: {res['outputs_agree']}")
    return 0
