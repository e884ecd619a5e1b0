"""`cbl tune`: a joint's gains from the terminal: get/set in SI units within the board's limits, save /
revert, steps, chirps, relay identification and auto-tune; interactive, or scripted with --exec."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--interface", default="slcan", help="python-can interface (default slcan)")
    p.add_argument("-c", "--channel", help="python-can channel (/dev/pts/N, can0, ...)")
    p.add_argument("--bitrate", type=int, default=1_000_000, help="CAN bitrate [bit/s] (default 1000000)")
    p.add_argument("--node", type=int, default=1, help="CANopen node id of the board (default 1)")
    p.add_argument("--rig", metavar="RIG.toml", help="take the bus of --joint from a rig file")
    p.add_argument("--joint", metavar="NODE", type=int, help="with --rig: the node id of the joint to tune")
    p.add_argument("--emulate", action="store_true",
                   help="an emulated board in this process (lockstep: virtual time), with a flash file")
    p.add_argument("--preset", default="knee", help="--emulate: the joint module preset (default knee)")
    p.add_argument("--flash", metavar="FILE", help="--emulate: the board's flash file (default: a temporary one)")
    p.add_argument("--lockstep", action="store_true", help="wait for every reply (default with --emulate)")
    p.add_argument("--project", metavar="FILE.toml",
                   help="project file that 'save' writes (default cbl-tune-nodeN.toml)")
    p.add_argument("--exec", dest="commands", action="append", metavar="COMMAND",
                   help="run COMMAND and exit (repeatable; 'help' lists them); no prompt")
    p.add_argument("--yes", action="store_true", help="apply auto-tuned gains without asking")
    p.add_argument("--json", action="store_true", help="with --exec: print one JSON object")


def _bus_of(args: argparse.Namespace) -> tuple[str, str | None, int, int]:
    if args.rig is None:
        return args.interface, args.channel, args.bitrate, args.node
    from cerebellum_rt.hil_tests.rig import load_rig
    from cerebellum_rt.rtcore.errors import ConfigError

    rig = load_rig(args.rig)
    node = args.joint if args.joint is not None else args.node
    for bus in rig.buses:
        if node in bus.nodes:
            return bus.interface, bus.channel or args.channel, bus.bitrate, node
    raise ConfigError(f"--joint {node}: no bus of {args.rig} has that node")


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.drivers.can import CanTransport, open_bus
    from cerebellum_rt.drivers.tune.console import Console
    from cerebellum_rt.drivers.tune.session import TuneSession
    from cerebellum_rt.rtcore.errors import CblError, check_range

    check_range("--node", args.node, 1, 127)
    stack: list = []
    emulated = None
    try:
        if args.emulate:
            from cerebellum_rt.drivers.tune.emulated import EmulatedJoint

            emulated = EmulatedJoint(args.preset, args.node, args.flash)
            stack.append(emulated)
            bus, node, lockstep = emulated.host_bus(), args.node, True
            listener = emulated.host_bus
        else:
            interface, channel, bitrate, node = _bus_of(args)
            bus = open_bus(interface, channel, bitrate=bitrate)
            stack.append(bus)
            lockstep = args.lockstep
            listener = None if interface == "slcan" else (lambda: open_bus(interface, channel, bitrate=bitrate))
        transport = CanTransport(bus, nodes=[node], board="joint", sync=True, timeout_s=0.05)
        stack.append(transport)
        session = TuneSession(transport, node, args.project, emulated=emulated)
        info = session.connect()
        console = Console(session, lockstep=lockstep, yes=args.yes, listener_bus=listener)
        stack.append(_BuslogCloser(console))
        if args.commands:
            console.exp.on_running = lambda msg: print(f"cbl tune: {msg}", file=sys.stderr, flush=True)
            results = []
            for line in args.commands:
                try:
                    res, text = console.execute(line)
                except CblError as exc:
                    if args.json:  # the results so far, and the error, still make one JSON object
                        json.dump({"board": info, "results": results, "error": str(exc)}, sys.stdout,
                                  default=_json_default)
                        sys.stdout.write("\n")
                    raise
                except KeyboardInterrupt:
                    stopped = getattr(console.exp, "last_guard_outcome", {}) or "no drive was enabled"
                    print(f"cbl tune: interrupted during '{line}'; drives stopped and disabled: {stopped}",
                          file=sys.stderr)
                    raise
                results.append(res)
                if not args.json and text:
                    print(text, flush=True)
            if args.json:
                json.dump({"board": info, "results": results}, sys.stdout, default=_json_default)
                sys.stdout.write("\n")
            return 0
        from cerebellum_rt.drivers.tune.interactive import run_prompt

        return run_prompt(console, info, CblError)
    finally:
        for obj in reversed(stack):
            obj.close() if hasattr(obj, "close") else obj.shutdown()


class _BuslogCloser:
    """Ends a running bus log before the bus goes away."""

    def __init__(self, console) -> None:
        self.console = console

    def close(self) -> None:
        self.console.stop_buslog()


def _json_default(o: object) -> object:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
