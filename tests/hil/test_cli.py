"""`cbl hil run RIG SCENARIO`: bad input exits 2 with a one-line error; --out writes the logs."""

from __future__ import annotations

from pathlib import Path

import can

from cerebellum_rt.tools.cli import main


def test_bad_input_exits_2(capsys) -> None:
    assert main(["hil", "run", "single_joint", "fly"]) == 2
    assert "scenario 'fly' is not one of" in capsys.readouterr().err
    assert main(["hil", "run"]) == 2
    assert main(["hil", "run", "no_such_rig", "track"]) == 2
    assert main(["hil", "run", "single_joint", "track", "--ticks", "3"]) == 2


def test_run_writes_logs(tmp_path: Path, capsys) -> None:
    assert main(["hil", "run", "single_joint", "fault:encoder_glitch", "--ticks", "300", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fault:encoder_glitch" in out and ": pass" in out
    frames = list(can.LogReader(str(tmp_path / "fault_encoder_glitch.joint.log")))
    assert len(frames) > 300 * 5 and (tmp_path / "fault_encoder_glitch.joint.node1.mcap").stat().st_size > 0


def test_canfd_packed_rig_is_remapped_and_tracks(capsys) -> None:
    """A CAN-FD rig with packed PDOs: the session writes the boards' mapping by SDO before the run."""
    assert main(["hil", "run", "legs_canfd_packed", "track", "--ticks", "300"]) == 0
    assert ": pass" in capsys.readouterr().out
