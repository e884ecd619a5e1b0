"""`cbl bench codegen`: our generated C vs CasADi-generated C for the same functions.

Functions: UR5 forward kinematics (``codegen/examples/ur5.py``), UR5 FK + 3x6 position
Jacobian (CasADi: its own AD of the same FK), and the joint cascade step
(``actuators/joint/cascade.py``); CasADi gets each through ``cerebellum_rt.codegen.casadi_peer`` (the same IR).
Per function, on Cortex-M4F under QEMU: bytes (text+data the function adds to an image),
instructions per call, and the max ulp difference from the Python reference (ours: host SIL,
and the PIL hashes on Cortex-M4F and aarch64 must equal the reference's; CasADi: its C on the
host). Method details: ``codegen/peer_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from cerebellum_rt.tools.bench import require_peer


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vectors", type=int, default=400, help="input vectors per function (default 400)")
    p.add_argument("-o", "--out", default="build/bench-codegen", help="work directory")


def _cascade_batch(gen, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Operating-range inputs for the cascade: default config, all four modes, no faults."""
    from cerebellum_rt.codegen import vectors

    b = vectors.random_batch(gen.module, n, seed=1)
    entry = gen.module.functions[gen.module.entry]
    ranges = {"mode": lambda: rng.choice([8, 9, 10, -1], n), "enable": lambda: rng.random(n) < 0.95,
              "fault_reset": lambda: np.zeros(n, bool), "overcurrent": lambda: np.zeros(n, bool),
              "pos_ref": lambda: rng.uniform(0.2, 2.6, n), "pos": lambda: rng.uniform(0.2, 2.6, n),
              "vel_ref": lambda: rng.normal(0, 2, n), "vel": lambda: rng.normal(0, 3, n),
              "tau_ref": lambda: rng.normal(0, 10, n), "tau_meas": lambda: rng.normal(0, 20, n),
              "stiffness": lambda: rng.uniform(0, 200, n), "damping": lambda: rng.uniform(0, 5, n),
              "temp": lambda: rng.uniform(30, 110, n), "vbus": lambda: rng.uniform(40, 50, n)}
    for k, p in enumerate(entry.params):
        d = p.record.new()
        if p.name == "inp":
            for name in b[k].dtype.names:
                b[k][name] = ranges[name]() if name in ranges else d[name]
        else:
            for name in b[k].dtype.names:
                b[k][name] = d[name]
            if p.name == "st":
                for name in ("vel_integ", "tau_filt"):
                    if name in b[k].dtype.names:
                        b[k][name] = rng.normal(0, 5, n)
    return b


def _flat(batch: list[np.ndarray], names: list[str], layout: list[tuple]) -> np.ndarray:
    """Rows of the fields in ``layout`` (param, field, count), as float32."""
    by = dict(zip(names, batch))
    cols = [np.asarray(by[p][f], np.float64).reshape(len(batch[0]), -1) for p, f, _ in layout]
    return np.concatenate(cols, axis=1).astype(np.float32)


def _one(name: str, law, casadi_fn_of, batch_of, work: str, n: int) -> dict:
    from cerebellum_rt.codegen import build, peer_bench, targets, vectors

    os.makedirs(work, exist_ok=True)
    gen = build.generate(law, work)
    entry = gen.module.functions[gen.module.entry]
    pnames = [p.name for p in entry.params]
    batch = batch_of(gen, n)
    ref = vectors.run_reference(gen.reference, gen.module, batch)
    ref_hash = vectors.hash_results(gen.module, *ref)
    sil = build.build_host(gen).run(batch)
    exact = {"host": vectors.first_difference(gen.module, ref, sil) is None}
    for t in ("cortex-m4f", "aarch64"):
        exact[t] = targets.pil(gen, targets.get_target(t), batch).hash == ref_hash
    fn, lay_in, lay_out = casadi_fn_of(gen)
    x = _flat(batch, pnames, lay_in)
    want = _flat(ref[0], pnames, lay_out)
    ours_ulp = peer_bench.max_ulp(_flat(sil[0], pnames, lay_out), want)

    # ours on Cortex-M4F
    blobs, args = [], []
    for k, (p, arr) in enumerate(zip(entry.params, batch)):
        blobs.append(f"static union {{ uint8_t b[{arr.nbytes}]; {p.record.__name__} v[{n}]; }} P{k} = "
                     f"{{ .b = {{ {peer_bench._blob(arr.tobytes())} }} }};")
        args.append(f"&P{k}.v[i]")
    decls = f'#include <stdint.h>\n#include "{gen.name}.h"\n' + "\n".join(blobs)
    call = f"    {gen.name}_step_r({', '.join(args)});"
    # the empty adapter touches the same vectors, so both images keep the same data
    empty = "".join(f'    __asm__ volatile("" :: "r"({a}) : "memory");\n' for a in args)
    ours = peer_bench.measure_m4f(work, "ours", peer_bench.harness(decls, call, empty, n),
                                  [os.path.join(work, f"{gen.name}.c")], [], n, [])
    # CasADi, as generated (newlib libm) and with our float32 kernels
    src = peer_bench.casadi_sources(fn, work, f"casadi_{name}")
    n_out = want.shape[1]
    d, c, e = peer_bench.casadi_decls(fn, f"casadi_{name}", x, n_out)
    main = peer_bench.harness(d, c, e, n)
    cas = peer_bench.measure_m4f(work, "casadi_libm", main, [src], ["-std=gnu99", "-fsingle-precision-constant", "-w"], n,
                                 ["-lm", "-lc"])
    cask = peer_bench.measure_m4f(work, "casadi_kernels", main, [src],
                                  ["-std=gnu99", "-fsingle-precision-constant", "-w", "-include", "casadi_shim.h"], n, [])
    y_m = peer_bench.casadi_host(fn, work, f"casadi_{name}", src, x, n_out, shim=False)
    y_k = peer_bench.casadi_host(fn, work, f"casadi_{name}", src, x, n_out, shim=True)
    return {
        "ours_bytes": ours["bytes"], "casadi_bytes": cas["bytes"],
        "ours_insns": ours["insns"], "casadi_insns": cas["insns"],
        "ours_max_ulp": ours_ulp if all(exact.values()) else max(ours_ulp, 1),
        "casadi_max_ulp": peer_bench.max_ulp(y_m, want),
        "casadi_max_abs_diff": float(np.nanmax(np.abs(y_m.astype(np.float64) - want))),
        "casadi_kernels_bytes": cask["bytes"], "casadi_kernels_insns": cask["insns"],
        "casadi_kernels_max_ulp": peer_bench.max_ulp(y_k, want),
        "ours_bit_exact": exact, "vectors": n,
    }


def run(args: argparse.Namespace) -> int:
    ca = require_peer("casadi", "codegen")

    from cerebellum_rt.actuators.joint.cascade import cascade_step
    from cerebellum_rt.codegen import casadi_peer, targets
    from cerebellum_rt.codegen.examples.ur5 import ur5_fk_jac_step, ur5_fk_step
    from cerebellum_rt.codegen.frontend import compile_law
    from cerebellum_rt.rtcore.errors import ConfigError, check_range

    check_range("--vectors", args.vectors, 10, 5000)
    for t in ("cortex-m4f", "aarch64"):
        miss = targets.missing_tools(targets.get_target(t))
        if miss:
            raise ConfigError(f"cbl bench codegen needs {', '.join(miss)} on PATH")
    rng = np.random.default_rng(0)

    def q_batch(gen, n):
        from cerebellum_rt.codegen import vectors

        b = vectors.random_batch(gen.module, n, seed=2)
        b[0]["q"] = rng.uniform(-np.pi, np.pi, (n, 6))
        return b

    def fk_fn(gen):
        return casadi_peer.to_casadi(gen.module, "casadi_ur5_fk", ["out"], ["inp"])

    def fkj_fn(gen):
        f, lay_in, _ = casadi_peer.to_casadi(compile_law(ur5_fk_step), "fk", ["out"], ["inp"])
        q = ca.SX.sym("q", 6)
        y = f(q)
        jac = ca.jacobian(y[0:3], q)
        out = ca.vertcat(y[0:12], ca.reshape(jac.T, 18, 1))
        return ca.Function("casadi_ur5_fk_jac", [q], [ca.densify(out)]), lay_in, [("out", "p", 3), ("out", "R", 9), ("out", "J", 18)]

    def cas_fn(gen):
        return casadi_peer.to_casadi(gen.module, "casadi_cascade", ["st", "out"])

    funcs = {
        "ur5_fk": (ur5_fk_step, fk_fn, q_batch),
        "ur5_fk_jac": (ur5_fk_jac_step, fkj_fn, q_batch),
        "cascade": (cascade_step, cas_fn, lambda g, n: _cascade_batch(g, n, rng)),
    }
    res = {name: _one(name, law, fn, bf, os.path.join(args.out, name), args.vectors)
           for name, (law, fn, bf) in funcs.items()}
    result = {"target": "cortex-m4f (qemu-system-arm mps2-an386, -icount shift=0)", "opt": "-Os",
              "casadi": ca.__version__, "functions": res}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"codegen vs CasADi {ca.__version__} on {result['target']}, -Os; bytes = text+data added to an image")
    print(f"{'function':12} {'ours B':>7} {'casadi B':>9} {'(kern.)':>8} {'ours ins':>9} {'casadi ins':>11} "
          f"{'(kern.)':>8} {'ours ulp':>9} {'casadi ulp':>11} {'(kern.)':>8}")
    for name, r in res.items():
        print(f"{name:12} {r['ours_bytes']:7d} {r['casadi_bytes']:9d} {r['casadi_kernels_bytes']:8d} "
              f"{r['ours_insns']:9.1f} {r['casadi_insns']:11.1f} {r['casadi_kernels_insns']:8.1f} "
              f"{r['ours_max_ulp']:9d} {r['casadi_max_ulp']:11d} {r['casadi_kernels_max_ulp']:8d}")
    print("(kern.) = CasADi's C with its math calls mapped to our float32 kernels")
    return 0
