"""The Cortex-M4F image under QEMU (QemuBoard: the image's semihosting link bridged to the bus)
against the Python board, on a shorter set than the host build: fuzz sequences, and the motion
on the JointModule plant; replies frame for frame, then the whole object dictionary read back by
SDO uploads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from cerebellum_rt.drivers.firmware.differential import compare
from cerebellum_rt.hil_tests.prereq import require_tools

_here = Path(__file__).parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, _here / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fuzz = _load("test_differential_fuzz")
plant = _load("test_differential_plant")
SEQUENCES: list[list] = []


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(fuzz.sequence)
def _collect(events):
    SEQUENCES.append(events)


@pytest.fixture(scope="module", autouse=True)
def _tools():
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")


def _uploads_answered(res: dict, node: int, n: int) -> int:
    return sum(1 for rep in res["qemu"][-n:] for cob, _ in rep if cob == 0x580 + node)


def test_fuzz_sequences_on_the_qemu_image_match_the_python_board():
    _collect()
    events = [e for seq in SEQUENCES for e in seq]  # one boot, the sequences back to back
    res = compare(events, fuzz.NODE, fuzz.TABLE, other="qemu")
    k = res["first_reply_difference"]
    assert k is None, f"reply {k}: python {res['python'][k]} qemu {res['qemu'][k]}"
    assert res["python_state"] == res["qemu_state"]
    assert _uploads_answered(res, fuzz.NODE, len(fuzz.ENTRIES)) == len(fuzz.ENTRIES)  # the OD, entry by entry
    print(f"\nqemu differential: {len(SEQUENCES)} sequences, {res['frames_in']} frames in, {res['frames_out']} replies, "
          "identical")


def test_motion_on_the_plant_matches_through_qemu():
    table = plant.joint_table(plant._module())
    res = compare(plant.motion()[:400], plant.NODE, table, module_factory=plant._module, other="qemu")
    k = res["first_reply_difference"]
    assert k is None, f"reply {k}: python {res['python'][k]} qemu {res['qemu'][k]}"
    n = sum(1 for _ in table.entries())
    assert _uploads_answered(res, plant.NODE, n) == n
    print(f"\nqemu plant differential: {res['frames_in']} frames in, {res['frames_out']} replies, identical")
