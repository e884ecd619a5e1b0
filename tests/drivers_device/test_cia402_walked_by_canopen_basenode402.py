"""The CiA 402 state machine walked by python canopen's BaseNode402 as an independent master
against the emulated board (foundation issue), over a python-can virtual bus with SYNC and
synchronous PDOs, as a real master would drive a real drive."""

from __future__ import annotations

import time

import pytest

SYNC_S = 0.01


def _start(board, net, node) -> None:
    node.nmt.wait_for_heartbeat(1.0)  # the board is pre-operational (its boot-up went before we listened)
    node.sdo[0x1006].raw = int(SYNC_S * 1e6)  # the board's cycle = the master's SYNC period
    node.setup_402_state_machine()
    node.nmt.state = "OPERATIONAL"
    for pdo in node.rpdo.values():
        if pdo.enabled:
            pdo.start(SYNC_S)
    net.sync.start(SYNC_S)
    node.tpdo[1].wait_for_reception(1.0)
    node.check_statusword(1.0)


def _wait_state(node, state: str, timeout: float = 2.0) -> str:
    end = time.monotonic() + timeout
    while node.state != state and time.monotonic() < end:
        node.check_statusword(1.0)
    return node.state


def _wait_cycles(board, n: int, timeout: float = 2.0) -> None:
    """Poll until the board has run ``n`` more cycles (SYNCs) or the deadline passes (then fail)."""
    end = time.monotonic() + timeout
    target = board.cycles + n
    while board.cycles < target:
        assert time.monotonic() < end, f"the board ran {n - (target - board.cycles)} of {n} cycles"
        time.sleep(0.001)


def test_every_transition_walked_by_basenode402(master):
    board, net, node = master
    _start(board, net, node)
    assert node.state == "SWITCH ON DISABLED"  # transitions 0 and 1 ran at boot
    assert board.state == "switch_on_disabled"
    walk = [
        ("READY TO SWITCH ON", 2), ("SWITCHED ON", 3), ("OPERATION ENABLED", 4), ("SWITCHED ON", 5),
        ("READY TO SWITCH ON", 6), ("SWITCH ON DISABLED", 7),
        ("SWITCHED ON", None), ("SWITCH ON DISABLED", 10),
        ("OPERATION ENABLED", None), ("READY TO SWITCH ON", 8),
        ("OPERATION ENABLED", None), ("SWITCH ON DISABLED", 9),
    ]
    for target, _transition in walk:
        node.state = target
        assert node.state == target
        assert board.state == target.lower().replace(" ", "_")
    # quick stop with option 6 (quick-stop ramp, then stay in quick stop active)
    node.sdo[0x605A].raw = 6
    node.state = "OPERATION ENABLED"
    node.state = "QUICK STOP ACTIVE"  # 11
    assert _wait_state(node, "QUICK STOP ACTIVE") == "QUICK STOP ACTIVE"
    _wait_cycles(board, 5)
    node.check_statusword(1.0)
    assert node.state == "QUICK STOP ACTIVE"  # option 6 stays there after the ramp
    assert node.statusword & 0x0020 == 0  # bit 5 low: quick stop active
    node.state = "OPERATION ENABLED"  # 16
    assert board.state == "operation_enabled"
    node.state = "QUICK STOP ACTIVE"
    node.state = "SWITCH ON DISABLED"  # 12 by disable voltage
    assert board.state == "switch_on_disabled"


def test_quick_stop_option_2_ends_in_switch_on_disabled(master):
    board, net, node = master
    _start(board, net, node)
    assert node.sdo[0x605A].raw == 2
    node.state = "OPERATION ENABLED"
    node.controlword = 0x0002  # quick stop: 11, ramp (already at standstill), then 12
    assert _wait_state(node, "SWITCH ON DISABLED") == "SWITCH ON DISABLED"


def test_fault_reaction_and_fault_reset(master):
    board, net, node = master
    _start(board, net, node)
    node.state = "OPERATION ENABLED"
    node.emcy.reset()
    node.sdo[0x2040].raw = 0x2310  # inject an over-current fault: 13, 14 (EMCY sent before the SDO reply)
    emcy = next(e for e in node.emcy.log if e.code == 0x2310)
    assert emcy.register & 0x03 == 0x03  # generic + current
    assert _wait_state(node, "FAULT") == "FAULT"
    assert node.is_faulted()
    assert node.sdo[0x603F].raw == 0x2310
    assert node.sdo[0x1003][1].raw & 0xFFFF == 0x2310
    with pytest.raises(RuntimeError, match="Timeout"):
        node.reset_from_fault()  # the cause is still present: transition 15 is refused
    assert node.is_faulted()
    node.sdo[0x2040].raw = 0  # the cause is gone
    node.reset_from_fault()  # 15, then up to operation enabled
    assert node.state == "OPERATION ENABLED"
    assert node.sdo[0x603F].raw == 0
    assert node.emcy.active == []  # the board sent the 0x0000 "error reset" EMCY


@pytest.mark.parametrize("mode", ["CYCLIC SYNCHRONOUS POSITION", "CYCLIC SYNCHRONOUS VELOCITY",
                                  "CYCLIC SYNCHRONOUS TORQUE"])
def test_op_mode_over_pdo(master, mode):
    board, net, node = master
    _start(board, net, node)
    node.op_mode = mode
    assert node.op_mode == mode
    assert not node.is_op_mode_supported("PROFILED POSITION")


def test_master_heartbeat_loss_triggers_the_configured_reaction(master):
    board, net, node = master
    node.sdo[0x1016][1].raw = (0x7F << 16) | 50  # watch the master (node 127), 50 ms
    hb = net.send_periodic(0x77F, b"\x05", 0.01)  # the master's heartbeat producer
    _start(board, net, node)
    node.state = "OPERATION ENABLED"
    node.emcy.reset()
    hb.stop()  # the master's heartbeat stops; SYNC and RPDOs go on
    assert node.emcy.wait(0x8130, timeout=2.0) is not None
    assert _wait_state(node, "SWITCH ON DISABLED") == "SWITCH ON DISABLED"  # quick stop, then disabled
    _wait_cycles(board, 10)
    assert board.state == "switch_on_disabled"  # the master cannot re-enable while the loss lasts
    hb = net.send_periodic(0x77F, b"\x05", 0.01)
    try:
        end = time.monotonic() + 2.0
        while 0x8130 in [e.code for e in node.emcy.active] and time.monotonic() < end:
            time.sleep(0.01)
        node.state = "OPERATION ENABLED"
        assert board.state == "operation_enabled"
    finally:
        hb.stop()


def test_empty_domain_upload(master):
    _, _, node = master
    node.nmt.wait_for_heartbeat(1.0)
    assert node.sdo.upload(0x2050, 0) == b""
