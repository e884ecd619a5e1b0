"""`cbl build LAW --target T [-o DIR]`: generate C from a law, build it, verify it, report.

``cbl build firmware --board joint --target T`` builds a board's firmware image instead
(:mod:`cerebellum_rt.tools.build_firmware`).

LAW is ``package.module:function`` or ``path/to/file.py:function`` (a law file is code:
importing it runs it). The report (also written as ``DIR/<name>.<target>.report.json``) gives
code and data size, worst stack, the law object's undefined symbols (none), instructions per step
under QEMU (Cortex-M), the toolchain versions, the branch coverage of the verification vectors,
and whether the C and the law as the host runs it matched the Python reference bit for bit on
exactly ``--vectors`` vectors (SIL through cffi on host, PIL under QEMU elsewhere). Any
difference exits 2, naming the first differing vector and field.
"""

from __future__ import annotations

import argparse
import json

TARGET_NAMES = ("host", "cortex-m4f", "cortex-m7", "aarch64")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("law", metavar="LAW", help="module:function or path/file.py:function")
    p.add_argument("--target", choices=TARGET_NAMES, default="host", help="toolchain and platform (default host)")
    p.add_argument("-o", "--out", metavar="DIR", default=None, help="output directory (default build/<law>-<target>)")
    p.add_argument("--vectors", type=int, default=1000,
                   help="vectors to verify with, exactly (branches both ways, boundaries, sequences; default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the input vectors")
    p.add_argument("--opt", default=None, help="optimisation level, one of -O0 -O1 -O2 -O3 -Os -Og -Oz "
                   "(default -Os on Cortex-M, -O2 elsewhere)")
    p.add_argument("--no-verify", action="store_true", help="only generate and compile")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--board", choices=("joint", "hand"), default="joint",
                   help="with LAW = firmware: the board type whose image to build (default joint)")
    p.add_argument("--image", action="store_true",
                   help="with LAW = firmware: also write the signed MCUboot image (<name>.img) for cbl flash")
    p.add_argument("--key", metavar="KEY", default=None, help="with --image: the Ed25519 private key (cbl keys new)")
    p.add_argument("--version", dest="image_version", metavar="X.Y.Z", default="0.1.0",
                   help="with --image: the image version (0x1F56; default 0.1.0)")
    p.add_argument("--security-counter", type=int, default=0, metavar="N",
                   help="with --image: the security counter; boards refuse images below their installed one")


def run(args: argparse.Namespace) -> int:
    if args.law == "firmware":
        from cerebellum_rt.tools.build_firmware import run as build_firmware

        return build_firmware(args)
    from cerebellum_rt.codegen import build, report, targets
    from cerebellum_rt.rtcore.errors import check_range
    from cerebellum_rt.tools.outputs import output_dir

    check_range("--vectors", args.vectors, 1, 1_000_000)
    targets.check_opt(args.opt)
    law = build.load_law(args.law)
    out = str(output_dir(args.out or f"build/{getattr(law, '__name__', 'law')}-{args.target}"))
    rep = report.build_and_verify(law, args.target, out, args.vectors, args.seed, args.opt, run=not args.no_verify)
    if args.json:
        print(json.dumps(rep))
    else:
        print(f"{rep['name']}: {rep['law']} -> {out}/ ({args.target})")
        print(f"  size: text {rep['text_bytes']} B, data {rep['data_bytes']} B, bss {rep['bss_bytes']} B; "
              f"worst stack {rep['worst_stack_bytes']} B")
        if "insns_per_step" in rep:
            print(f"  instructions per step: {rep['insns_per_step']}, on the deepest path "
                  f"{rep['insns_per_step_deepest_path']} ({rep['insns_note']})")
        print(f"  undefined symbols of the law object: {rep['undefined_symbols'] or 'none'}")
        if "bit_exact" in rep:
            verdict = "bit-identical to the Python reference" if rep["bit_exact"] else f"MISMATCH: {rep['mismatch']}"
            print(f"  {rep['verified_by']}: {rep['vectors']} vectors, hash {rep['hash']}: {verdict}")
            print(f"  branch coverage {rep['branch_coverage']:.4f} of {rep['branches']} branches (both ways)"
                  + "".join(f"\n    {m}" for m in rep["branches_missing"][:8]))
            print(f"  the law as the host runs it (codegen.host_law) vs the reference: {rep['host_law_vs_reference'][:160]}")
        for tool, ver in rep["toolchain"].items():
            print(f"  {tool}: {ver}")
    report.check(rep)
    return 0
