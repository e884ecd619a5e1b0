"""`cbl sim joint|hand`: simulate an actuator preset in lockstep and save a PNG plot."""

from __future__ import annotations

import argparse
import importlib

KINDS = {
    "joint": ("cerebellum_rt.tools.sim_joint", "step response of an integrated joint module preset"),
    "hand": ("cerebellum_rt.tools.sim_hand", "grasp with the planetary-roller-screw tendon hand"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="kind", metavar="KIND")
    sub.required = True
    for kind, (module, help_) in KINDS.items():
        sp = sub.add_parser(kind, help=help_, description=help_)
        sp.add_argument("--json", action="store_true", help="print one JSON object")
        mod = importlib.import_module(module)
        mod.add_arguments(sp)
        sp.set_defaults(_sim=mod.run)


def run(args: argparse.Namespace) -> int:
    return int(args._sim(args) or 0)
