"""`cbl build firmware --board joint|hand --target cortex-m4f|cortex-m7|host [-o DIR]`: the board image.

Writes the ELF, the raw binary and the linker map (host: a shared library and its map) and
prints flash, RAM and stack use against the budgets of a G474-class joint MCU (64 KiB flash,
16 KiB RAM including the stack). Exit 1 when the image does not fit.

``--image --key KEY [--version X.Y.Z] [--security-counter N]`` also writes ``<name>.img``: the
payload (Cortex-M: the raw binary; host: the shared library's bytes, stripped) as an MCUboot image signed
by imgtool (Ed25519), carrying the board type (TLV 0xA0 = the board's product code 0x1018:2).
"""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.drivers.firmware.image import build_image

    out = args.out or f"build/firmware-{args.board}-{args.target}"
    if args.image and not args.key:
        from cerebellum_rt.rtcore.errors import ConfigError

        raise ConfigError("--image needs --key KEY (an Ed25519 private key: cbl keys new KEY)")
    rep = build_image(args.board, args.target, out, opt=args.opt)
    if args.image:
        rep.update(_signed_image(rep, args))
    if args.json:
        print(json.dumps(rep))
        return 0 if rep.get("fits", True) else 1
    print(f"firmware {rep['board']} -> {rep['elf']} ({rep['target']})")
    if "image" in rep:
        print(f"  signed image {rep['image']} ({rep['image_bytes']} B, version {rep['image_version']}, "
              f"security counter {rep['image_security_counter']}, board type 0x{rep['image_board_type']:08X})")
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


def _signed_image(rep: dict, args: argparse.Namespace) -> dict:
    """Sign the firmware's payload (Cortex-M: the .bin; host: the shared library) into ``<payload>.img``."""
    from pathlib import Path

    from cerebellum_rt.drivers import od
    from cerebellum_rt.drivers.flash.image import make_image
    from cerebellum_rt.rtcore.errors import ConfigError

    payload = Path(rep.get("bin") or rep["elf"])
    body = payload.read_bytes() if "bin" in rep else _stripped(payload)
    board_type = int(od.build_table(args.board).entry(0x1018, 2).default)
    data = make_image(body, args.key, version=args.image_version, board_type=board_type,
                      security_counter=args.security_counter)
    img = payload.with_suffix(".img")
    if "slot_size" in rep and len(data) > rep["slot_size"]:
        raise ConfigError(f"image {len(data)} bytes > slot size {rep['slot_size']} bytes")
    img.write_bytes(data)
    return {"image": str(img), "image_bytes": len(data), "image_version": args.image_version,
            "image_security_counter": args.security_counter, "image_board_type": board_type}


def _stripped(lib):
    """The host library without symbols (``strip --strip-unneeded``): what the image carries."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from cerebellum_rt.rtcore.errors import ConfigError

    strip = shutil.which("strip")
    if strip is None:
        raise ConfigError("--image --target host needs binutils' strip on PATH (the library is signed stripped)")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "lib.so"
        subprocess.run([strip, "--strip-unneeded", "-o", str(out), str(lib)], check=True)
        return out.read_bytes()
