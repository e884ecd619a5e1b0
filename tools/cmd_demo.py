"""`cbl demo`: one emulated joint module behind an emulated CANopen board, enabled through CiA 402,
tracking a trajectory in cyclic synchronous position mode from a 1 kHz host loop, then disabled.

Safety: the loop runs inside a DriveGuard (drivers/tune/guard.py): Ctrl-C (exit 130), SIGTERM
(exit 143), an exception or a lost bus leave the drive stopped and disabled (controlword, then NMT
pre-operational), not to the board's watchdog. A run whose lost replies or loop overruns exceed
``--loss-budget`` prints its figures, names the counts and the budget, and exits 1."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=5.0, help="tracking duration [s] (default 5)")
    p.add_argument("--lockstep", action="store_true", help="virtual time: deterministic, no sleeping")
    p.add_argument("-i", "--interface", default="virtual", help="python-can interface (default virtual)")
    p.add_argument("-c", "--channel", default="cbl-demo", help="python-can channel (default cbl-demo)")
    p.add_argument("--bitrate", type=int, default=1_000_000, help="CAN bitrate [bit/s] (default 1000000)")
    p.add_argument("--node", type=int, default=1, help="CANopen node id of the joint board (default 1)")
    p.add_argument("--preset", default="knee", help="joint module preset of the emulated board (default knee)")
    p.add_argument("--trajectory", metavar="CSV", help="CSV with t_s,position_rad[,velocity_rad_s]")
    emu = p.add_mutually_exclusive_group()
    emu.add_argument("--emulate", dest="emulate", action="store_true", default=None,
                     help="start the emulated board on this bus (default: only on 'virtual')")
    emu.add_argument("--no-emulate", dest="emulate", action="store_false",
                     help="drive a board already on the bus (cbl emulate, or real hardware)")
    p.add_argument("--period-us", type=int, default=1000, help="loop period [µs] (default 1000)")
    p.add_argument("--plot", help="PNG path (default out/demo.png)")
    p.add_argument("--no-rt", action="store_true", help="skip real-time set-up (SCHED_FIFO, mlockall...)")
    p.add_argument("--strict-rt", action="store_true", help="fail if a real-time set-up step is refused")
    p.add_argument("--firmware", choices=("c", "python", "qemu"), default=None,
                   help="firmware of the emulated board: c (the board's C image through cffi, default), python "
                        "(drivers/board, the executable specification), qemu (its Cortex-M4F image under QEMU)")
    p.add_argument("--loss-budget", type=float, default=0.01,
                   help="fraction of the replies that may be lost, and of the cycles that may overrun, before "
                        "the run fails with exit 1 (default 0.01)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.hil_tests.joint_demo import (
        DemoConfig,
        DemoInterrupted,
        default_plot_path,
        over_budget,
        run_demo,
    )

    cfg = DemoConfig(
        seconds=args.seconds, lockstep=args.lockstep, interface=args.interface, channel=args.channel,
        bitrate=args.bitrate, node=args.node, preset=args.preset, trajectory=args.trajectory,
        emulate=args.emulate, period_us=args.period_us, plot=args.plot or default_plot_path(),
        rt=not args.no_rt, strict_rt=args.strict_rt, firmware=args.firmware, loss_budget=args.loss_budget,
        progress=lambda line: print(f"cbl demo: {line}", file=sys.stderr, flush=True),
    )
    try:
        result = run_demo(cfg)
    except DemoInterrupted as exc:
        print(f"cbl demo: interrupted ({exc.signal}); drives stopped and disabled: {exc.report}", file=sys.stderr)
        return 143 if exc.signal == "SIGTERM" else 130
    f = result.figures
    if args.json:
        json.dump(f, sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_table(f)
    failed = over_budget(f, args.loss_budget)
    if failed:
        print(f"cbl demo: error: over the loss budget: {failed}", file=sys.stderr)
        return 1
    return 0


def _print_table(f: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"cbl demo: node {f['node']} ({f['board']}) on {f['bus']}, "
                    f"{'lockstep' if f['lockstep'] else 'real time'}, trajectory {f['trajectory']}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    rows = [
        ("tracking RMS", f"{f['tracking_rms_rad'] * 1e3:.4f} mrad"),
        ("tracking max", f"{f['tracking_max_rad'] * 1e3:.4f} mrad"),
        ("torque sensor RMS", f"{f['torque_sensor_rms_nm']:.3f} N·m"),
        ("commanded torque RMS", f"{f['torque_demand_rms_nm']:.3f} N·m"),
        ("sensor - commanded RMS", f"{f['torque_sensor_vs_demand_rms_nm']:.3f} N·m"),
        ("peak q-axis current", f"{f['peak_current_a']:.2f} A"),
        ("wake-up latency p50 / p99 / max",
         "n/a (virtual time)" if f["lockstep"]
         else f"{f['wake_p50_us']:.1f} / {f['wake_p99_us']:.1f} / {f['wake_max_us']:.1f} µs"),
        ("tick (exchange + update) p50", "n/a (virtual time)" if f["lockstep"] else f"{f['step_p50_us']:.1f} µs"),
        ("overruns", str(f["overruns"])),
        ("cycles (tracking)", f"{f['cycles']} ({f['tracking_cycles']})"),
        ("frames exchanged", str(f["frames"])),
        ("missed replies", str(f["missed_replies"])),
        ("final CiA 402 state", f["final_state"]),
    ]
    for name, value in rows:
        t.add_row(name, value)
    console = Console()
    console.print(t)
    console.print(f"plot: {f['plot']}")
