"""`cbl demo --firmware c`: the demo on the board's C image (host library) tracks exactly as on the
Python board (lockstep: the same figures to the last bit); a firmware without an emulated board is refused."""

from __future__ import annotations

import pytest

from cerebellum_rt.hil_tests.joint_demo import DemoConfig, run_demo
from cerebellum_rt.rtcore.errors import ConfigError

KEYS = ("tracking_rms_rad", "tracking_max_rad", "torque_sensor_rms_nm", "peak_current_a", "tracking_cycles",
        "missed_replies", "final_state")


def test_demo_on_the_c_image_matches_the_python_board(tmp_path):
    figs = {fw: run_demo(DemoConfig(seconds=0.5, lockstep=True, channel=f"test-demo-fw-{fw}", firmware=fw,
                                    plot=str(tmp_path / f"{fw}.png"))).figures for fw in ("python", "c")}
    assert figs["c"]["firmware"] == "c" and figs["c"]["tracking_cycles"] == 500
    assert {k: figs["c"][k] for k in KEYS} == {k: figs["python"][k] for k in KEYS}


def test_firmware_needs_an_emulated_board():
    with pytest.raises(ConfigError, match="--firmware c: chooses the emulated board's firmware"):
        DemoConfig(firmware="c", emulate=False).validate()
    with pytest.raises(ConfigError, match="not one of"):
        DemoConfig(firmware="rust").validate()
