"""`cbl bench hil`: real-time factor of the full G1 rig in lockstep, and its split.

The rig (:class:`~cerebellum_rt.hil_tests.g1_body.G1Body`): 12 emulated CiA 402 joint boards
(each running the joint board's C image: its CANopen stack and CiA 402 law, CSP with the joint
PD on the board), four CAN-FD
buses with exact frame times, a 1 kHz host loop (targets out, measurements in, the supervisor's
checks) and the body: 12 joint modules (firmware cascade, FOC at 20 kHz, motor, reducer,
encoders, torque sensor) coupled to MuJoCo at 1 kHz. The scenario is the balanced stand under
joint PD for ``--seconds`` of virtual time.

``realtime_factor``: virtual seconds / wall seconds of the rig as shipped (boards' acceptance
filters, one batched load coupling and module advance per tick); ``reference_realtime_factor``:
the same rig, same run, without those (every board handles every frame of its bus, each module
coupled and advanced on its own), i.e. the per-frame / per-module paths; ``speedup`` their
ratio; ``python_boards_realtime_factor``: the rig as shipped with the Python boards (the
device's specification) in place of the C images. ``split``: milliseconds per tick in the host loop (targets, controlwords, the host's
transports' send and receive through the bus model, supervision), ``bus`` (the medium running
the tick's frames), ``boards`` (the boards' cycles) and ``physics`` (coupling, joint modules,
MuJoCo). ``bank_realtime_factor``: the 29 joint modules of a G1-class humanoid alone in one
JointBank (as ``cbl bench actuators``) on one thread; ``bank_realtime_factor_2_threads``: the
same bank advanced by two threads (``JointBank(threads=2)``: the caller's and one worker, the
same bits; it needs a second free core). Targets: realtime_factor >= 1 on 2 cores, bank >= 20.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--robot-dir", help="robot data folder (default ../shared/robots/unitree_g1_12dof)")
    p.add_argument("--seconds", type=float, default=2.0, help="virtual seconds of stand per rig (default 2)")
    p.add_argument("--bank-seconds", type=float, default=0.25, help="virtual seconds per bank round (default 0.25)")
    p.add_argument("--rounds", type=int, default=8,
                   help="bank rounds, best kept: short rounds filter a shared machine's interruptions (default 8)")


def rig_rate(robot_dir: str | None, seconds: float, fast: bool, firmware: str = "c") -> tuple[float, dict[str, float]]:
    """(real-time factor, ms per tick by part) of the G1 stand in lockstep."""
    from cerebellum_rt.hil_tests.g1_body import PERIOD_S, G1Body
    from cerebellum_rt.hil_tests.g1_stand import Supervisor, start_standing

    with G1Body(robot_dir, fast=fast, firmware=firmware) as body:
        q = start_standing(body)
        sup = Supervisor(body)
        for _ in range(100):  # warm-up: compiled kernels, caches
            body.step(q)
        split0 = dict(body.stats.split_s)
        ticks = max(1, round(seconds / PERIOD_S))
        t0 = time.perf_counter()
        for k in range(ticks):
            body.step(q)
            sup.check(k * PERIOD_S)
        wall = time.perf_counter() - t0
        split = {k: (body.stats.split_s[k] - split0[k]) / ticks * 1e3 for k in split0}
        split["host"] += (wall - sum(body.stats.split_s[k] - split0[k] for k in split0)) / ticks * 1e3  # supervisor
        body.stop()
    return ticks * PERIOD_S / wall, {k: round(v, 4) for k, v in split.items()}


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.hil_tests.g1_walk import robot_files
    from cerebellum_rt.rtcore.errors import check_range
    from cerebellum_rt.tools.bench.actuators import bank_realtime_factor

    check_range("bench hil --seconds", args.seconds, 0.1, 600.0, "s")
    check_range("bench hil --bank-seconds", args.bank_seconds, 0.1, 600.0, "s")
    check_range("bench hil --rounds", args.rounds, 1, 100)
    robot = str(robot_files(args.robot_dir))
    ref, ref_split = rig_rate(robot, args.seconds, fast=False)
    rtf, split = rig_rate(robot, args.seconds, fast=True)
    py_rtf, py_split = rig_rate(robot, args.seconds, fast=True, firmware="python")
    bank = bank_realtime_factor(args.bank_seconds, int(args.rounds), 20_000.0)
    bank2 = bank_realtime_factor(args.bank_seconds, int(args.rounds), 20_000.0, threads=2)
    doc = {
        "realtime_factor": round(rtf, 3),
        "split": split,
        "reference_realtime_factor": round(ref, 3),
        "reference_split": ref_split,
        "speedup": round(rtf / ref, 2),
        "python_boards_realtime_factor": round(py_rtf, 3),
        "python_boards_split": py_split,
        "bank_realtime_factor": round(bank, 1),
        "bank_realtime_factor_2_threads": round(bank2, 1),
        "bank_joints": 29,
        "rig": {"joints": 12, "boards": "C image (FirmwareBoard, host build)", "buses": "4 x CAN FD 1/5 Mbit/s",
                "host_hz": 1000, "physics_hz": 1000, "current_loop_hz": 20000},
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "loadavg_1min": round(os.getloadavg()[0], 2),
        "targets": {"realtime_factor": 1.0, "bank_realtime_factor": 20.0},
    }
    if args.json:
        print(json.dumps(doc))
        return 0
    parts = ", ".join(f"{k} {v:.3f}" for k, v in split.items())
    print(f"G1 rig (12 boards, 4 CAN-FD buses, MuJoCo 1 kHz), lockstep: {rtf:.3f}x real time "
          f"(reference {ref:.3f}x, speed-up {rtf / ref:.2f}x); ms per tick: {parts}")
    print(f"29 joint modules in one bank: {bank:.1f}x real time on one thread, {bank2:.1f}x on two (target >= 20)")
    print(f"load average {doc['loadavg_1min']} on {doc['cpus']} CPUs")
    return 0 if np.isfinite(rtf) else 1
