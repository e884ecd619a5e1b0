"""`cbl demo --no-emulate` drives a board in another process (`cbl emulate`) through SLCAN on a pty."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emulator(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "cerebellum_rt.tools.cli", "emulate", "--json", "--report-s", "0",
                             "--state-dir", str(tmp_path / "state")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        yield json.loads(line)["buses"][0]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_demo_over_slcan_to_an_emulator_process(emulator, tmp_path):
    assert emulator["interface"] == "slcan"
    r = subprocess.run(
        [sys.executable, "-m", "cerebellum_rt.tools.cli", "demo", "--json", "--lockstep", "--seconds", "0.5", "--no-emulate",
         "-i", "slcan", "-c", emulator["channel"], "--node", "3", "--plot", str(tmp_path / "d.png")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    f = json.loads(r.stdout.strip().splitlines()[-1])
    assert f["board"] == "external" and f["node"] == 3
    assert f["tracking_cycles"] == 500
    assert f["missed_replies"] == 0
    assert f["tracking_rms_rad"] < 1e-3
    assert f["final_state"] == "switch_on_disabled"
