"""The resident bootloader (``boot/``): its source tree and its host build.

``boot_tree(out_dir)`` writes the bootloader's C files next to ``cbl_layout.h``
(:mod:`~cerebellum_rt.drivers.firmware.layout`) and the crypto sources fetched from PyPI
(:mod:`~cerebellum_rt.drivers.firmware.crypto`). ``load()`` compiles the host build
(``boot/boot_host.c``: the flash a caller-owned buffer, with the power-cut hook) into a cffi
module, cached by a hash of every source, as the firmware's host build
(:mod:`~cerebellum_rt.drivers.firmware.host`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cerebellum_rt.drivers.firmware import crypto
from cerebellum_rt.drivers.firmware.host import build_module, cached_tree
from cerebellum_rt.drivers.firmware.layout import layout_header

BOOT_DIR = Path(__file__).parent / "boot"
CORE_SOURCES = ("cbl_boot.c", "cbl_image.c", "cbl_ed25519.c", "cbl_sha256.c", "cbl_sha512.c", "monocypher.c")
HEADERS = ("cbl_boot_api.h", "cbl_flash.h", "cbl_crypto.h", "cbl_image.h", "cbl_boot.h", "boot_host.h")
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wno-unused-function"]

CDEF = """
typedef struct { uint32_t version, seccnt, board_type, hdr_size, img_size, total; } cbl_image_info_t;
typedef struct { uint32_t ops, cut_at, cut_bytes; uint8_t dead; ...; } cbl_boot_host_t;
typedef struct { void *ctx; uint8_t running_slot; uint8_t test_boot; ...; } cbl_boot_api_t;
size_t cbl_boot_host_size(void);
void cbl_boot_host_init(cbl_boot_host_t *h, uint8_t *flash, uint32_t board_type);
int cbl_boot_host_select(cbl_boot_host_t *h);
const cbl_boot_api_t *cbl_boot_host_api(cbl_boot_host_t *h);
uint32_t cbl_boot_host_check(const uint8_t *img, uint32_t n, const uint8_t *key, uint32_t board_type,
                             uint32_t min_seccnt, cbl_image_info_t *info);
int cbl_ed25519_verify(const uint8_t sig[64], const uint8_t pk[32], const uint8_t *msg, size_t n);
"""

# cbl_boot_api.h CBL_IMG_*: the check that failed = the 0x1F57 error code
IMAGE_CHECKS = {0: "ok", 1: "no valid program", 2: "data format unknown (header flags)",
                3: "data format error (TLV area)", 4: "flash not cleared", 5: "flash write error",
                6: "address error (linked for another slot)", 7: "flash secured", 8: "signature invalid",
                9: "wrong board type", 10: "security counter lower than installed", 11: "image larger than the slot",
                12: "hash mismatch", 13: "header invalid"}

_loaded: dict[str, Any] = {}


def check_image(image: bytes, public_key: bytes, board_type: int, min_security_counter: int = 0) -> tuple[int, str]:
    """The C bootloader's check of ``image`` (the host build of cbl_image.c): (code, check name)."""
    mod = load()
    info = mod.ffi.new("cbl_image_info_t *")
    code = int(mod.lib.cbl_boot_host_check(image, len(image), public_key, board_type, min_security_counter, info))
    return code, IMAGE_CHECKS.get(code, f"code {code}")


def boot_tree(out_dir: str | Path) -> list[Path]:
    """The bootloader's sources in ``out_dir`` (with the layout header and the fetched crypto)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cbl_layout.h").write_text(layout_header())
    crypto.copy_into(out)
    for name in (*HEADERS, *CORE_SOURCES[:-1], "boot_host.c"):
        if (BOOT_DIR / name).exists():
            shutil.copyfile(BOOT_DIR / name, out / name)
    return [out / s for s in CORE_SOURCES]


def load() -> Any:
    """The bootloader's host build as a cffi module (built once per source hash; loaded once per
    process)."""

    if "current" in _loaded:
        return _loaded["current"]
    out, digest = cached_tree("boot", boot_tree, " ".join(CFLAGS) + CDEF)
    modname = f"_cbl_boot_{digest}"
    if modname in _loaded:
        _loaded["current"] = _loaded[modname]
        return _loaded[modname]
    mod = build_module(modname, CDEF, '#include "boot_host.h"\n#include "cbl_crypto.h"\n',
                       [out / s for s in (*CORE_SOURCES, "boot_host.c")], out, "bootloader host build")
    _loaded[modname] = _loaded["current"] = mod
    return mod
