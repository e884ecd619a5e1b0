"""`cbl bench codegen`: our generated C vs CasADi-generated C and vs hand-written C twins.

Functions: UR5 forward kinematics (``codegen/examples/ur5.py``), UR5 FK + 3x6 position
Jacobian (CasADi: its own AD of the same FK), and the joint cascade step
(``actuators/joint/cascade.py``); CasADi gets each through ``cerebellum_rt.codegen.casadi_peer`` (the same IR).
Per function, on Cortex-M4F under QEMU: bytes (text+data the function adds to an image),
instructions per call on operating-range inputs (``ours_insns_run_path``: for the cascade, the
four modes enabled without faults), and the max ulp difference from the Python reference (ours:
host SIL, and the PIL hashes on Cortex-M4F and aarch64 must equal the reference's; CasADi: its C
on the host). Fidelity per function: ``branch_coverage`` of ``codegen.exercise`` vectors and
``ours_max_ulp_default_flags`` (the C built as integrators do: ``-std=gnu99 -O2 -march=native``
on the host, ``-std=gnu99 -Os`` on Cortex-M4F, ``-O2`` on aarch64, no ``-ffp-contract=off``).
Hand-written twins (``handwritten``): the PI law (``tools/bench/c/pi_twin.h``) and the whole-body
law (its C twin ``tools/bench/refloop/wholebody.h``), same vectors, same flags:
``ours_vs_handwritten_insns`` = our instructions per call / the twin's (target <= 1.05).
Method details: ``codegen/peer_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from cerebellum_rt.tools.bench import require_peer

DEFAULT_FLAGS = {"host": ("-std=gnu99", "-O2", "-march=native"), "cortex-m4f": ("-std=gnu99", "-Os"),
                 "aarch64": ("-std=gnu99", "-O2")}
N_EXERCISE = 20_000


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


def _fidelity(gen) -> dict:
    """branch_coverage of the exercise vectors, and the max ulp of default-flag builds over them."""
    from cerebellum_rt.codegen import build, exercise, peer_bench, pil, targets, vectors

    batch = exercise.exercise_batch(gen, N_EXERCISE, seed=3)
    with np.errstate(all="ignore"):
        ref = vectors.run_reference(gen.reference, gen.module, batch)
    host = build.build_host(gen, flags=list(DEFAULT_FLAGS["host"])).run(batch)
    ulp = 0
    for k, arr in enumerate(ref[0]):
        for name in arr.dtype.names or (None,):
            a, b = (arr[name], host[0][k][name]) if name else (arr, host[0][k])
            if a.dtype.base == np.float32:
                ulp = max(ulp, peer_bench.max_ulp(b, a))
            elif not np.array_equal(a, b):
                ulp = max(ulp, 1)
    if ref[1].dtype == np.float32:
        ulp = max(ulp, peer_bench.max_ulp(host[1], ref[1]))
    exact = {"host": vectors.first_difference(gen.module, ref, host) is None}
    for t in ("cortex-m4f", "aarch64"):
        exact[t] = pil.run(gen, targets.get_target(t), batch, ref, extra=DEFAULT_FLAGS[t], timed=False).mismatch is None
    cov = exercise.coverage(gen, batch)
    return {"branch_coverage": cov["branch_coverage"], "branches": cov["branches"],
            "ours_max_ulp_default_flags": ulp if all(exact.values()) else max(ulp, 1),
            "default_flags_bit_exact": exact}


def _twin(relpath: str, marker: str) -> str:
    """A hand-written C twin shipped with the benchmarks (``tools/bench/<relpath>``)."""
    from pathlib import Path

    p = Path(__file__).resolve().parent / relpath
    if not p.is_file() or marker not in p.read_text(errors="replace"):
        raise FileNotFoundError(f"hand-written C twin {p} (with '{marker}') is missing")
    return str(p)


def _handwritten(name: str, law, twin: str, twin_types: list[str | None], wrapper: str, batch_of, work: str,
                 n: int) -> dict:
    """Our C vs a hand-written twin: instructions per call on Cortex-M4F, same vectors, same
    flags, each in its own translation unit. ``twin_types``: per law parameter, the twin's
    struct type (None: a scalar); ``wrapper``: C defining ``twin_step(...)`` on them."""
    import shutil

    from cerebellum_rt.codegen import build, peer_bench

    os.makedirs(work, exist_ok=True)
    gen = build.generate(law, work)
    entry = gen.module.functions[gen.module.entry]
    batch = batch_of(gen, n)
    shutil.copy(twin, os.path.join(work, f"twin_{name}.h"))
    scalar = {"f32": "float", "i32": "int32_t", "bool": "bool"}
    args = ", ".join(f"&P{k}.v[i]" if p.ty == "rec" else f"P{k}.v[i]" for k, p in enumerate(entry.params))
    empty = "".join(f'    __asm__ volatile("" :: "r"(&P{k}.v[i]) : "memory");\n' for k in range(len(batch)))

    def blobs(types: list[str]) -> str:
        return "\n".join(f"static union {{ uint8_t b[{arr.nbytes}]; {ct} v[{n}]; }} P{k} = "
                         f"{{ .b = {{ {peer_bench._blob(arr.tobytes())} }} }};" for k, (ct, arr) in enumerate(zip(types, batch)))

    ours_types = [p.record.__name__ if p.ty == "rec" else scalar[p.ty] for p in entry.params]
    hand_types = [t or scalar[p.ty] for t, p in zip(twin_types, entry.params)]
    decls = f'#include <stdint.h>\n#include "{gen.name}.h"\n' + blobs(ours_types)
    ours = peer_bench.measure_m4f(work, f"ours_{name}", peer_bench.harness(decls, f"    {gen.name}_step_r({args});", empty, n),
                                  [os.path.join(work, f"{gen.name}.c")], [], n, [])
    with open(os.path.join(work, f"twin_{name}.c"), "w") as fh:
        fh.write(f'#include <stdbool.h>\n#include "twin_{name}.h"\n{wrapper}\n')
    proto = wrapper.split("{")[0].strip()
    tdecls = f'#include <stdbool.h>\n#include <stdint.h>\n#include "twin_{name}.h"\n{proto};\n' + blobs(hand_types)
    hand = peer_bench.measure_m4f(work, f"hand_{name}", peer_bench.harness(tdecls, f"    twin_step({args});", empty, n),
                                  [os.path.join(work, f"twin_{name}.c")], [], n, [])
    return {**_fidelity(gen), "ours_insns": ours["insns"], "ours_insns_run_path": ours["insns"],
            "handwritten_insns": hand["insns"], "ours_bytes": ours["bytes"],
            "handwritten_bytes": hand["bytes"], "ours_vs_handwritten_insns": round(ours["insns"] / hand["insns"], 3),
            "twin": os.path.relpath(twin), "vectors": n}


def _flat(batch: list[np.ndarray], names: list[str], layout: list[tuple]) -> np.ndarray:
    """Rows of the fields in ``layout`` (param, field, count), as float32."""
    by = dict(zip(names, batch))
    cols = [np.asarray(by[p][f], np.float64).reshape(len(batch[0]), -1) for p, f, _ in layout]
    return np.concatenate(cols, axis=1).astype(np.float32)


def _one(name: str, law, casadi_fn_of, batch_of, work: str, n: int) -> dict:
    from cerebellum_rt.codegen import build, peer_bench, pil, targets, vectors

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
        exact[t] = pil.run(gen, targets.get_target(t), batch, timed=False).hash == ref_hash
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
        **_fidelity(gen),
        "ours_bytes": ours["bytes"], "casadi_bytes": cas["bytes"],
        "ours_insns": ours["insns"], "ours_insns_run_path": ours["insns"], "casadi_insns": cas["insns"],
        "ours_max_ulp": ours_ulp if all(exact.values()) else max(ours_ulp, 1),
        "casadi_max_ulp": peer_bench.max_ulp(y_m, want),
        "casadi_max_abs_diff": float(np.nanmax(np.abs(y_m.astype(np.float64) - want))),
        "casadi_kernels_bytes": cask["bytes"], "casadi_kernels_insns": cask["insns"],
        "casadi_kernels_max_ulp": peer_bench.max_ulp(y_k, want),
        "ours_bit_exact": exact, "vectors": n,
    }


def _handwritten_all(args: argparse.Namespace) -> dict:
    """The laws with a hand-written C twin: the PI controller and the whole-body workload."""
    from cerebellum_rt.codegen import vectors
    from cerebellum_rt.codegen.examples.pi import pi_step
    from cerebellum_rt.codegen.examples.wholebody import g1_like_records, wholebody_step

    def pi_batch(gen, n):
        b = vectors.random_batch(gen.module, n, seed=4)
        rng = np.random.default_rng(4)
        d = gen.module.functions[gen.module.entry].params[0].record.new()
        for name in b[0].dtype.names:
            b[0][name] = d[name]
        b[1]["integ"] = rng.uniform(-12, 12, n)
        b[2][:] = rng.normal(0, 5, n)
        b[3][:] = rng.normal(0, 5, n)
        b[4][:] = 1e-3
        return b

    def wb_batch(gen, n):
        recs = [np.repeat(r.base if hasattr(r, "base") and r.base is not None else np.array([r]), n) for r in g1_like_records(0)]
        rng = np.random.default_rng(5)
        for name in ("q", "dq", "tension"):
            recs[2][name] += rng.normal(0, 0.05, recs[2][name].shape).astype(np.float32)
        return recs

    out = {}
    pi_twin = _twin("c/pi_twin.h", "pi_twin_step")
    out["pi"] = _handwritten("pi", pi_step, pi_twin, ["pi_twin_cfg_t", "pi_twin_state_t", None, None, None],
                             "float twin_step(const pi_twin_cfg_t *c, pi_twin_state_t *s, float r, float m, float dt)"
                             " { return pi_twin_step(c, s, r, m, dt); }", pi_batch, os.path.join(args.out, "pi"),
                             args.vectors)
    wb_twin = _twin("refloop/wholebody.h", "wb_config_t")
    out["wholebody"] = _handwritten("wholebody", wholebody_step, wb_twin,
                                    ["wb_config_t", "wb_state_t", "wb_input_t", "wb_output_t"],
                                    "void twin_step(const wb_config_t *c, wb_state_t *s, const wb_input_t *i, wb_output_t *o)"
                                    " { wholebody_step(c, s, i, o); }", wb_batch, os.path.join(args.out, "wholebody"),
                                    min(args.vectors, 200))
    return out


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
    hand = _handwritten_all(args)
    for name, h in hand.items():
        res.setdefault(name, {}).update(h)
    result = {"target": "cortex-m4f (qemu-system-arm mps2-an386, -icount shift=0)", "opt": "-Os",
              "casadi": ca.__version__, "functions": res}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"codegen vs CasADi {ca.__version__} on {result['target']}, -Os; bytes = text+data added to an image")
    print(f"{'function':12} {'ours B':>7} {'casadi B':>9} {'(kern.)':>8} {'ours ins':>9} {'casadi ins':>11} "
          f"{'(kern.)':>8} {'ours ulp':>9} {'casadi ulp':>11} {'(kern.)':>8}")
    for name, r in ((k, v) for k, v in res.items() if "casadi_bytes" in v):
        print(f"{name:12} {r['ours_bytes']:7d} {r['casadi_bytes']:9d} {r['casadi_kernels_bytes']:8d} "
              f"{r['ours_insns']:9.1f} {r['casadi_insns']:11.1f} {r['casadi_kernels_insns']:8.1f} "
              f"{r['ours_max_ulp']:9d} {r['casadi_max_ulp']:11d} {r['casadi_kernels_max_ulp']:8d}")
    print("(kern.) = CasADi's C with its math calls mapped to our float32 kernels")
    print(f"{'function':12} {'coverage':>9} {'ulp dflt':>9} {'run ins':>8} {'hand ins':>9} {'ours/hand':>10}")
    for name, r in res.items():
        hand = r.get("handwritten_insns")
        print(f"{name:12} {r['branch_coverage']:9.4f} {r['ours_max_ulp_default_flags']:9d} {r['ours_insns_run_path']:8.1f} "
              f"{hand if hand is not None else '-':>9} {r.get('ours_vs_handwritten_insns', '-'):>10}")
    print("coverage: IR branch directions taken by codegen.exercise vectors; ulp dflt: C built with integrators' "
          "default flags; ours/hand: instructions per call vs the hand-written C twin (target <= 1.05)")
    return 0
