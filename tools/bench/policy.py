"""`cbl bench policy`: the policy runtime against onnxruntime, and the G1 walk speeds.

``ours_us`` / ``onnxruntime_us``: median time of one policy step (47 -> LSTM 64 -> 32 -> 12, batch 1)
over ``--rounds`` interleaved rounds of ``--steps`` steps each, measured in the same run (ours:
the law's host execution, :class:`PolicyRuntime`; onnxruntime: one ``InferenceSession.run`` with the
state fed back, single-threaded CPU provider as a 1 kHz loop would run it). ``ratio`` = ours /
onnxruntime (target <= 1). ``baseline_walk_speed_mps``: MuJoCo-only walk; ``walk_speed_mps``: the walk
through CAN-FD boards and joint modules (:mod:`cerebellum_rt.hil_tests.g1_rig`), ``--walk-seconds`` each.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from cerebellum_rt.tools.bench import require_peer


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--robot-dir", help="robot data folder (default ../shared/robots/unitree_g1_12dof)")
    p.add_argument("--steps", type=int, default=2000, help="policy steps per round (default 2000)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    p.add_argument("--walk-seconds", type=float, default=10.0, help="walk duration [s] (default 10)")
    p.add_argument("--no-boards", action="store_true", help="skip the (slow) walk through the boards")


def run(args: argparse.Namespace) -> int:
    ort = require_peer("onnxruntime", "policy")
    from cerebellum_rt.codegen.nn.runtime import PolicyRuntime
    from cerebellum_rt.hil_tests.g1_walk import robot_files, walk_mujoco
    from cerebellum_rt.rtcore.errors import check_range

    check_range("--steps", args.steps, 10, 1_000_000)
    check_range("--rounds", args.rounds, 1, 100)
    check_range("--walk-seconds", args.walk_seconds, 0.1, 600.0, "s")
    robot = robot_files(args.robot_dir)
    path = str(robot / "policy.onnx")
    rt = PolicyRuntime(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    obs = np.random.default_rng(0).normal(size=(args.steps, 47)).astype(np.float32)
    h = np.zeros((1, 1, 64), np.float32)
    c = np.zeros_like(h)
    ours, theirs = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for k in range(args.steps):
            rt.step(obs[k])
        ours.append((time.perf_counter() - t0) / args.steps)
        hh, cc = h, c
        t0 = time.perf_counter()
        for k in range(args.steps):
            _, hh, cc = sess.run(None, {"obs": obs[k:k + 1], "h_in": hh, "c_in": cc})
        theirs.append((time.perf_counter() - t0) / args.steps)
    ours_us, ort_us = float(np.median(ours)) * 1e6, float(np.median(theirs)) * 1e6
    base = walk_mujoco(robot, args.walk_seconds)
    doc = {"ours_us": round(ours_us, 2), "onnxruntime_us": round(ort_us, 2), "ratio": round(ours_us / ort_us, 3),
           "baseline_walk_speed_mps": round(base.mean_speed_mps, 4), "baseline_fell": base.fell,
           "walk_speed_mps": None, "walk_fell": None, "walk_seconds": args.walk_seconds,
           "onnxruntime": ort.__version__, "loadavg_1min": round(os.getloadavg()[0], 2), "targets": {"ratio": 1.0}}
    if not args.no_boards:
        from cerebellum_rt.hil_tests.g1_rig import walk_boards

        b = walk_boards(robot, args.walk_seconds)
        doc["walk_speed_mps"] = round(b.walk.mean_speed_mps, 4)
        doc["walk_fell"] = b.walk.fell
        doc["walk_wall_s"] = round(b.wall_s, 1)
    if args.json:
        print(json.dumps(doc))
        return 0
    print(f"policy step: ours {doc['ours_us']} us, onnxruntime {doc['onnxruntime_us']} us "
          f"(ratio {doc['ratio']}, target <= 1)")
    print(f"walk: baseline {doc['baseline_walk_speed_mps']} m/s, through boards {doc['walk_speed_mps']} m/s "
          f"(fell: {doc['walk_fell']})")
    return 0
