"""`cbl emulate --firmware c`: the default rig's six joint boards run the C image behind SLCAN,
in front of their JointModules, and a CanTransport host enables and drives them as it does the
Python boards; the rig key `firmware` is checked like every other key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cerebellum_rt.drivers.can import CanTransport, open_bus
from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
from cerebellum_rt.hil_tests.fixtures import stop_process
from cerebellum_rt.hil_tests.prereq import require_tools
from cerebellum_rt.hil_tests.rig import parse_rig
from cerebellum_rt.rtcore.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_rig_key_selects_the_c_image_and_rejects_what_it_cannot_serve():
    rig = parse_rig({"bus": [{"name": "b", "board": [{"node": 1, "firmware": "python"}, {"node": 2}]}]})
    assert [b.firmware for b in rig.buses[0].boards] == ["python", "c"]  # c: the default
    with pytest.raises(ConfigError, match=r"firmware = 'rust' is not one of \['python', 'c', 'qemu'\]"):
        parse_rig({"bus": [{"board": [{"node": 1, "firmware": "rust"}]}]})
    assert parse_rig({"bus": [{"board": [{"node": 1, "type": "hand", "firmware": "c"}]}]}).buses[0].boards[0].firmware == "c"
    hand = parse_rig({"bus": [{"board": [{"node": 1, "type": "hand", "firmware": "qemu"}]}]}).buses[0].boards[0]
    assert hand.firmware == "qemu"  # the QEMU link carries the hand plant too
    with pytest.raises(ConfigError, match="needs a classic CAN bus"):
        parse_rig({"bus": [{"fd": True, "board": [{"node": 1, "firmware": "qemu"}]}]})
    assert parse_rig({"bus": [{"fd": True, "board": [{"node": 1, "firmware": "c"}]}]}).buses[0].boards[0].firmware == "c"


@pytest.mark.parametrize("firmware,rig", [("c", None), ("qemu", "single_joint")])
def test_emulated_c_images_serve_joints_over_slcan(firmware, rig, tmp_path):
    """The six C boards of the default rig (host library), and the QEMU board of the single-joint
    rig (Cortex-M4F image), enabled and driven by CanTransport from this process."""
    if firmware == "qemu":
        require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    cmd = [sys.executable, "-m", "cerebellum_rt.tools.cli", "emulate", *([rig] if rig else []), "--json",
           "--report-s", "0", "--firmware", firmware, "--state-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        info = json.loads(line)["buses"][0]
        bus = open_bus("slcan", info["channel"])
        try:
            with CanTransport(bus, nodes=info["nodes"], timeout_s=0.2) as t:
                assert sorted(t.start(period_us=1000)) == info["nodes"]
                tx, rx = t.tx_array(), t.rx_array()
                tx["modes_of_operation"] = 8
                missing = 0
                for _ in range(40):
                    missing += t.cycle(tx, rx)
                    tx["controlword"] = [next_controlword(int(s), "operation_enabled") for s in rx["statusword"]]
                    tx["target_position"] = rx["position_actual"]
                assert missing == 0
                assert [decode_state(int(s)) for s in rx["statusword"]] == ["operation_enabled"] * len(info["nodes"])
        finally:
            bus.shutdown()
    finally:
        stop_process(proc)


def test_emulate_firmware_option_is_checked():
    r = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "emulate", "legs_canfd",
                        "--firmware", "qemu"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    assert "--firmware = 'qemu'" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("firmware", ["python", "qemu"])
def test_canopen_master_walks_the_board_over_slcan_from_another_process(tmp_path, firmware):
    """python canopen's BaseNode402 in this process, the board in `cbl emulate`'s, over a real SLCAN
    pseudo-terminal: NMT, SYNC and the synchronous PDOs, the CiA 402 walk through its states, a
    fault and its reset, as it walks the C image in-process (test_basenode402_walk)."""
    import canopen

    from cerebellum_rt.drivers.eds import write_eds
    from cerebellum_rt.drivers.od import build_table

    from .test_basenode402_walk import _walk

    if firmware == "qemu":
        require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    proc = subprocess.Popen([sys.executable, "-m", "cerebellum_rt.tools.cli", "emulate", "single_joint", "--json",
                             "--report-s", "0", "--firmware", firmware, "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    net = canopen.Network()
    node = canopen.BaseNode402(1, str(write_eds(build_table("joint"), tmp_path / "joint.eds")))
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        info = json.loads(line)["buses"][0]
        net.connect(interface="slcan", channel=info["channel"], bitrate=info["bitrate"], sleep_after_open=0)
        net.add_node(node)
        node.nmt.wait_for_heartbeat(2.0)
        assert node.sdo[0x1018][2].raw == 0x4A4E5431
        # qemu: the image exchanges with its plant every PWM period across the FIFOs, ~1-2 s of wall time per
        # emulated second (more on a loaded CI machine): each answer comes, in order, but its lag grows over the walk
        _walk(node, net, slack=40.0 if firmware == "qemu" else 1.0)
    finally:
        net.sync.stop()
        for pdo in (*node.rpdo.values(), *node.tpdo.values()):
            pdo.stop()
        net.disconnect()
        stop_process(proc)
