"""Several emulated boards on one bus: each answers only for its own node-ID (SDO, NMT, SYNC)."""

from __future__ import annotations

import struct

import can

from cerebellum_rt.drivers.board import JointBoard


def test_two_boards_on_one_bus_answer_only_for_themselves(channel):
    clock = [0.0]
    buses = [can.Bus(interface="virtual", channel=channel) for _ in range(3)]
    boards = [JointBoard(n, b, threaded=False, clock=lambda: clock[0], serial_number=100 + n)
              for n, b in ((5, buses[0]), (6, buses[1]))]
    host = buses[2]

    def exchange(cob: int, data: bytes) -> list[can.Message]:
        host.send(can.Message(arbitration_id=cob, data=data, is_extended_id=False))
        for b in boards:
            b.poll()
        out = []
        while (m := host.recv(0.0)) is not None:
            out.append(m)
        return out

    try:
        exchange(0x7FF, b"")  # drain boot-ups
        replies = exchange(0x605, struct.pack("<BHB4x", 0x40, 0x1018, 4))
        assert [(m.arbitration_id, bytes(m.data)[4:]) for m in replies if m.arbitration_id >= 0x580] == [
            (0x585, struct.pack("<I", 105))]
        exchange(0x000, bytes([0x01, 6]))  # start node 6 only
        ids = sorted(m.arbitration_id for m in exchange(0x080, b""))
        assert ids == [0x186, 0x286, 0x386]
        exchange(0x000, bytes([0x01, 0]))  # start all
        ids = sorted(m.arbitration_id for m in exchange(0x080, b""))
        assert ids == [0x185, 0x186, 0x285, 0x286, 0x385, 0x386]
    finally:
        for b in boards:
            b.close()
        for b in buses:
            b.shutdown()
