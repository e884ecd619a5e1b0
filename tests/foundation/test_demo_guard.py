"""`cbl demo` runs inside the DriveGuard: SIGINT / SIGTERM in the middle of tracking a board in
another process (`cbl emulate`, over SLCAN) exit 130 / 143 and leave the drive stopped and
disabled by the host (SWITCH ON DISABLED, NMT PRE-OPERATIONAL, no command-watchdog EMCY 0x8100 in
0x1003), as a python-canopen peer reads afterwards. And the loss budget: a run over it exits 1
naming the count and the budget."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cerebellum_rt.drivers.cia402 import decode_state
from cerebellum_rt.hil_tests.fixtures import stop_process
from cerebellum_rt.hil_tests.joint_demo import over_budget

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "cerebellum_rt.tools.cli"]


def _lines(stream) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def _wait_for(q: queue.Queue, needle: str, timeout_s: float) -> list[str]:
    seen = []
    while True:
        line = q.get(timeout=timeout_s)
        if line is None:
            raise AssertionError(f"stream ended before {needle!r}: {''.join(seen)}")
        seen.append(line)
        if needle in line:
            return seen


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_leaves_the_drive_disabled(tmp_path, sig, code):
    import canopen

    from cerebellum_rt.drivers.eds import write_eds
    from cerebellum_rt.drivers.od import build_table

    emu = subprocess.Popen([*CLI, "emulate", "single_joint", "--json", "--report-s", "0", "--state-dir",
                            str(tmp_path / "state")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           cwd=ROOT)
    try:
        line = emu.stdout.readline()
        assert line, emu.stderr.read()
        info = json.loads(line)["buses"][0]
        demo = subprocess.Popen([*CLI, "demo", "--lockstep", "--seconds", "120", "--no-emulate", "--no-rt",
                                 "-i", "slcan", "-c", info["channel"], "--plot", str(tmp_path / "d.png")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            err = _lines(demo.stderr)
            _wait_for(err, "OPERATION ENABLED", 120)
            demo.send_signal(sig)
            assert demo.wait(60) == code
            rest = []
            while (x := err.get(timeout=10)) is not None:
                rest.append(x)
            assert "drives stopped and disabled: node 1: switch_on_disabled" in "".join(rest), rest
        finally:
            stop_process(demo)
        net = canopen.Network()  # the pty has one client at a time: the demo's is closed now
        try:
            net.connect(interface="slcan", channel=info["channel"], bitrate=info["bitrate"], sleep_after_open=0)
            node = canopen.RemoteNode(1, str(write_eds(build_table("joint"), tmp_path / "joint.eds")))
            net.add_node(node)
            assert node.nmt.wait_for_heartbeat(2.0) == "PRE-OPERATIONAL"
            assert decode_state(node.sdo[0x6041].raw) == "switch_on_disabled"
            history = [node.sdo[0x1003][k].raw for k in range(1, node.sdo[0x1003][0].raw + 1)]
            assert 0x8100 not in [h & 0xFFFF for h in history], [hex(h) for h in history]
        finally:
            net.disconnect()
    finally:
        stop_process(emu)


def test_loss_budget_names_the_counts():
    f = {"missed_replies": 30, "expected_replies": 2000, "overruns": 5, "cycles": 1000}
    assert over_budget(f, 0.01) == "30 of 2000 replies lost (budget 0.01 = 20)"
    assert over_budget(f, 0.002) == ("30 of 2000 replies lost (budget 0.002 = 4); "
                                     "5 of 1000 cycles overran (budget 0.002 = 2)")
    assert over_budget(f, 0.05) == ""


def test_demo_over_budget_exits_1(tmp_path):
    """A real-time run with a zero budget over a pty on a shared machine: when it lost or overran
    anything it must fail and say so; when it did not, it passes (both outcomes checked)."""
    r = subprocess.run([*CLI, "demo", "--json", "--seconds", "0.3", "--period-us", "250", "--no-rt", "--loss-budget", "0",
                        "--channel", "test-demo-budget", "--plot", str(tmp_path / "b.png")],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    f = json.loads(r.stdout.strip().splitlines()[-1])
    assert f["final_state"] == "switch_on_disabled"
    if f["missed_replies"] or f["overruns"]:
        assert r.returncode == 1, r.stderr
        assert "over the loss budget" in r.stderr and "(budget 0 = 0)" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
