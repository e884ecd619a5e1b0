"""`cbl bench kinematics`: our FK / Jacobians / COM against pinocchio, same model, same run.

Per call, from Python (public API with preallocated outputs) and from inside a compiled
(numba) loop. Lines compared:

- ``fk``: ours = world placement of *every frame*; pinocchio ``forwardKinematics`` (joints only).
  Like-for-like lines are also given: ``ours_joint_fk_us`` (joints only, ``forward_joints``)
  against ``pin_fk_us``, and ``ours_fk_us`` against ``pin_frames_fk_us``
  (``framesForwardKinematics``, every frame).
- ``jac``: ours = FK + every joint Jacobian column (``data.J``-equivalent, from which any frame
  Jacobian is one pass over its support); pinocchio ``computeJointJacobians``.
- ``com``: ours = FK + centre of mass; pinocchio ``centerOfMass``.

Timing is interleaved (ours, pinocchio, ours, ...) over ``--reps`` rounds of ``--calls`` calls;
each figure is the median over rounds, each ratio the median of per-round ratios (ours / pin,
< 1 means we are faster). The machine is noisy: compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import json
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="g1", help="model name or .urdf/.xml path (default g1)")
    p.add_argument("--reps", type=int, default=21, help="interleaved rounds (default 21)")
    p.add_argument("--calls", type=int, default=20000, help="calls per round (default 20000)")


def _time(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def _loops():  # type: ignore[no-untyped-def]
    from cerebellum_rt.kinematics import _kernels as K
    from cerebellum_rt.rtcore.jit import njit

    @njit(cache=True)
    def fk_loop(n, q, jint, jreal, fint, freal, omi, tmp, out):  # type: ignore[no-untyped-def]
        for _ in range(n):
            q[-1] += 1e-12  # defeat loop-invariant hoisting
            K.forward(q, jint, jreal, fint, freal, omi, tmp, out)

    @njit(cache=True)
    def jac_loop(n, q, jint, jreal, omi, tmp, jac):  # type: ignore[no-untyped-def]
        for _ in range(n):
            q[-1] += 1e-12
            K.joint_jacobians(q, jint, jreal, omi, tmp, jac)

    @njit(cache=True)
    def com_loop(n, q, jint, jreal, inertia, omi, tmp, com):  # type: ignore[no-untyped-def]
        s = 0.0
        for _ in range(n):
            q[-1] += 1e-12
            s += K.center_of_mass(q, jint, jreal, inertia, omi, tmp, com)
        return s

    return fk_loop, jac_loop, com_loop


def _ik_figures(model) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Median time [us] and iterations of warm-started IK solves (G1-like: both feet as poses,
    both wrists as positions, fixed base), targets 0.05 rad per joint from the start."""
    import numpy as np

    from cerebellum_rt.kinematics.ik import IKSolver

    names = set(model.frame_names)
    effs = [(f, m) for f, m in (("left_ankle_roll_link", "pose"), ("right_ankle_roll_link", "pose"),
                                ("left_wrist_yaw_link", "position"), ("right_wrist_yaw_link", "position"))
            if f in names]  # fmt: skip
    if not effs:
        return {}
    solver = IKSolver(model, effs, fixed_base=True)
    rng = np.random.default_rng(1)
    times, iters = [], []
    for _ in range(50):
        qt = model.random_configurations(rng, 1, base_range=0.0)[0]
        qt[7:] = np.clip(0.3 * qt[7:], model.lower[7:], model.upper[7:])
        x = model.forward(qt)
        for k, (f, m) in enumerate(effs):
            solver.set_target(k, x[model.frame_index(f)] if m == "pose" else x[model.frame_index(f)][:3, 3])
        q = qt.copy()
        q[7:] = np.clip(q[7:] + 0.05, model.lower[7:], model.upper[7:])
        t0 = time.perf_counter()
        solver.solve_into(q)
        times.append((time.perf_counter() - t0) * 1e6)
        iters.append(solver.result[0])
    return {"ours_ik_us": round(float(np.median(times[1:])), 3), "ik_iterations_median": float(np.median(iters)),
            "ik_effectors": len(effs)}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import pinocchio as pin

    from cerebellum_rt.kinematics.model import load_model, load_pinocchio
    from cerebellum_rt.rtcore.errors import check_range

    check_range("--reps", args.reps, 3, 10_000)
    check_range("--calls", args.calls, 100, 10_000_000)
    model = load_model(args.model)
    pm = load_pinocchio(args.model)
    data = pm.createData()
    q = model.random_configurations(np.random.default_rng(0), 1)[0]
    ql = q.copy()
    out_x = np.empty((model.n_frames, 4, 4))
    out_j = np.empty((6, model.nv))
    out_c = np.empty(3)
    f, w = model.flat, model.work
    fk_loop, jac_loop, com_loop = _loops()

    ours = {
        "fk": lambda: model.forward(q, out_x),
        "jac": lambda: model.joint_jacobians(q, out_j),
        "com": lambda: model.com(q, out_c),
    }
    theirs = {
        "fk": lambda: pin.forwardKinematics(pm, data, q),
        "frames_fk": lambda: pin.framesForwardKinematics(pm, data, q),
        "jac": lambda: pin.computeJointJacobians(pm, data, q),
        "com": lambda: pin.centerOfMass(pm, data, q),
    }
    loops = {
        "fk": lambda n: fk_loop(n, ql, f.jint, f.jreal, f.fint, f.freal, w.omi, w.tmp, out_x),
        "jac": lambda n: jac_loop(n, ql, f.jint, f.jreal, w.omi, w.tmp, out_j),
        "com": lambda n: com_loop(n, ql, f.jint, f.jreal, f.inertia, w.omi, w.tmp, out_c),
    }

    def joint_fk() -> None:
        model.forward_joints(q)

    for fn in (*ours.values(), *theirs.values(), joint_fk):
        fn()
    for lp in loops.values():
        lp(10)
    rounds: dict[str, list[float]] = {}
    n = args.calls
    for _ in range(args.reps):
        for key in ("fk", "jac", "com"):
            rounds.setdefault(f"ours_{key}_us", []).append(_time(ours[key], n))
            rounds.setdefault(f"pin_{key}_us", []).append(_time(theirs[key], n))
            t0 = time.perf_counter()
            loops[key](n)
            rounds.setdefault(f"ours_{key}_in_loop_us", []).append((time.perf_counter() - t0) / n * 1e6)
        rounds.setdefault("pin_frames_fk_us", []).append(_time(theirs["frames_fk"], n))
        rounds.setdefault("ours_joint_fk_us", []).append(_time(joint_fk, n))
    res: dict[str, object] = {"model": model.name, "nq": model.nq, "nv": model.nv, "n_frames": model.n_frames,
                              "reps": args.reps, "calls": n}  # fmt: skip
    for k, v in rounds.items():
        res[k] = round(float(np.median(v)), 4)
    if model.nq > 7 and model.flat.jint[0, 1] == 0:  # floating-base humanoid: add the IK figure
        res.update(_ik_figures(model))
    for key in ("fk", "jac", "com"):
        r = np.array(rounds[f"ours_{key}_us"]) / np.array(rounds[f"pin_{key}_us"])
        res[f"{key}_ratio"] = round(float(np.median(r)), 3)
        r = np.array(rounds[f"ours_{key}_in_loop_us"]) / np.array(rounds[f"pin_{key}_us"])
        res[f"{key}_in_loop_ratio"] = round(float(np.median(r)), 3)
    r = np.array(rounds["ours_fk_us"]) / np.array(rounds["pin_frames_fk_us"])
    res["frames_fk_ratio"] = round(float(np.median(r)), 3)
    r = np.array(rounds["ours_joint_fk_us"]) / np.array(rounds["pin_fk_us"])
    res["joint_fk_ratio"] = round(float(np.median(r)), 3)
    if args.json:
        print(json.dumps(res))
        return 0
    print(
        f"{model.name}: nq {model.nq}, nv {model.nv}, {model.n_frames} frames; median of {args.reps} x {n} calls"
    )
    print(f"{'line':10s} {'ours [us]':>10s} {'in loop':>10s} {'pinocchio':>10s} {'ours/pin':>9s}")
    for key in ("fk", "jac", "com"):
        print(f"{key:10s} {res[f'ours_{key}_us']:10.3f} {res[f'ours_{key}_in_loop_us']:10.3f} "
              f"{res[f'pin_{key}_us']:10.3f} {res[f'{key}_ratio']:9.3f}")  # fmt: skip
    print(f"like for like: every frame {res['ours_fk_us']:.3f} vs framesForwardKinematics "
          f"{res['pin_frames_fk_us']:.3f} us (ratio {res['frames_fk_ratio']:.3f}); joints only "
          f"{res['ours_joint_fk_us']:.3f} vs forwardKinematics {res['pin_fk_us']:.3f} us "
          f"(ratio {res['joint_fk_ratio']:.3f})")  # fmt: skip
    if "ours_ik_us" in res:
        print(f"IK, {res['ik_effectors']} effectors, warm start: {res['ours_ik_us']:.1f} us per solve, "
              f"median {res['ik_iterations_median']:.0f} iterations")  # fmt: skip
    return 0
