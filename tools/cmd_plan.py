"""`cbl plan RIG.toml`: each bus's load at the rig's cycle rate; refuse a rig that does not fit."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rig", help="RIG.toml (or the name of a rig in hil_tests/rigs/)")
    p.add_argument("--max-load", type=float, default=1.0, help="highest worst-case bus load accepted, (0, 1]")
    p.add_argument("--rate-hz", type=float, default=None, help="override the rig's rate_hz")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from cerebellum_rt.hil_tests.plan import plan_rig
    from cerebellum_rt.hil_tests.rig import load_rig
    from cerebellum_rt.rtcore.errors import ConfigError, check_range

    check_range("--max-load", args.max_load, 0.01, 1.0)
    rig = load_rig(args.rig)
    if args.rate_hz is not None:
        check_range("--rate-hz", args.rate_hz, 1.0, 10_000.0, "Hz")
        rig = replace(rig, rate_hz=args.rate_hz)
    plans = plan_rig(rig, args.max_load)
    bad = [p for p in plans if not p.fits]
    if args.json:
        print(json.dumps({"rig": rig.source, "rate_hz": rig.rate_hz, "max_load": args.max_load,
                          "fits": not bad, "buses": [p.as_dict() for p in plans]}))
        return 2 if bad else 0
    print(f"rig {rig.source} at {rig.rate_hz:g} Hz (cycle {1e3 / rig.rate_hz:.3f} ms), max load {args.max_load:.0%}")
    for p in plans:
        verdict = "fits" if p.fits else "DOES NOT FIT"
        print(f"  bus '{p.bus}': {p.boards} boards, {p.frames_per_cycle} frames/cycle, bus time "
              f"{p.busy_worst_ms:.3f} ms worst / {p.busy_typical_ms:.3f} ms typical -> load "
              f"{p.load_worst:.0%} worst / {p.load_typical:.0%} typical, up to {p.max_rate_hz:.0f} Hz: {verdict}")
    if bad:
        p = bad[0]
        more = f" (and {len(bad) - 1} more bus(es))" if len(bad) > 1 else ""
        raise ConfigError(
            f"rig {rig.source}: bus '{p.bus}' needs {p.busy_worst_ms:.3f} ms of bus time per {p.period_ms:.3f} ms "
            f"cycle ({p.load_worst:.0%} load > {args.max_load:.0%}); lower rate_hz to {p.max_rate_hz:.0f} Hz "
            f"or move boards to another bus{more}"
        )
    return 0
