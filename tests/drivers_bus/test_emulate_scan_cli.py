"""`cbl emulate` as a separate process behind SLCAN ptys, reached by `cbl scan` and CanTransport."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cerebellum_rt.drivers.can import CanTransport, open_bus
from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
from cerebellum_rt.hil_tests.fixtures import stop_process

ROOT = Path(__file__).resolve().parents[2]


def _cbl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """`cbl emulate --json` (default rig) running; always terminated, even on failure."""
    proc = subprocess.Popen([sys.executable, "-m", "cerebellum_rt.tools.cli", "emulate", "--json", "--report-s", "0",
                             "--state-dir", str(tmp_path_factory.mktemp("state"))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        yield proc, json.loads(line)
    finally:
        stop_process(proc)


def test_emulate_json_first_line_names_the_default_rig(emulator):
    _, info = emulator
    (bus,) = info["buses"]
    assert bus["interface"] == "slcan" and bus["bitrate"] == 1_000_000
    assert bus["nodes"] == [1, 2, 3, 4, 5, 6]
    assert os.path.exists(bus["channel"]) and bus["channel"].startswith("/dev/pts/")
    # six joints at 1 Mbit/s cannot run at 1 kHz: the endpoint says what rate the bus allows
    assert 100 < bus["max_rate_hz"] < 1000


def test_scan_lists_the_six_boards(emulator):
    _, info = emulator
    r = _cbl("scan", "-i", "slcan", "-c", info["buses"][0]["channel"], "--json")
    assert r.returncode == 0, r.stderr
    boards = json.loads(r.stdout)["boards"]
    assert [b["node"] for b in boards] == [1, 2, 3, 4, 5, 6]
    for b in boards:
        assert b["product_code"] == 0x4A4E5431 and b["serial"] == b["node"]
        assert b["firmware"] and b["nmt_state"] in ("PRE-OPERATIONAL", "OPERATIONAL")
        assert b["drive_state"]


def test_transport_enables_all_six_joints_over_slcan(emulator):
    _, info = emulator
    bus = open_bus("slcan", info["buses"][0]["channel"])
    try:
        with CanTransport(bus, nodes=info["buses"][0]["nodes"], timeout_s=0.2) as t:
            idents = t.start(period_us=1000)
            assert sorted(idents) == [1, 2, 3, 4, 5, 6]
            tx, rx = t.tx_array(), t.rx_array()
            tx["modes_of_operation"] = 8
            missing = 0
            for _ in range(40):
                missing += t.cycle(tx, rx)
                tx["controlword"] = [next_controlword(int(s), "operation_enabled") for s in rx["statusword"]]
                tx["target_position"] = rx["position_actual"]
            assert missing == 0
            assert [decode_state(int(s)) for s in rx["statusword"]] == ["operation_enabled"] * 6
            assert (rx["fresh"] == t.fresh_all).all()
            assert t.stats.frames_tx == 40 * 13
    finally:
        bus.shutdown()


def test_emulate_stops_cleanly_on_sigint(emulator_factory):
    proc, info = emulator_factory(str(ROOT / "hil_tests" / "rigs" / "single_joint.toml"))
    channel = info["buses"][0]["channel"]
    assert info["buses"][0]["nodes"] == [1]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    deadline = time.monotonic() + 5
    while os.path.exists(channel) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(channel)  # the child closed its pty


def test_emulate_splits_boards_over_processes(emulator_factory):
    _, info = emulator_factory(None, "--boards-per-process", "4")
    assert [b["nodes"] for b in info["buses"]] == [[1, 2, 3, 4], [5, 6]]
    assert len({b["channel"] for b in info["buses"]}) == 2


def test_scan_errors_are_one_line():
    r = _cbl("scan", "-i", "nosuch", "-c", "x")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "valid interfaces" in r.stderr and "slcan" in r.stderr
    r = _cbl("scan", "-i", "slcan", "-c", "/dev/pts/9999")
    assert r.returncode == 2 and "unreachable" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_scan_of_an_empty_bus_says_so(tmp_path):
    from cerebellum_rt.drivers.can.emulated import Medium
    from cerebellum_rt.drivers.can.slcan_server import SlcanServer

    server = SlcanServer(Medium("empty"))
    try:
        r = subprocess.Popen([sys.executable, "-m", "cerebellum_rt.tools.cli", "scan", "-i", "slcan", "-c", server.path,
                              "--timeout", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        while r.poll() is None:
            server.service()
            time.sleep(0.001)
        err = r.stderr.read()
        assert r.returncode == 2 and "no CANopen board answered" in err and r.stdout.read() == "", err
        assert len(err.strip().splitlines()) == 1
    finally:
        server.close()


def test_babbling_node_silences_the_bus_for_scan(emulator_factory):
    _, info = emulator_factory(str(ROOT / "hil_tests" / "rigs" / "single_joint.toml"), "--babble-id", "0x001")
    r = _cbl("scan", "-i", "slcan", "-c", info["buses"][0]["channel"], "--timeout", "0.3")
    assert r.returncode == 2 and "no CANopen board answered" in r.stderr, (r.stdout, r.stderr)


def _sdo(bus, node: int, req: bytes, timeout: float = 2.0) -> bytes:
    import can

    bus.send(can.Message(arbitration_id=0x600 + node, data=req, is_extended_id=False))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = bus.recv(0.1)
        if m is not None and m.arbitration_id == 0x580 + node:
            return bytes(m.data)
    raise AssertionError("no SDO answer")


def test_saved_parameters_survive_kill_9_and_restart_of_emulate(emulator_factory, tmp_path):
    """Saved by a Python board (the firmware before c became the default), carried into the C image
    on its first start (the JSON file untouched), then saved by the C image and kept over a kill -9."""
    import struct

    rig = str(ROOT / "hil_tests" / "rigs" / "single_joint.toml")
    state = tmp_path / "state"
    proc, info = emulator_factory(rig, "--state-dir", str(state), "--firmware", "python")
    assert info["buses"][0]["state_dir"] == str(state)
    bus = open_bus("slcan", info["buses"][0]["channel"])
    try:
        assert _sdo(bus, 1, struct.pack("<BHBH2x", 0x2B, 0x2031, 0, 250))[0] == 0x60  # watchdog 250 ms
        assert _sdo(bus, 1, struct.pack("<BHB", 0x23, 0x1010, 1) + b"save")[0] == 0x60
    finally:
        bus.shutdown()
    files = list(state.rglob("node1.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["2031sub0"] == 250
    saved = files[0].read_bytes()
    proc.kill()  # kill -9 of cbl emulate; its emulator child ends when it sees its parent gone
    proc.wait(10)
    proc, info = emulator_factory(rig, "--state-dir", str(state))  # the default firmware: the C image
    bus = open_bus("slcan", info["buses"][0]["channel"])
    try:
        r = _sdo(bus, 1, struct.pack("<BHB4x", 0x40, 0x2031, 0))
        assert r[0] == 0x4B and struct.unpack_from("<H", r, 4)[0] == 250  # carried into the C image
        assert _sdo(bus, 1, struct.pack("<BHBH2x", 0x2B, 0x2031, 0, 300))[0] == 0x60
        assert _sdo(bus, 1, struct.pack("<BHB", 0x23, 0x1010, 1) + b"save")[0] == 0x60
    finally:
        bus.shutdown()
    assert files[0].read_bytes() == saved and files[0].with_suffix(".flash").exists()
    proc.kill()
    proc.wait(10)
    _, info = emulator_factory(rig, "--state-dir", str(state))
    bus = open_bus("slcan", info["buses"][0]["channel"])
    try:
        r = _sdo(bus, 1, struct.pack("<BHB4x", 0x40, 0x2031, 0))
        assert r[0] == 0x4B and struct.unpack_from("<H", r, 4)[0] == 300  # the C image's own save came back
    finally:
        bus.shutdown()


def test_emulate_refuses_bad_arguments_at_once(tmp_path):
    bad_rig = tmp_path / "bad.toml"
    bad_rig.write_text('[[bus]]\ninterface = "socketcan"\n[[bus.board]]\nnode = 1\n')
    for args, needle in ((["--report-s", "-1"], "--report-s = -1.0 s is out of range"),
                         (["--report-s", "nan"], "--report-s = nan s is out of range"),
                         ([str(bad_rig)], "serves 'slcan' buses only"),
                         (["--state-dir", "/proc/nope"], "--state-dir /proc/nope")):
        t0 = time.monotonic()
        r = _cbl("emulate", *args, timeout=60)
        assert r.returncode == 2 and needle in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and time.monotonic() - t0 < 30


def test_scan_refuses_a_bitrate_the_bus_does_not_run(emulator):
    _, info = emulator
    r = _cbl("scan", "-i", "slcan", "-c", info["buses"][0]["channel"], "-b", "500000")
    assert r.returncode == 2 and "refused bitrate 500000" in r.stderr, (r.stdout, r.stderr)
