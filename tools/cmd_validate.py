"""`cbl validate presets`: run the datasheet experiments on every actuator preset and compare
each sourced figure with the model (figure, source value, model value, error)."""

from __future__ import annotations

import argparse
import json

from cerebellum_rt.actuators.validate import validate


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT")
    sub.required = True
    sp = sub.add_parser("presets", help="datasheet experiments on every preset (or the named ones)")
    sp.add_argument("names", nargs="*", help="preset names (default: all)")
    sp.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    res = validate(list(args.names) or None)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{'preset':<13} {'figure':<28} {'source':>11} {'model':>11} {'error %':>8}  source")
        for name, figs in res["presets"].items():
            for fig, r in figs.items():
                print(f"{name:<13} {fig:<28} {r['source']:>11.5g} {r['model']:>11.5g} {r['error_pct']:>8.2f}  {r['ref']}")
        print(f"max |error| {res['max_error_pct']:.2f} % (target <= {res['target_pct']:.0f} %)")
    return 0 if res["max_error_pct"] <= res["target_pct"] else 1
