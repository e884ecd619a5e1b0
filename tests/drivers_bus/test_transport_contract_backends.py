"""One contract, every backend: CanTransport with real emulated joint boards on virtual, emulated,
SLCAN-over-pty (in-process server) and the generic python-can Message path; socketcan where the
kernel has AF_CAN (a vcan interface made by the test; skipped with that reason on kernels without it)."""

from __future__ import annotations

import errno
import socket
import subprocess
import threading

import pytest

from cerebellum_rt.drivers.can import CanTransport, open_bus
from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
from cerebellum_rt.hil_tests.emulator import InProcessRig
from cerebellum_rt.hil_tests.prereq import require_root, require_tools, unavailable
from cerebellum_rt.hil_tests.rig import BoardSpec, BusSpec

NODES = [3, 4, 5]
SPEC = BusSpec("contract", boards=tuple(BoardSpec(n, "joint", None) for n in NODES))


def _drive(t: CanTransport) -> None:
    ids = t.start(period_us=1000, timeout_s=1.0)
    assert sorted(ids) == NODES and all(i["product_code"] == 0x4A4E5431 for i in ids.values())
    limits = t.read_limits(NODES[0], timeout_s=1.0)
    assert limits["rated_torque_nm"] > 0 and limits["min_position_rad"] < limits["max_position_rad"]
    tx, rx = t.tx_array(), t.rx_array()
    tx["modes_of_operation"] = 8
    missing = 0
    for _ in range(30):
        missing += t.cycle(tx, rx)
        tx["controlword"] = [next_controlword(int(s), "operation_enabled") for s in rx["statusword"]]
        tx["target_position"] = rx["position_actual"]
    assert missing == 0
    assert [decode_state(int(s)) for s in rx["statusword"]] == ["operation_enabled"] * 3
    assert (rx["modes_of_operation_display"] == 8).all() and (rx["fresh"] == t.fresh_all).all()
    assert t.stats.frames_tx == 30 * (2 * 3 + 1) and t.stats.missed == 0
    # back to the slow path while the boards keep running: SDO works again
    t.end_cycling()
    assert t.sdo_read(NODES[1], 0x6061, 0, timeout_s=1.0) == 8
    # canopen's node carries the board's object dictionary (from the generated EDS): names work
    node = t.node(NODES[2])
    node.sdo.RESPONSE_TIMEOUT = 1.0
    assert node.sdo["modes_of_operation_display"].raw == 8
    assert node.sdo["identity_object"]["product_code"].raw == 0x4A4E5431


@pytest.mark.parametrize("interface", ["virtual", "emulated"])
@pytest.mark.parametrize("generic", [False, True], ids=["batched", "pythoncan-messages"])
def test_contract_in_process(interface, generic):
    with InProcessRig(SPEC, interface) as rig:
        bus = rig.host_bus()
        with CanTransport(bus, nodes=NODES, timeout_s=0.5, generic=generic) as t:
            _drive(t)


def test_contract_can_fd_emulated():
    from dataclasses import replace

    spec = replace(SPEC, fd=True, data_bitrate=5_000_000)
    with InProcessRig(spec, "emulated") as rig:
        bus = rig.host_bus()
        with CanTransport(bus, nodes=NODES, timeout_s=0.5, fd=True) as t:
            _drive(t)
        assert bus.medium.fd and bus.medium.stats.frames > 0


def test_canopen_fd_packed_pdos_are_written_by_sdo_and_exchanged():
    from dataclasses import replace

    from cerebellum_rt.drivers.can.layout import board_layout, packed

    lay = packed(board_layout("joint"))
    assert [p.size for p in lay.rpdos if p.enabled] == [15] and [p.size for p in lay.tpdos if p.enabled] == [23]
    spec = replace(SPEC, fd=True, data_bitrate=5_000_000)
    with InProcessRig(spec, "emulated") as rig:
        bus = rig.host_bus()
        with CanTransport(bus, nodes=NODES, board=lay, fd=True, timeout_s=0.5) as t:
            t.start(period_us=1000, timeout_s=1.0)
            assert t.sdo_read(NODES[0], 0x1A00, 0, timeout_s=1.0) == 9  # TPDO1 maps 9 objects now
            assert t.sdo_read(NODES[0], 0x1801, 1, timeout_s=1.0) & 0x80000000  # TPDO2 disabled
            tx, rx = t.tx_array(), t.rx_array()
            tx["modes_of_operation"] = 8
            for _ in range(20):
                assert t.cycle(tx, rx) == 0
                tx["controlword"] = [next_controlword(int(s), "operation_enabled") for s in rx["statusword"]]
            assert [decode_state(int(s)) for s in rx["statusword"]] == ["operation_enabled"] * 3
            assert t.stats.frames_tx == 20 * (3 + 1) and t.stats.bad == 0
            assert (rx["fresh"] == 1).all() and (rx["modes_of_operation_display"] == 8).all()


def test_contract_over_slcan_pty():
    from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium
    from cerebellum_rt.drivers.can.slcan_server import SlcanServer
    from cerebellum_rt.hil_tests.emulator import make_board

    medium = Medium("contract-slcan")
    server = SlcanServer(medium)
    buses = [EmulatedBus(medium_=medium, name=f"n{b.node}") for b in SPEC.boards]
    boards = [make_board(b, bus) for b, bus in zip(SPEC.boards, buses)]
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            server.service()
            stop.wait(0.0002)

    th = threading.Thread(target=pump, daemon=True)
    th.start()
    host = open_bus("slcan", server.path)
    try:
        with CanTransport(host, nodes=NODES, timeout_s=0.5) as t:
            _drive(t)
    finally:
        host.shutdown()
        stop.set()
        th.join(2.0)
        for b in boards:
            b.close()
        server.close()
        for b in buses:
            b.shutdown()


def _af_can_error() -> str | None:
    """Why this kernel has no SocketCAN, or None when socket(AF_CAN) works."""
    try:
        socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW).close()
    except OSError as exc:
        return f"this kernel has no SocketCAN: socket(AF_CAN) -> {errno.errorcode.get(exc.errno, exc.errno)}"
    return None


@pytest.fixture(scope="module")
def vcan():
    """A vcan interface, created for this module and removed after it (root, iproute2)."""
    why = _af_can_error()
    if why:
        unavailable(why)  # a kernel feature: no install step can provide it
    require_tools("ip")
    require_root("creating a vcan interface")
    name, created = "cblvcan0", False
    if subprocess.run(["ip", "link", "show", name], capture_output=True).returncode != 0:
        r = subprocess.run(["ip", "link", "add", "dev", name, "type", "vcan"], capture_output=True, text=True)
        if r.returncode != 0:
            unavailable(f"AF_CAN exists but the vcan driver is not available: {r.stderr.strip()}")
        created = True
    subprocess.run(["ip", "link", "set", "up", name], check=True, capture_output=True)
    yield name
    if created:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def test_contract_over_socketcan(vcan):
    from cerebellum_rt.drivers.can.ports import SocketcanPort, port_for

    board_buses = [open_bus("socketcan", vcan) for _ in SPEC.boards]
    from cerebellum_rt.hil_tests.emulator import make_board

    boards = [make_board(b, bus) for b, bus in zip(SPEC.boards, board_buses)]
    host = open_bus("socketcan", vcan)
    try:
        assert isinstance(port_for(host, 16, False), SocketcanPort)
        with CanTransport(host, nodes=NODES, timeout_s=0.5) as t:
            _drive(t)
    finally:
        host.shutdown()
        for b in boards:
            b.close()
        for b in board_buses:
            b.shutdown()


def test_socketcan_absence_is_a_clear_error():
    """Without AF_CAN, or with no such interface, opening a socketcan bus is one clear error."""
    from cerebellum_rt.rtcore.errors import DeviceError

    with pytest.raises(DeviceError, match=r"socketcan.*unreachable"):
        open_bus("socketcan", "cblnosuchcan9")


def test_dropped_frames_give_status_codes_and_counters_not_exceptions():
    from cerebellum_rt.drivers.can.emulated import Faults, medium

    channel = "contract-drop"
    m = medium(channel, faults=Faults(drop=0.2, seed=7))
    with InProcessRig(SPEC, "emulated", channel=channel) as rig:
        bus = rig.host_bus()
        assert bus.medium is m
        with CanTransport(bus, nodes=NODES, timeout_s=0.05) as t:
            m.faults.drop = 0.0  # a clean start-up
            t.start(period_us=1000, timeout_s=1.0)
            m.faults.drop = 0.2
            tx, rx = t.tx_array(), t.rx_array()
            statuses = [t.cycle(tx, rx) for _ in range(40)]
            assert sum(statuses) == t.stats.missed > 0
            assert all(0 <= s <= 9 for s in statuses)
            assert m.stats.dropped > 0


@pytest.mark.parametrize("interface", ["emulated", "slcan"])
def test_sdo_from_another_thread_is_answered_while_cycling(interface):
    from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium
    from cerebellum_rt.drivers.can.slcan_server import SlcanServer
    from cerebellum_rt.hil_tests.emulator import make_board

    medium = Medium(f"sdo-thread-{interface}")
    server = SlcanServer(medium) if interface == "slcan" else None
    stop = threading.Event()
    buses = [EmulatedBus(medium_=medium, name=f"n{b.node}") for b in SPEC.boards]
    boards = [make_board(b, bus) for b, bus in zip(SPEC.boards, buses)]

    def serve() -> None:
        while not stop.is_set():
            server.service()
            stop.wait(0.0002)

    pump = threading.Thread(target=serve, daemon=True)
    if server:
        pump.start()
    host = open_bus("slcan", server.path) if server else EmulatedBus(medium_=medium, name="host")
    try:
        with CanTransport(host, nodes=NODES, timeout_s=0.5) as t:
            t.start(period_us=1000, timeout_s=1.0)
            tx, rx = t.tx_array(), t.rx_array()
            t.cycle(tx, rx)  # the transport now owns the receive side
            answers = []
            worker = threading.Thread(target=lambda: answers.append(t.sdo_read(NODES[2], 0x1018, 4, 2.0)))
            worker.start()
            missing = 0
            while worker.is_alive():
                missing += t.cycle(tx, rx)
            worker.join()
            assert answers == [NODES[2]] and missing == 0
    finally:
        host.shutdown()
        stop.set()
        if server:
            pump.join(2.0)
            server.close()
        for b in boards:
            b.close()
        for b in buses:
            b.shutdown()
