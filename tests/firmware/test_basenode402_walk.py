"""python canopen's BaseNode402 walks the C firmware (FirmwareBoard, threaded, real time) through
the CiA 402 states as it walks the Python board; the frames the master sent are recorded and
replayed in lockstep to both boards, which must answer identically frame for frame."""

from __future__ import annotations

import itertools
import time

import can
import canopen
import pytest

from cerebellum_rt.drivers.board.cfirmware import FirmwareBoard
from cerebellum_rt.drivers.eds import write_eds
from cerebellum_rt.drivers.firmware.differential import compare
from cerebellum_rt.drivers.od import build_table

NODE = 5
SYNC_S = 0.01
_ids = itertools.count()


def _walk(node, net, slack: float = 1.0) -> None:
    """BaseNode402's walk through the CiA 402 states. ``slack`` stretches the master's timeouts
    (TPDO, state switch, SDO): a board that runs slower than real time (the image under QEMU on a
    loaded machine, ~1 s wall per emulated second idle) answers each SYNC late, and the lag grows
    over the walk while every answer still comes, in order."""
    if slack != 1.0:
        for name in ("TIMEOUT_SWITCH_STATE_FINAL", "TIMEOUT_SWITCH_STATE_SINGLE", "TIMEOUT_CHECK_TPDO",
                     "TIMEOUT_RESET_FAULT"):
            setattr(node, name, getattr(type(node), name) * slack)
        node.sdo.RESPONSE_TIMEOUT *= slack
    node.nmt.wait_for_heartbeat(1.0 * slack)
    node.sdo[0x1006].raw = int(SYNC_S * 1e6)
    node.setup_402_state_machine()
    node.nmt.state = "OPERATIONAL"
    for pdo in node.rpdo.values():
        if pdo.enabled:
            pdo.start(SYNC_S)
    net.sync.start(SYNC_S)
    node.tpdo[1].wait_for_reception(1.0 * slack)
    node.check_statusword(1.0 * slack)
    assert node.state == "SWITCH ON DISABLED"
    for target in ("READY TO SWITCH ON", "SWITCHED ON", "OPERATION ENABLED", "SWITCHED ON", "READY TO SWITCH ON",
                   "SWITCH ON DISABLED", "OPERATION ENABLED", "QUICK STOP ACTIVE"):
        node.state = target
        assert node.state == target
    node.sdo[0x2040].raw = 0x2310  # a fault: reaction, then fault
    end = time.monotonic() + 2.0 * slack
    while node.state != "FAULT" and time.monotonic() < end:
        node.check_statusword(1.0 * slack)
    assert node.state == "FAULT"
    node.sdo[0x2040].raw = 0
    node.state = "SWITCH ON DISABLED"  # fault reset (15)
    assert node.state == "SWITCH ON DISABLED"


@pytest.fixture(scope="module")
def walk(tmp_path_factory) -> list:
    """BaseNode402 walks the C image in real time; the master's frames, as lockstep events."""
    channel = f"fw-walk-{next(_ids)}-{time.monotonic_ns()}"
    eds = write_eds(build_table("joint"), tmp_path_factory.mktemp("walk") / "joint.eds")
    bus = can.Bus(interface="virtual", channel=channel)
    sniffer = can.Bus(interface="virtual", channel=channel)
    board = FirmwareBoard(NODE, bus)
    net = canopen.Network()
    net.connect(interface="virtual", channel=channel)
    node = canopen.BaseNode402(NODE, str(eds))
    net.add_node(node)
    try:
        _walk(node, net)
        assert board.state == "switch_on_disabled"
    finally:
        net.sync.stop()
        for pdo in (*node.rpdo.values(), *node.tpdo.values()):
            pdo.stop()
        net.disconnect()
        board.close()
        bus.shutdown()
    assert board.crashes == []
    board_ids = {0x80 + NODE, 0x580 + NODE, 0x700 + NODE} | {b + NODE for b in (0x180, 0x280, 0x380, 0x480)}
    events, last_t = [], None
    while (m := sniffer.recv(timeout=0.0)) is not None:
        if m.arbitration_id in board_ids:
            continue
        if last_t is not None:
            events.append(("wait", max(1, round((m.timestamp - last_t) * 1e6)) | 1))  # odd µs: no timer ties
        last_t = m.timestamp
        events.append(("frame", m.arbitration_id, bytes(m.data), 0))
    sniffer.shutdown()
    sent = [e for e in events if e[0] == "frame"]
    assert len(sent) > 50 and any(e[1] == 0x600 + NODE for e in sent)
    return events


@pytest.mark.parametrize("other", ["c", pytest.param("qemu", marks=pytest.mark.needs("arm-none-eabi-gcc",
                                                                                     "qemu-system-arm"))])
def test_basenode402_walks_the_c_image_and_the_replay_matches_the_python_board(walk, other):
    """The walk's frames replayed in lockstep: the host image (and the Cortex-M4F image under
    QEMU) answer as the Python board, frame for frame, and end in the same state."""
    res = compare(walk, NODE, other=other)
    k = res["first_reply_difference"]
    assert k is None, f"reply {k}: python {res['python'][k]} {other} {res[other][k]}"
    assert res["od_difference"] == []
    assert res[f"{other}_state"] == "switch_on_disabled"
    print(f"\nBaseNode402 walk replayed on {other}: {res['frames_in']} master frames, {res['frames_out']} replies, "
          "identical")
