"""Find the CANopen boards on a bus and read who they are (slow path, python ``canopen``).

:func:`scan_bus` sends one SDO upload of 0x1000 to every node id (1..127, python-canopen's
``NodeScanner.search``), listens for SDO replies and heartbeats, then reads from each board
that answered: identity 0x1018, device name 0x1008, software version 0x100A, NMT state (from
its heartbeat) and, for CiA 402 drives, the state decoded from the statusword 0x6041.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import can
import canopen

NMT_STATES = {0x00: "BOOTUP", 0x04: "STOPPED", 0x05: "OPERATIONAL", 0x7F: "PRE-OPERATIONAL"}


@dataclass
class BoardInfo:
    node: int
    vendor_id: int | None = None
    product_code: int | None = None
    revision: int | None = None
    serial: int | None = None
    device_name: str = ""
    firmware: str = ""
    nmt_state: str = "unknown"
    drive_state: str = ""
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class _Heartbeats(can.Listener):
    def __init__(self) -> None:
        self.state: dict[int, int] = {}

    def on_message_received(self, msg: can.Message) -> None:
        if 0x701 <= msg.arbitration_id <= 0x77F and len(msg.data) >= 1 and not msg.is_remote_frame:
            self.state[msg.arbitration_id - 0x700] = msg.data[0] & 0x7F


def _text(node: canopen.RemoteNode, index: int) -> str:
    try:
        return node.sdo.upload(index, 0).decode("latin-1").rstrip("\x00")
    except (canopen.SdoCommunicationError, canopen.SdoAbortedError):
        return ""


def _u32(node: canopen.RemoteNode, index: int, sub: int) -> int | None:
    try:
        return int.from_bytes(node.sdo.upload(index, sub)[:4], "little")
    except (canopen.SdoCommunicationError, canopen.SdoAbortedError):
        return None


def scan_bus(bus: can.BusABC, timeout_s: float = 0.5, sdo_timeout_s: float = 0.3) -> list[BoardInfo]:
    """Boards that answer on ``bus`` within ``timeout_s``, sorted by node id."""
    from cerebellum_rt.drivers.cia402 import decode_state

    network = canopen.Network(bus)
    network.NOTIFIER_CYCLE = 0.02
    beats = _Heartbeats()
    network.listeners.append(beats)
    network.connect()
    try:
        network.scanner.search()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(0.01)
        found = sorted(set(network.scanner.nodes) | set(beats.state))
        out = []
        for n in found:
            node = canopen.RemoteNode(n, canopen.ObjectDictionary())
            network.add_node(node)
            node.sdo.RESPONSE_TIMEOUT = sdo_timeout_s
            info = BoardInfo(n)
            ident = [_u32(node, 0x1018, s) for s in (1, 2, 3, 4)]
            info.vendor_id, info.product_code, info.revision, info.serial = ident
            if info.product_code is None:
                info.error = f"no SDO answer within {sdo_timeout_s} s"
            else:
                info.device_name = _text(node, 0x1008)
                info.firmware = _text(node, 0x100A)
                sw = _u32(node, 0x6041, 0)
                if sw is not None:
                    info.drive_state = decode_state(sw & 0xFFFF)
            info.nmt_state = NMT_STATES.get(beats.state.get(n, -1), "unknown")
            out.append(info)
        return out
    finally:
        if network.notifier is not None:
            network.notifier.stop(1.0)
            network.notifier = None
