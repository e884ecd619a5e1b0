"""`cbl hil run RIG.toml SCENARIO` / `cbl hil run --scenario g1-walk` / `cbl hil sweep MATRIX.toml`.

``RIG.toml SCENARIO``: a scenario of the HIL library on a rig (:mod:`cerebellum_rt.tools.hil_run`);
``sweep``: a matrix of them in parallel (:mod:`cerebellum_rt.tools.hil_sweep`).

g1-walk: Unitree's pretrained G1 walking policy at 50 Hz on the host loop, joint position targets at
1 kHz through CAN-FD to emulated joint boards running the joint PD (CSP), joint modules, the body in MuJoCo
(:mod:`cerebellum_rt.hil_tests.g1_rig`); the MuJoCo-only baseline (the policy driving MuJoCo's joints
directly, as Unitree deploys it) runs in the same command. Pass: no fall and a mean forward speed
within 25% of the baseline's. Exit 0 pass, 1 scenario failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SCENARIOS = ("g1-walk",)
SPEED_TOLERANCE = 0.25


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    r = sub.add_parser("run", help="run one scenario", description="run one HIL scenario")
    r.add_argument("rig", nargs="?", help="RIG.toml or a shipped rig's name (with SCENARIO)")
    r.add_argument("name", nargs="?", metavar="SCENARIO", help="track | grasp | fault:NAME, NAME one of frame_loss corruption delay bus_off babbling_node "
                        "board_reset encoder_glitch encoder_loss torque_saturation torque_bias over_temperature "
                        "host_stall command_timeout (the reactions: hil_tests/faults.py)")
    r.add_argument("--seed", type=int, default=0, help="seed of plants and bus faults (RIG SCENARIO; default 0)")
    r.add_argument("--ticks", type=int, default=None, help="host ticks (RIG SCENARIO; default per scenario)")
    r.add_argument("--tension", type=float, default=10.0, help="grasp: tendon tension [N] (default 10)")
    r.add_argument("--realtime", action="store_true", help="real time instead of lockstep (RIG SCENARIO)")
    r.add_argument("--out", help="directory for the MCAP telemetry, candump / ASC logs and plot (RIG SCENARIO)")
    r.add_argument("--scenario", choices=SCENARIOS, help="the G1 walk scenario (g1-walk)")
    r.add_argument("--robot-dir", help="robot data folder (default ../shared/robots/unitree_g1_12dof beside "
                                       "the checkout; see the README for where to get it)")
    r.add_argument("--seconds", type=float, default=10.0, help="walking time [s] (default 10)")
    r.add_argument("--command", type=float, default=0.5, help="forward speed command [m/s] (default 0.5)")
    r.add_argument("--through", choices=("both", "boards", "mujoco"), default="both",
                   help="boards: our stack; mujoco: the baseline only; both (default)")
    r.add_argument("--plot", help="PNG path (default out/g1_walk.png)")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    w = sub.add_parser("sweep", help="run a matrix of scenarios in parallel",
                       description="faults x rigs x seeds x gain sets, on local cores (pytest-xdist) or a Ray cluster")
    w.add_argument("matrix", help="MATRIX.toml")
    w.add_argument("--workers", type=int, default=2, help="local worker processes (pytest-xdist; default 2)")
    w.add_argument("--ray", metavar="ADDRESS", help="run the cells on this existing Ray cluster instead")
    w.add_argument("--out", default="out/hil-sweep", help="report directory (default out/hil-sweep)")
    w.add_argument("--json", action="store_true", help="print one JSON object")


def _plot(path: Path, runs: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name, w in runs.items():
        if len(w.trace):
            ax1.plot(w.trace[:, 0], w.trace[:, 1], label=name)
            ax2.plot(w.trace[:, 0], w.trace[:, 2], label=name)
    ax1.set_ylabel("pelvis x [m]")
    ax2.set_ylabel("pelvis height [m]")
    ax2.set_xlabel("t [s]")
    ax1.legend()
    ax1.grid(True)
    ax2.grid(True)
    fig.suptitle("G1 walk: policy through our stack vs MuJoCo-only baseline")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    if args.action == "sweep":
        from cerebellum_rt.tools.hil_sweep import run as sweep

        return sweep(args)
    if args.scenario is None:
        from cerebellum_rt.tools.hil_run import run as run_rig

        return run_rig(args)
    return _g1_walk(args)


def _g1_walk(args: argparse.Namespace) -> int:
    from cerebellum_rt.hil_tests.g1_walk import robot_files, walk_mujoco
    from cerebellum_rt.rtcore.errors import ConfigError, check_range

    check_range("--seconds", args.seconds, 0.1, 600.0, "s")
    check_range("--command", args.command, -1.0, 1.0, "m/s")
    robot = robot_files(args.robot_dir)
    plot = Path(args.plot or "out/g1_walk.png")
    if plot.suffix.lower() != ".png":
        raise ConfigError(f"--plot {plot}: must be a .png path")
    try:  # check the output is writable before the run, not after it
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.touch()
    except OSError as exc:
        raise ConfigError(f"--plot {plot}: cannot write there ({exc.strerror})") from None
    runs, doc = {}, {"scenario": args.scenario, "seconds": args.seconds, "command_mps": args.command,
                     "robot_dir": str(robot)}
    if args.through in ("both", "mujoco"):
        base = walk_mujoco(robot, args.seconds, args.command)
        runs["MuJoCo-only baseline"] = base
        doc["baseline"] = {"distance_m": base.distance_m, "mean_speed_mps": base.mean_speed_mps, "fell": base.fell,
                           "min_height_m": base.min_height_m, "seconds": base.seconds}
    if args.through in ("both", "boards"):
        from cerebellum_rt.hil_tests.g1_rig import walk_boards

        b = walk_boards(robot, args.seconds, args.command)
        runs["through boards (CAN-FD, joint modules)"] = b.walk
        doc["boards"] = {"distance_m": b.walk.distance_m, "mean_speed_mps": b.walk.mean_speed_mps,
                         "fell": b.walk.fell, "min_height_m": b.walk.min_height_m, "seconds": b.walk.seconds,
                         "missed_replies": b.missed_replies, "frames": b.frames, "enable_ticks": b.enable_ticks,
                         "final_states": b.final_states, "max_torque_nm": b.max_torque_nm, "wall_s": b.wall_s}
    verdict = ""
    if "boards" in doc and "baseline" in doc:
        bs, ms = doc["boards"]["mean_speed_mps"], doc["baseline"]["mean_speed_mps"]
        ok = not doc["boards"]["fell"] and abs(bs - ms) <= SPEED_TOLERANCE * abs(ms)
        verdict = "pass" if ok else (f"fail: {'fell' if doc['boards']['fell'] else 'speed'} "
                                     f"(boards {bs:.3f} m/s vs baseline {ms:.3f} m/s, tolerance {SPEED_TOLERANCE:.0%})")
        doc["verdict"] = verdict
    _plot(plot, runs)
    doc["plot"] = str(plot)
    if args.json:
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    else:
        for key in ("baseline", "boards"):
            if key in doc:
                d = doc[key]
                print(f"{key:9}: {d['distance_m']:.3f} m in {d['seconds']:.2f} s, mean {d['mean_speed_mps']:.3f} m/s, "
                      f"{'FELL' if d['fell'] else 'no fall'}, min pelvis height {d['min_height_m']:.3f} m")
        if "boards" in doc:
            d = doc["boards"]
            print(f"boards   : {d['missed_replies']} missed replies, {d['frames']} frames, drives enabled in "
                  f"{d['enable_ticks']} ticks, final states {sorted(set(d['final_states']))}, wall {d['wall_s']:.1f} s")
        if verdict:
            print(f"verdict  : {verdict}")
        print(f"plot     : {plot}")
    return 1 if verdict.startswith("fail") else 0
