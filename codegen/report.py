"""One build of a law for one target, verified against the Python reference, as a report.

``build_and_verify(law, target, out_dir)`` generates the C, compiles it (size, worst stack), and
checks on exactly ``n_vectors`` vectors of ``codegen.exercise`` (every branch both ways,
boundaries, sequences; branch coverage reported) that the reference, the law as the host runs it
(``codegen.host_law``: numba code of the IR) and the C agree bit for bit: on ``host`` through
cffi (SIL), elsewhere as PIL images under QEMU (``codegen.pil``), which on Cortex-M also give the
instructions per step. Any difference names the first differing vector and field.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cerebellum_rt.codegen import build, exercise, pil, targets, vectors
from cerebellum_rt.rtcore.errors import DeviceError


def host_law_difference(law: Any, gen: build.Generated, batch: list, ref: tuple) -> str | None:
    """Step the law as the host runs it (``codegen.host_law``: its dispatcher's own batch loop) on
    ``batch``: None if it matches the reference bit for bit, else the first difference."""
    from cerebellum_rt.codegen.host import host_law

    b = vectors.copy_batch(batch)
    res = vectors.result_array(gen.module, len(b[0]))
    host_law(law).run_batch(*b, res)
    return vectors.first_difference(gen.module, ref, (b, res))


def build_and_verify(law: Any, target_name: str, out_dir: str, n_vectors: int = 1000, seed: int = 0,
                     opt: str | None = None, run: bool = True) -> dict[str, Any]:
    """Generate, build and (``run``) verify ``law`` on ``target_name``; the report as a dict."""
    target = targets.get_target(target_name)
    targets.check_opt(opt)
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
        "undefined_symbols": targets.undefined_symbols(target, obj.obj),
        "toolchain": targets.toolchain_version(target),
        "functions": {f.name: f"{os.path.relpath(f.file)}:{f.line}" for f in gen.module.functions.values()},
    }
    if not run:
        return rep
    batch = exercise.exercise_batch(gen, n_vectors, seed)
    ref = vectors.run_reference(gen.reference, gen.module, batch)
    cov = exercise.coverage(gen, batch)
    rep.update(vectors=len(batch[0]), seed=seed, reference_hash=vectors.hash_results(gen.module, *ref),
               branches=cov["branches"], branch_coverage=cov["branch_coverage"], branches_missing=cov["missing"])
    host = host_law_difference(law, gen, batch, ref)
    rep["host_law_vs_reference"] = host or "bit-identical"
    if target.name == "host":
        sil = build.build_host(gen, opt or target.opt)
        got = sil.run(batch)
        diff = vectors.first_difference(gen.module, ref, got)
        rep.update(verified_by="SIL (cffi)", hash=vectors.hash_results(gen.module, *got), mismatch=diff)
    else:
        res = pil.run(gen, target, batch, ref, opt)
        rep.update(verified_by=f"PIL ({' '.join(target.qemu)}, {res.images} image(s))", hash=res.hash,
                   image=os.path.relpath(res.elf), mismatch=res.mismatch)
        if res.insns_per_step is not None:
            rep["insns_per_step"] = round(res.insns_per_step, 1)
            deep = exercise.deepest_path(gen, batch)
            rep["insns_per_step_deepest_path"] = round(pil.time_law(gen, target, [a[deep] for a in batch], opt), 1)
            rep["insns_note"] = ("QEMU -icount shift=0 + SysTick (40 instructions per tick), law loop minus empty "
                                 "loop, averaged over the verification vectors (every branch, both ways); "
                                 "deepest path: the vectors that evaluate the most branches (e.g. a controller's run path)")
    if host and not rep["mismatch"]:
        rep["mismatch"] = f"the law as the host runs it (codegen.host_law): {host}"
    rep["bit_exact"] = rep["mismatch"] is None
    with open(os.path.join(out_dir, f"{gen.name}.{target.name}.report.json"), "w") as fh:
        json.dump(rep, fh, indent=2)
    return rep


def check(rep: dict[str, Any]) -> None:
    """Raise DeviceError if a verified build differs from the reference (first vector, field)."""
    if rep.get("mismatch"):
        raise DeviceError(f"{rep['name']} on {rep['target']}: differs from the Python reference: {rep['mismatch']}")
    if rep.get("undefined_symbols"):
        raise DeviceError(f"{rep['name']} on {rep['target']}: the law object needs {rep['undefined_symbols']} "
                          "(a law links against nothing)")
