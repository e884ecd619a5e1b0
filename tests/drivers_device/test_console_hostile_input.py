"""The console under hostile input (issue 11): one-line errors (exit 2) instead of tracebacks,
checked before any work; `cbl eds --preset` describes the board that answers."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cbl(*args: str) -> SimpleNamespace:
    """`cbl ARGS` in this process (the same main() the console runs): exit code and output."""
    from cerebellum_rt.tools.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse
            code = exc.code
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture
def binary(tmp_path) -> Path:
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    return p


def _one_line(r: subprocess.CompletedProcess, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_binary_rig_and_preset_files(binary, tmp_path):
    _one_line(_cbl("plan", str(binary)), "not a text file")
    _one_line(_cbl("emulate", str(binary)), "not a text file")
    _one_line(_cbl("sim", "joint", "--preset", str(binary), "-o", str(tmp_path)), "not a text file")
    _one_line(_cbl("sim", "hand", "--preset", str(binary), "-o", str(tmp_path)), "not a text file")
    _one_line(_cbl("eds", "--preset", str(binary)), "not a text file")


def test_plan_refuses_what_it_used_to_pass(tmp_path):
    rig = tmp_path / "r.toml"
    for text, needle in (('[[bus]]\n[[bus.board]]\nnode = 1\npreset = "nosuch"\n', "'nosuch' not found"),
                         ('[[bus]]\n[[bus.board]]\nnode = 1\npreset = "/etc/passwd.toml"\n', "outside the rig"),
                         ('[[bus]]\ninterface = "slcna"\n[[bus.board]]\nnode = 1\n', "interface = 'slcna'"),
                         ('[[bus]]\nname = "a"\n', "bus 'a' has no")):
        rig.write_text(text)
        _one_line(_cbl("plan", str(rig)), needle)


def test_sim_outputs_and_seed_are_checked_first(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    _one_line(_cbl("sim", "joint", "-o", str(f)), "is not a directory")
    _one_line(_cbl("sim", "hand", "-o", str(f)), "is not a directory")
    _one_line(_cbl("sim", "joint", "--seed", "-1", "-o", str(tmp_path)), "--seed = -1 is out of range")


def test_json_into_a_closed_pipe_is_quiet(tmp_path):
    r = subprocess.run(f"{sys.executable} -m cerebellum_rt.tools.cli sim joint --mode current --step 1 --json -o {tmp_path} | head -c 10",
                       shell=True, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert len(r.stdout) == 10 and "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


def test_eds_with_preset_matches_the_emulated_board(tmp_path):
    import can
    import canopen

    from cerebellum_rt.actuators.joint import JointModule, load_preset
    from cerebellum_rt.drivers.board import JointBoard

    out = tmp_path / "knee.eds"
    r = _cbl("eds", "--board", "joint", "--preset", "knee", "-o", str(out))
    assert r.returncode == 0, r.stderr
    od = canopen.import_od(str(out), 1)
    bus = can.Bus(interface="virtual", channel=f"eds-{id(out)}")
    board = JointBoard(1, bus, JointModule(load_preset("knee"), seed=0), threaded=False)
    try:
        for index, sub in ((0x6071, 0), (0x6072, 0), (0x60B2, 0), (0x6080, 0), (0x607D, 1), (0x607D, 2)):
            e = board.table.objects[index].sub(sub)
            var = od[index] if sub == 0 else od[index][sub]
            assert (var.min, var.max) == e.limits, hex(index)
        assert od[0x6072].max != 3000  # the knee board's own limit, not the default ratings
        assert od[0x607D][2].max != 2**31 - 1
    finally:
        board.close()
        bus.shutdown()
