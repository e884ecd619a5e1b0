"""`cbl`: the cerebellum console: emulated robots, HIL, codegen, CANopen tools and benchmarks.

One module per verb, imported only when that verb runs (``--help`` imports them all). A verb
module imports optional peers (casadi, ...) inside ``run`` and names what is missing in a
one-line error; a verb module that fails to import is a broken install and raises."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import sys

from cerebellum_rt.rtcore.errors import CblError

# verb -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
VERBS: dict[str, tuple[str, str]] = {
    "demo": ("cerebellum_rt.tools.cmd_demo", "run one emulated joint end to end at 1 kHz and report tracking and timing"),
    "bench": ("cerebellum_rt.tools.cmd_bench", "benchmarks, each as a ratio against a reference measured in the same run"),
    "sim": ("cerebellum_rt.tools.cmd_sim", "simulate an actuator preset (joint step, hand grasp) and plot it"),
    "build": ("cerebellum_rt.tools.cmd_build", "generate C from a law and build it for host, Cortex-M or aarch64"),
    "kin": ("cerebellum_rt.tools.cmd_kin", "robot model info and forward kinematics"),
    "eds": ("cerebellum_rt.tools.cmd_eds", "write the CiA 306 EDS file of a board type"),
    "esi": ("cerebellum_rt.tools.cmd_esi", "write the EtherCAT ESI XML and SII EEPROM image of a board type"),
    "emulate": ("cerebellum_rt.tools.cmd_emulate", "start emulated actuator boards on buses other tools can reach"),
    "scan": ("cerebellum_rt.tools.cmd_scan", "list the CANopen boards on a bus"),
    "flash": ("cerebellum_rt.tools.cmd_flash", "update boards with a signed image over CAN (CiA 302-3), many at once"),
    "keys": ("cerebellum_rt.tools.cmd_keys", "make or show an Ed25519 image-signing key (written 0600)"),
    "image": ("cerebellum_rt.tools.cmd_image", "inspect a signed board image: header, TLVs, hash, signature, board type"),
    "hil": ("cerebellum_rt.tools.cmd_hil", "HIL scenarios on an emulated robot (g1-walk: learned policy through boards and MuJoCo)"),
    "plan": ("cerebellum_rt.tools.cmd_plan", "compute each bus's load for a rig and refuse one that does not fit"),
    "validate": ("cerebellum_rt.tools.cmd_validate", "run the datasheet experiments on every actuator preset and compare"),
    "tune": ("cerebellum_rt.tools.cmd_tune", "tune a joint's gains: get/set in SI units, steps, chirps, auto-tune, save"),
    "completion": ("cerebellum_rt.tools.cmd_completion", "print the shell completion script of cbl (bash or zsh)"),
}


def version() -> str:
    """The installed distribution's version (``cerebellum-rt``)."""
    return importlib.metadata.version("cerebellum-rt")


def build_parser(verbs: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cbl", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log library messages (-v info, -vv debug); errors print one line either way")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for name in verbs or list(VERBS):
        module, help_ = VERBS[name]
        p = sub.add_parser(name, help=help_, description=help_)
        mod = importlib.import_module(module)
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
    try:
        return int(args._run(args) or 0)
    except CblError as exc:
        print(f"cbl {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cbl {args.verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`cbl ... | head`): no traceback, no flush error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
