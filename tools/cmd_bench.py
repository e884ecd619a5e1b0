"""`cbl bench AREA`: each area is a module tools/bench/<area>.py with add_arguments(p) and run(args)."""

from __future__ import annotations

import argparse
import importlib

AREAS: dict[str, str] = {
    "loop": "rtcore 1 kHz runners (numba, Cython) vs a C reference loop",
    "actuators": "joint and hand plant+law simulation speed as real-time factors",
    "codegen": "generated C vs CasADi-generated C: bytes, instructions, ulp",
    "can": "batched CAN exchange host cost vs python-can, joints per bus vs theory",
    "kinematics": "FK / Jacobians / COM vs pinocchio",
    "reliability": "hostile input: frames fuzzed into the board and codecs, kill -9 during stores, loss reaction",
    "firmware": "board image size, instructions per 1 kHz cycle under QEMU, host C image vs Python board",
    "policy": "learned policy step vs onnxruntime; G1 walk speed through the boards vs MuJoCo-only",
    "tune": "auto-tune each preset joint: overshoot, settling, bandwidth before/after; telemetry rate",
    "flash": "a 256 KiB signed image over CAN 1 Mbit/s and CAN FD 1/5 Mbit/s (timed bus model) vs the protocol's theory",
    "hil": "G1 rig in lockstep (boards, CAN-FD, joint modules, MuJoCo): real-time factor and its split",
    "ethercat": "SOEM vs the emulated line: LRW round trip vs wire time at 100 Mbit/s, lost frames, host cost",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="area", metavar="AREA")
    sub.required = True
    for area, help_ in AREAS.items():
        sp = sub.add_parser(area, help=help_, description=help_)
        sp.add_argument("--json", action="store_true", help="print one JSON object")
        mod = importlib.import_module(f"cerebellum_rt.tools.bench.{area}")
        mod.add_arguments(sp)
        sp.set_defaults(_bench=mod.run)


def run(args: argparse.Namespace) -> int:
    return int(args._bench(args) or 0)
