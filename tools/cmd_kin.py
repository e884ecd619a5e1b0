"""`cbl kin`: robot model info and forward kinematics.

cbl kin info g1                      frames, joints, limits (short name or .urdf / .xml path)
cbl kin fk g1 --q 0 0 0.8 0 0 0 1 ...   world placement of every frame (or --frame NAME ...)
"""

from __future__ import annotations

import argparse
import json

from cerebellum_rt.rtcore.errors import ConfigError

TYPE_NAMES = {0: "free_flyer", 1: "revolute_x", 2: "revolute_y", 3: "revolute_z", 4: "revolute",
              5: "prismatic", 6: "revolute_unbounded", 7: "spherical"}  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="kin_cmd", metavar="CMD")
    sub.required = True
    for name, help_ in (("info", "frames, joints and limits of a model"), ("fk", "forward kinematics")):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument(
            "model", help="a .urdf / .xml (MJCF) path or an example-robot-data name (g1, talos, ...)"
        )
        fl = sp.add_mutually_exclusive_group()
        fl.add_argument(
            "--floating",
            dest="floating",
            action="store_true",
            default=None,
            help="add a free-flyer root joint (default: names float, URDF paths are fixed)",
        )
        fl.add_argument("--fixed", dest="floating", action="store_false", help="fixed base")
        sp.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "fk":
            sp.add_argument(
                "--q",
                type=float,
                nargs="+",
                metavar="Q",
                help="configuration, nq values in pinocchio's order (default: neutral)",
            )
            sp.add_argument("--frame", action="append", metavar="NAME", help="only this frame (repeatable)")


def _info(model, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    f = model.flat
    joints = []
    for j, name in enumerate(model.joint_names):
        iq, nq, iv, nv = model.joint_dofs(name)
        lo = [float(x) if abs(x) < 1e300 else None for x in model.lower[iq : iq + nq]]
        hi = [float(x) if abs(x) < 1e300 else None for x in model.upper[iq : iq + nq]]
        joints.append({"name": name, "type": TYPE_NAMES[int(f.jint[j, 1])], "idx_q": iq, "nq": nq,
                       "idx_v": iv, "nv": nv, "lower": lo, "upper": hi})  # fmt: skip
    info = {"model": model.name, "nq": model.nq, "nv": model.nv, "mass_kg": model.mass(),
            "joints": joints, "frames": model.frame_names}  # fmt: skip
    if as_json:
        print(json.dumps(info))
        return 0
    print(f"{model.name}: nq {model.nq}, nv {model.nv}, {len(joints)} joints, {model.n_frames} frames, "
          f"mass {model.mass():.3f} kg")  # fmt: skip
    print(f"{'joint':32s} {'type':18s} {'q':>4s} {'v':>4s}  limits [rad or m]")
    for jd in joints:
        lim = ", ".join(
            "-"
            if lo is None and hi is None
            else f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
            for lo, hi in zip(jd["lower"], jd["upper"])
        )
        print(f"{jd['name']:32s} {jd['type']:18s} {jd['idx_q']:4d} {jd['idx_v']:4d}  {lim}")
    print("frames: " + ", ".join(model.frame_names))
    return 0


def _fk(model, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    import numpy as np

    if args.q is None:
        q = model.neutral()
    else:
        q = np.array(args.q, dtype=np.float64)
        if q.shape != (model.nq,):
            raise ConfigError(f"--q has {q.size} values; model {model.name!r} needs nq = {model.nq}")
    names = args.frame or model.frame_names
    idx = [model.frame_index(n) for n in names]
    x = model.forward(q)
    rows = {n: x[i].tolist() for n, i in zip(names, idx)}
    if args.json:
        print(json.dumps({"model": model.name, "q": q.tolist(), "placements": rows}))
        return 0
    print(f"{'frame':36s} {'x [m]':>10s} {'y [m]':>10s} {'z [m]':>10s}   rotation (row-major)")
    for n, i in zip(names, idx):
        p = x[i, :3, 3]
        r = " ".join(f"{v:+.4f}" for v in x[i, :3, :3].ravel())
        print(f"{n:36s} {p[0]:10.5f} {p[1]:10.5f} {p[2]:10.5f}   {r}")
    return 0


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.kinematics.model import load_model

    model = load_model(args.model, floating=args.floating)
    if args.kin_cmd == "info":
        return _info(model, args.json)
    return _fk(model, args)
