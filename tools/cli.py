"""`cbl`: the cerebellum console: emulated robots, HIL, codegen, CANopen tools and benchmarks.

One module per verb, imported lazily so that a broken optional verb (missing extra, missing
toolchain) never breaks the others."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from rtcore.errors import CblError

# verb -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
VERBS: dict[str, tuple[str, str]] = {
    "demo": ("tools.cmd_demo", "run one emulated joint end to end at 1 kHz and report tracking and timing"),
    "bench": ("tools.cmd_bench", "benchmarks, each as a ratio against a reference measured in the same run"),
    "sim": ("tools.cmd_sim", "simulate an actuator preset (joint step, hand grasp) and plot it"),
    "build": ("tools.cmd_build", "generate C from a law and build it for host, Cortex-M or aarch64"),
    "kin": ("tools.cmd_kin", "robot model info and forward kinematics"),
    "eds": ("tools.cmd_eds", "write the CiA 306 EDS file of a board type"),
    "emulate": ("tools.cmd_emulate", "start emulated actuator boards on buses other tools can reach"),
    "scan": ("tools.cmd_scan", "list the CANopen boards on a bus"),
    "plan": ("tools.cmd_plan", "compute each bus's load for a rig and refuse one that does not fit"),
}


def _load(verb: str):
    return importlib.import_module(VERBS[verb][0])


def build_parser(verbs: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cbl", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log library messages (-v info, -vv debug); errors print one line either way")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for name in verbs or list(VERBS):
        module, help_ = VERBS[name]
        p = sub.add_parser(name, help=help_, description=help_)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("tools."):
                continue  # verb not built yet
            p.set_defaults(_unavailable=f"cbl {name}: needs the Python package '{exc.name}' (pip install it)")
            continue
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only import the verb asked for (fast start, isolation); the full table for --help.
    verbs = [argv[0]] if argv and argv[0] in VERBS else None
    parser = build_parser(verbs)
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO if args.verbose == 1 else logging.DEBUG,
                            format="%(levelname)s %(name)s: %(message)s")
    else:  # libraries (canopen, python-can) log what our errors already say in one line
        logging.getLogger().addHandler(logging.NullHandler())
    if getattr(args, "_unavailable", None):
        print(args._unavailable, file=sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except CblError as exc:
        print(f"cbl {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cbl {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
