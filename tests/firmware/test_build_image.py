"""`cbl build firmware`: the joint image for Cortex-M4F/M7 links inside the budgets of a G474-class
MCU (64 KiB flash, 16 KiB RAM with the stack), its ELF, binary and map are written, and the
benchmark variant of the same image runs under QEMU: it walks the CiA 402 state machine to
operation enabled from its own SYNC/RPDO traffic."""

from __future__ import annotations

import json
import subprocess

import pytest

from cerebellum_rt.drivers.firmware.image import BUDGETS, build_image, elf_sizes, run_selftest
from cerebellum_rt.hil_tests.prereq import require_tools
from cerebellum_rt.tools.cli import main as cbl


@pytest.mark.parametrize("board,target", [("joint", "cortex-m4f"), ("joint", "cortex-m7"), ("hand", "cortex-m4f")])
def test_images_fit_the_budgets(tmp_path, capsys, board, target):
    require_tools("arm-none-eabi-gcc")
    assert cbl(["build", "firmware", "--board", board, "--target", target, "-o", str(tmp_path), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["fits"] and rep["budgets"] == BUDGETS
    assert 10_000 < rep["flash_bytes"] <= BUDGETS["flash_bytes"]
    assert rep["ram_bytes"] <= BUDGETS["ram_bytes"] and 0 < rep["stack_worst_bytes"] <= rep["stack_reserved_bytes"]
    for key in ("elf", "bin", "map"):
        assert (tmp_path / rep[key].rsplit("/", 1)[-1]).stat().st_size > 0
    # the raw binary is the flash image: code, read-only data and the initial .data
    assert abs((tmp_path / rep["bin"].rsplit("/", 1)[-1]).stat().st_size - rep["flash_bytes"]) < 64


def test_negative_control_sizes_see_a_big_buffer(tmp_path):
    """The ELF reading can fail a budget: 20 000 bytes of zeroed RAM show up as RAM."""
    require_tools("arm-none-eabi-gcc")
    src = tmp_path / "big.c"
    src.write_text("char big[20000];\nint main(void) { big[5] = 1; return big[5]; }\n"
                   "void _start(void) { main(); }\n")
    elf = tmp_path / "big.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib", str(src), "-o", str(elf)],
                   check=True)
    assert elf_sizes(elf)["ram_data_bytes"] >= 20000 > 0


def test_image_runs_under_qemu_and_enables_the_drive(tmp_path):
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    rep = build_image("joint", "cortex-m4f", tmp_path, selftest=True)
    res = run_selftest(rep["elf"])
    assert res["cia402_state"] == 4  # operation enabled: the generated law ran inside the image
    assert 1000 < res["tick_insns"] < 200_000
    assert 0 < res["stack_used_bytes"] <= rep["stack_reserved_bytes"]


def test_an_unknown_target_is_refused_in_one_line(capsys):
    assert cbl(["build", "firmware", "--board", "joint", "--target", "aarch64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "aarch64" in err[0]
