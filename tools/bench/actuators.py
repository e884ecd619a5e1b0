"""`cbl bench actuators`: joint and hand plant + firmware laws as real-time factors.

``joint_realtime_factor``: simulated seconds / wall seconds of the plant + laws of one knee
JointModule (PMSM + reducer + sensors + FOC at ``--current-loop-hz`` + cascade at 10 kHz, all in
one numba call), advanced ``--seconds`` per call while it holds position in CSP; best of
``--rounds``. ``joint_tick_realtime_factor``: the same module driven the way the HIL board
drives it, one ``command`` + ``advance(0.001)`` + ``read`` per 1 kHz tick along the demo
trajectory (adds the Python call overhead, ``joint_tick_us`` per tick).
``hand_realtime_factor``: ``cerebellum_rt.actuators.hand.bench_realtime_factor(seconds)``.
``humanoid_cpu_fraction``: the share of one core that 29 such joints need at real time, driven
per tick (29 / joint_tick_realtime_factor), plus two hands; ``humanoid_bank_realtime_factor`` and
``humanoid_bank_cpu_fraction``: the 29 joints of a G1-class humanoid (``G1_29``) in one
``JointBank``, advanced with one call per tick. Target: joint >= 200x (``targets``).
``loadavg_1min`` says how busy the machine was (other processes share the cores; the best of the
rounds is kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

from cerebellum_rt.rtcore.errors import check_range

TARGETS = {"joint_realtime_factor": 200.0, "hand_realtime_factor": 100.0}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=0.5, help="simulated seconds per round (default 0.5)")
    p.add_argument(
        "--rounds", type=int, default=8, help="rounds, best kept: filters a noisy machine (default 8)"
    )
    p.add_argument("--preset", default="knee", help="joint preset (default knee)")
    p.add_argument(
        "--current-loop-hz", type=float, default=20_000.0, help="PWM/current-loop rate (default 20000)"
    )


def joint_realtime_factor(
    preset: str, seconds: float, rounds: int, current_loop_hz: float
) -> dict[str, float]:
    """Measure the per-tick and the kernel real-time factors of one joint module."""
    from cerebellum_rt.actuators.joint import MODE_CSP, JointModule, load_preset

    jm = JointModule(load_preset(preset), current_loop_hz=current_loop_hz, seed=0)
    q0 = jm.read().position_rad
    n = round(seconds * 1000)
    refs = [
        (q0 + 0.3 * (1 - math.cos(math.pi * k / 1000)), 0.3 * math.pi * math.sin(math.pi * k / 1000))
        for k in range(n)
    ]
    jm.command(MODE_CSP, q0, 0.0, 0.0, True)
    for _ in range(200):  # warm-up: compile / load the cache, fill the loops
        jm.advance(0.001)
    best_tick = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for q, v in refs:
            jm.command(MODE_CSP, q, v, 0.0, True)
            jm.advance(0.001)
            jm.read()
        best_tick = max(best_tick, seconds / (time.perf_counter() - t0))
    jm.command(MODE_CSP, q0, 0.0, 0.0, True)
    jm.advance(1.0)
    best_kernel = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        jm.advance(seconds)
        best_kernel = max(best_kernel, seconds / (time.perf_counter() - t0))
    fault = jm.read().fault
    return {"tick": best_tick, "kernel": best_kernel, "fault": fault}


# G1 29-DoF: per leg hip pitch/yaw (88 N m), hip roll + knee (139), ankle pitch/roll (50); waist
# yaw (88) + roll/pitch (50); per arm shoulder x3 + elbow + wrist roll (25), wrist pitch/yaw (5)
G1_29 = ["hip", "hip", "knee", "knee", "ankle", "ankle"] * 2 + ["hip", "ankle", "ankle"]
G1_29 += (["arm"] * 5 + ["wrist"] * 2) * 2


def bank_realtime_factor(seconds: float, rounds: int, current_loop_hz: float, threads: int = 1) -> float:
    """The 29 joints of a G1-class humanoid in one JointBank (advanced by ``threads`` threads),
    one advance(0.001) per 1 kHz tick."""
    from cerebellum_rt.actuators.joint import MODE_CSP, JointBank, load_preset

    presets = [load_preset(n) for n in G1_29]
    mids = [0.5 * sum(p.position_limits_rad) for p in presets]
    bank = JointBank(presets, current_loop_hz=current_loop_hz, initial_positions_rad=mids, threads=threads)
    for jm, q in zip(bank.modules, mids):
        jm.command(MODE_CSP, q, 0.0, 0.0, True)
    for _ in range(50):
        bank.advance(0.001)
    n = max(1, round(seconds * 1000))
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            bank.advance(0.001)
        best = max(best, n * 1e-3 / (time.perf_counter() - t0))
    bank.close()
    return best


def hand_realtime_factor(seconds: float) -> float:
    from cerebellum_rt.actuators.hand import bench_realtime_factor

    return float(bench_realtime_factor(seconds))


def run(args: argparse.Namespace) -> int:
    check_range("bench actuators --seconds", args.seconds, 0.1, 600.0, "s")
    check_range("bench actuators --rounds", args.rounds, 1, 100)
    check_range("bench actuators --current-loop-hz", args.current_loop_hz, 10_000.0, 40_000.0, "Hz")
    j = joint_realtime_factor(args.preset, args.seconds, int(args.rounds), args.current_loop_hz)
    hand = hand_realtime_factor(args.seconds)
    bank = bank_realtime_factor(args.seconds, int(args.rounds), args.current_loop_hz)
    frac = 29.0 / j["tick"] + 2.0 / hand
    frac_bank = 1.0 / bank + 2.0 / hand
    doc = {
        "joint_realtime_factor": round(j["kernel"], 1),
        "joint_tick_realtime_factor": round(j["tick"], 1),
        "joint_tick_us": round(1000.0 / j["tick"], 2),
        "hand_realtime_factor": round(hand, 1),
        "humanoid_bank_realtime_factor": round(bank, 1),
        "humanoid_cpu_fraction": round(frac, 3),
        "humanoid_bank_cpu_fraction": round(frac_bank, 3),
        "preset": args.preset,
        "current_loop_hz": args.current_loop_hz,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "joint_fault_word": j["fault"],
        "loadavg_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "targets": TARGETS,
        "meets_targets": j["kernel"] >= TARGETS["joint_realtime_factor"]
        and hand >= TARGETS["hand_realtime_factor"],
    }
    if args.json:
        print(json.dumps(doc))
        return 0
    print(f"joint ({args.preset}, {args.current_loop_hz:g} Hz current loop): plant + laws "
          f"{doc['joint_realtime_factor']}x real time (target >= {TARGETS['joint_realtime_factor']:g}x); "
          f"per 1 kHz tick through the API {doc['joint_tick_realtime_factor']}x ({doc['joint_tick_us']} us/tick)")  # fmt: skip
    print(f"hand: {doc['hand_realtime_factor']}x real time (target >= {TARGETS['hand_realtime_factor']:g}x)")
    print(f"29 joints + 2 hands: {frac * 100:.1f} % of one core at real time driven per module, "
          f"{frac_bank * 100:.1f} % with the joints in one JointBank ({doc['humanoid_bank_realtime_factor']}x)")  # fmt: skip
    return 0
