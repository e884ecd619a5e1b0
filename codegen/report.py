"""One build of a law for one target, verified against the Python reference, as a report.

``build_and_verify(law, target, out_dir)`` generates the C, compiles it (size, worst stack),
and checks it against the IR's Python reference on random vectors: on ``host`` through cffi
(SIL, vector by vector), elsewhere as a PIL image under QEMU (hash of all results), which on
Cortex-M also gives the instructions per step.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cerebellum_rt.codegen import build, targets, vectors
from cerebellum_rt.rtcore.errors import DeviceError

MAX_BLOB_BYTES = 512 * 1024  # input vectors embedded in one PIL image


def vector_count(gen: build.Generated, wanted: int) -> int:
    per = sum(vectors.param_dtype(p).itemsize for p in gen.module.functions[gen.module.entry].params)
    return max(1, min(wanted, MAX_BLOB_BYTES // max(per, 1)))


def numba_law_difference(law: Any, gen: build.Generated, batch: list, ref: tuple) -> str | None:
    """Run the law itself under numba on ``batch``: None if it matches the reference bit for bit,
    else the first difference. (numba computes Python float literals and module constants in
    float64, so a law that does not write them as float32 may differ from its generated C.)"""
    from cerebellum_rt.rtcore.jit import njit

    entry = gen.module.functions[gen.module.entry]
    names = ", ".join(f"p{k}" for k in range(len(entry.params)))
    call = f"law({', '.join(f'p{k}[i]' for k in range(len(entry.params)))})"
    src = (f"def run({names}, res):\n    for i in range(res.shape[0]):\n"
           f"        {'res[i] = ' if entry.ret else ''}{call}\n")
    ns: dict[str, Any] = {"law": law if hasattr(law, "py_func") else njit(law, cache=False, error_model="numpy")}
    exec(src, ns)
    b = vectors.copy_batch(batch)
    res = vectors.result_array(gen.module, len(b[0]))
    try:
        njit(ns["run"], cache=False, error_model="numpy")(*b, res)
    except Exception as exc:  # the law under numba raised (e.g. integer division by zero)
        return f"the law under numba raised {type(exc).__name__}: {exc}"
    return vectors.first_difference(gen.module, ref, (b, res))


def build_and_verify(law: Any, target_name: str, out_dir: str, n_vectors: int = 1000, seed: int = 0,
                     opt: str | None = None, run: bool = True) -> dict[str, Any]:
    """Generate, build and (``run``) verify ``law`` on ``target_name``; the report as a dict."""
    target = targets.get_target(target_name)
    gen = build.generate(law, out_dir)
    entry = gen.module.functions[gen.module.entry]
    obj = targets.compile_object(gen, target, opt)
    rep: dict[str, Any] = {
        "law": f"{os.path.relpath(entry.file)}:{entry.line} {entry.name}",
        "name": gen.name,
        "target": target.name,
        "files": [os.path.relpath(f) for f in gen.files],
        "cflags": targets.cflags(target, opt),
        "text_bytes": obj.text,
        "data_bytes": obj.data,
        "bss_bytes": obj.bss,
        "worst_stack_bytes": obj.stack,
        "toolchain": targets.toolchain_version(target),
        "functions": {f.name: f"{os.path.relpath(f.file)}:{f.line}" for f in gen.module.functions.values()},
    }
    if not run:
        return rep
    n = vector_count(gen, n_vectors)
    batch = vectors.random_batch(gen.module, n, seed)
    ref = vectors.run_reference(gen.reference, gen.module, batch)
    ref_hash = vectors.hash_results(gen.module, *ref)
    rep.update(vectors=n, seed=seed, reference_hash=ref_hash)
    rep["numba_law_vs_reference"] = numba_law_difference(law, gen, batch, ref) or "bit-identical"
    if target.name == "host":
        sil = build.build_host(gen, opt or target.opt)
        got = sil.run(batch)
        diff = vectors.first_difference(gen.module, ref, got)
        rep.update(verified_by="SIL (cffi)", hash=vectors.hash_results(gen.module, *got), mismatch=diff)
    else:
        res = targets.pil(gen, target, batch, opt)
        rep.update(verified_by=f"PIL ({' '.join(target.qemu)})", hash=res.hash, image=os.path.relpath(res.elf),
                   mismatch=None if res.hash == ref_hash else f"hash {res.hash} != reference {ref_hash}")
        if res.insns_per_step is not None:
            rep["insns_per_step"] = round(res.insns_per_step, 1)
            rep["insns_note"] = "QEMU -icount shift=0 + SysTick (40 instructions per tick), law loop minus empty loop"
    rep["bit_exact"] = rep["mismatch"] is None
    with open(os.path.join(out_dir, f"{gen.name}.{target.name}.report.json"), "w") as fh:
        json.dump(rep, fh, indent=2)
    return rep


def check(rep: dict[str, Any]) -> None:
    """Raise DeviceError if a verified build differs from the reference."""
    if rep.get("mismatch"):
        raise DeviceError(f"{rep['name']} on {rep['target']}: differs from the Python reference: {rep['mismatch']}")
