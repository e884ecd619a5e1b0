"""The bootloader's Cortex-M4F image (``boot/boot_m4.c``) and a probe application for a slot.

``build_bootloader(public_key, board_type, out_dir)`` compiles the bootloader tree (the policy,
the image check and the fetched crypto, :mod:`~cerebellum_rt.drivers.firmware.bootloader`) with
codegen's bare-metal start-up, links it into the 32 KiB bootloader region (``boot/boot_m4.ld``:
the link fails beyond it) with the public key at CBL_KEY_OFF, and reports its size.
``build_probe_app(out_dir)`` links ``boot/probe_app.c`` for slot A (after a 0x200-byte header) as
a raw binary, the payload of the QEMU test's signed image.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cerebellum_rt.codegen import targets
from cerebellum_rt.codegen.build import RUNTIME_DIR
from cerebellum_rt.drivers.firmware import layout
from cerebellum_rt.drivers.firmware.bootloader import BOOT_DIR, boot_tree
from cerebellum_rt.drivers.firmware.image import _run, elf_sizes
from cerebellum_rt.rtcore.errors import ConfigError

TARGET = "cortex-m4f"
BOOT_STACK = 6144
FLAGS = ["-ffunction-sections", "-fdata-sections", "-fno-delete-null-pointer-checks", "-Wall", "-Wno-unused-function"]


def _compile_link(t: Any, sources: list[Path], inc: Path, ld: Path, out: Path, name: str, extra: list[str],
                  stack: int) -> Path:
    objs = []
    for c in sources:
        o = out / f"{name}-{c.stem}.o"
        _run([t.cc, *targets.cflags(t, None), *FLAGS, *extra, "-I", str(inc), "-c", str(c), "-o", str(o)],
             f"compile {c.name}")
        objs.append(o)
    elf = out / f"{name}.elf"
    _run([t.cc, *t.cflags, "-nostdlib", "-T", str(ld), f"-Wl,--defsym=CBL_STACK={stack}", "-Wl,--gc-sections",
          f"-Wl,-Map={out / (name + '.map')}", *map(str, objs), "-lgcc", "-o", str(elf)], f"link {name}")
    return elf


def build_bootloader(public_key: bytes, board_type: int, out_dir: str | Path) -> dict[str, Any]:
    """The bootloader ELF for ``board_type`` trusting ``public_key`` (32 raw Ed25519 bytes)."""
    if len(public_key) != 32:
        raise ConfigError(f"bootloader key: {len(public_key)} bytes, an Ed25519 public key has 32")
    t = targets.get_target(TARGET)
    targets._require(t, run=False)
    out = Path(out_dir)
    src = out / "boot-src"
    core = boot_tree(src)
    for f in ("boot_m4.c", "boot_m4.ld"):
        shutil.copyfile(BOOT_DIR / f, src / f)
    shutil.copyfile(Path(RUNTIME_DIR) / "cortexm_startup.c", src / "cortexm_startup.c")
    (src / "boot_key.c").write_text(
        "/* the trusted Ed25519 public key, linked at CBL_KEY_OFF (generated) */\n#include <stdint.h>\n"
        '__attribute__((section(".boot_key"), used)) const uint8_t cbl_boot_pubkey[32] = {'
        + ", ".join(f"0x{b:02x}" for b in public_key) + "};\n")
    elf = _compile_link(t, [*core, src / "boot_m4.c", src / "boot_key.c", src / "cortexm_startup.c"], src,
                        src / "boot_m4.ld", out, "cbl-boot-cortex-m4f", [f"-DCBL_BOOT_BOARD_TYPE=0x{board_type:08X}u"],
                        BOOT_STACK)
    sizes = elf_sizes(elf)
    return {"elf": str(elf), "flash_bytes": sizes["flash_bytes"], "ram_static_bytes": sizes["ram_data_bytes"],
            "budget_bytes": layout.BOOT_BYTES, "fits": sizes["flash_bytes"] <= layout.BOOT_BYTES}


def build_probe_app(out_dir: str | Path) -> bytes:
    """The probe application for slot A as raw bytes (its vector table first)."""
    t = targets.get_target(TARGET)
    out = Path(out_dir)
    src = out / "probe-src"
    src.mkdir(parents=True, exist_ok=True)
    for f in ("probe_app.c", "probe_app.ld"):
        shutil.copyfile(BOOT_DIR / f, src / f)
    shutil.copyfile(Path(RUNTIME_DIR) / "cortexm_startup.c", src / "cortexm_startup.c")
    elf = _compile_link(t, [src / "probe_app.c", src / "cortexm_startup.c"], src, src / "probe_app.ld", out,
                        "probe-app", [], 2048)
    binf = out / "probe-app.bin"
    _run([t.cc.replace("gcc", "objcopy"), "-O", "binary", str(elf), str(binf)], "objcopy")
    return binf.read_bytes()
