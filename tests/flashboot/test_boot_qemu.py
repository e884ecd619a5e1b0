"""The bootloader's Cortex-M4F image under QEMU (mps2-an386): it fits its 32 KiB region, boots a
signed image from slot A (the application runs with VTOR at its vector table, after the image
header) and refuses a corrupted one, naming the failing check."""

from __future__ import annotations

import subprocess

import pytest

from cerebellum_rt.drivers.board.cboot import blank_flash
from cerebellum_rt.drivers.firmware import layout
from cerebellum_rt.drivers.firmware.boot_image import build_bootloader, build_probe_app
from cerebellum_rt.drivers.flash.image import make_image
from cerebellum_rt.hil_tests.flash_lockstep import JOINT


def _boot(elf: str, flash: bytes, tmp_path, name: str) -> subprocess.CompletedProcess:
    image = tmp_path / f"{name}.bin"  # everything after the bootloader region: slots, store, boot state
    image.write_bytes(flash[layout.BOOT_BYTES :])
    cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting", "-kernel", elf,
           "-device", f"loader,file={image},addr=0x{layout.BOOT_BYTES:x},force-raw=on"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_cortex_m4f_bootloader_boots_a_signed_slot_and_refuses_a_corrupted_one(keys, tmp_path):
    rep = build_bootloader(keys.raw, JOINT, tmp_path)
    print(f"\nbootloader cortex-m4f: {rep['flash_bytes']} bytes of {rep['budget_bytes']}")
    assert rep["fits"]
    app = make_image(build_probe_app(tmp_path), keys.path, version="1.4.2", board_type=JOINT, security_counter=1)
    r = _boot(rep["elf"], bytes(blank_flash(keys.raw, {0: app})), tmp_path, "good")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "boot: slot A version 1.4.2" in out
    assert f"app: running, VTOR 0x{layout.SLOT_OFF[0] + 0x200:08x}" in out
    bad = bytearray(app)
    bad[0x200 + 40] ^= 0x01  # one bit of the application
    r = _boot(rep["elf"], bytes(blank_flash(keys.raw, {0: bytes(bad)})), tmp_path, "bad")
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "app: running" not in out, out
    assert "boot: slot A refused, check 12" in out and "boot: slot B refused, check 1" in out  # hash; empty
