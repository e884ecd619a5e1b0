"""`cbl build firmware --board joint|hand --target cortex-m4f|cortex-m7|host [-o DIR]`: the board image.

Writes the ELF, the raw binary and the linker map (host: a shared library and its map) and
prints flash, RAM and stack use against the budgets of a G474-class joint MCU (64 KiB flash,
16 KiB RAM including the stack). Exit 1 when the image does not fit.
"""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.drivers.firmware.image import build_image

    out = args.out or f"build/firmware-{args.board}-{args.target}"
    rep = build_image(args.board, args.target, out, opt=args.opt)
    if args.json:
        print(json.dumps(rep))
        return 0 if rep.get("fits", True) else 1
    print(f"firmware {rep['board']} -> {rep['elf']} ({rep['target']})")
    if "bin" in rep:
        print(f"  binary {rep['bin']}, map {rep['map']}")
    else:
        print(f"  map {rep['map']}; {rep['note']}")
    b = rep.get("budgets")
    if b is None:
        print(f"  flash {rep['flash_bytes']} B, RAM {rep['ram_bytes']} B")
        return 0
    print(f"  flash {rep['flash_bytes']} B of {b['flash_bytes']} B ({100 * rep['flash_bytes'] / b['flash_bytes']:.0f} %)")
    print(f"  RAM   {rep['ram_bytes']} B of {b['ram_bytes']} B ({100 * rep['ram_bytes'] / b['ram_bytes']:.0f} %): "
          f"{rep['ram_static_bytes']} B data + bss, {rep['stack_reserved_bytes']} B stack reserved")
    print(f"  stack worst path {rep['stack_worst_bytes']} B of {rep['stack_reserved_bytes']} B: "
          f"{' -> '.join(p.rsplit(':', 1)[-1] for p in rep['stack_worst_path'])}")
    print("  fits the budgets" if rep["fits"] else "  DOES NOT FIT the budgets")
    return 0 if rep["fits"] else 1
