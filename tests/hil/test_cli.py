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


def test_six_bus_humanoid_buses_exchange_together() -> None:
    """30 joints on six 1 Mbit/s buses at 250 Hz (each bus ~3.3 ms busy per 4 ms cycle): the host
    sends on every bus before collecting any, so a tick takes one period of virtual time, not six."""
    from cerebellum_rt.hil_tests.rig import load_rig
    from cerebellum_rt.hil_tests.scenarios import track
    from cerebellum_rt.hil_tests.session import RigSession

    with RigSession(load_rig("humanoid_6x5"), ticks=100) as s:
        s.setup()
        track(s, 100)
        assert s.lost.tolist() == [0] * 30 and s.received.tolist() == [100] * 30
        assert s.now_s - s.t0_ns * 1e-9 < 100 * 0.004  # the 100th tick's replies are in within its period


def test_scenario_help_names_every_fault() -> None:
    from cerebellum_rt.hil_tests.faults import CATALOGUE

    text = (Path(__file__).parents[2] / "tools" / "cmd_hil.py").read_text()
    assert [n for n in CATALOGUE if n not in text] == []
