"""The HIL fault board_reset (a power cycle mid-run) on the C image and on the Cortex-M4F image
under QEMU: the documented reaction (boot-up seen at once, the ladder back to operation enabled,
recovered) with every cycle observed, and the QEMU run's telemetry bit for bit the host image's:
both restart their laws from the calibration (the RAM is gone), the same code."""

from __future__ import annotations

from pathlib import Path

import pytest

from cerebellum_rt.tools.hil_run import run_scenario

RIG = """rate_hz = 1000
[[bus]]
name = "joint"
interface = "slcan"
bitrate = 1000000
  [[bus.board]]
  node = 1
  type = "joint"
  preset = "knee"
  firmware = "{firmware}"
"""


def _board_reset(tmp_path: Path, firmware: str) -> dict:
    rig = tmp_path / f"single_joint_{firmware}.toml"
    rig.write_text(RIG.format(firmware=firmware))
    return run_scenario(str(rig), "fault:board_reset", ticks=400)


@pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_board_reset_on_the_qemu_image_reacts_as_on_the_host_image(tmp_path):
    c, q = _board_reset(tmp_path, "c"), _board_reset(tmp_path, "qemu")
    for res, kind in ((c, "c"), (q, "qemu")):
        rep = res["report"]
        assert res["passed"] and res["failures"] == [], res["failures"]
        assert rep["cycle_observed"] and rep["recovered"]
        assert rep["ladder"] == ["switch_on_disabled", "ready_to_switch_on", "switched_on", "operation_enabled"]
        assert any("boot-up" in d for d in rep["detections"])
        assert res["firmware"]["joint/node1"].startswith(f"{kind} cerebellum")  # 0x100A read from the image
    assert q["telemetry_sha256"] == c["telemetry_sha256"]
