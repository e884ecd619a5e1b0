"""Fixtures of the device-side tests: an emulated joint board and python canopen as the master."""

from __future__ import annotations

import itertools
import time

import can
import canopen
import pytest

from cerebellum_rt.drivers.board import JointBoard
from cerebellum_rt.drivers.eds import write_eds
from cerebellum_rt.drivers.od import build_table
from cerebellum_rt.rtcore.clock import LockstepClock

_ids = itertools.count()
NODE = 5


@pytest.fixture
def channel() -> str:
    """A virtual CAN channel name nobody else uses."""
    return f"device-test-{next(_ids)}-{time.monotonic_ns()}"


@pytest.fixture
def joint_eds(tmp_path):
    return write_eds(build_table("joint"), tmp_path / "joint.eds")


@pytest.fixture
def master(channel, joint_eds):
    """(board, network, BaseNode402): a threaded board on a virtual bus, SYNC period 10 ms."""
    bus = can.Bus(interface="virtual", channel=channel)
    board = JointBoard(NODE, bus)
    net = canopen.Network()
    net.connect(interface="virtual", channel=channel)
    node = canopen.BaseNode402(NODE, str(joint_eds))
    net.add_node(node)
    yield board, net, node
    net.sync.stop()
    for pdo in (*node.rpdo.values(), *node.tpdo.values()):
        pdo.stop()
    net.disconnect()
    board.close()
    bus.shutdown()
    assert board.crashes == []


class Lockstep:
    """A board in ``threaded=False`` mode with a virtual clock, and a raw bus for the test."""

    def __init__(self, channel: str, **kw) -> None:
        self.clock = LockstepClock()
        self.bus_board = can.Bus(interface="virtual", channel=channel, protocol=can.CanProtocol.CAN_FD)
        self.bus = can.Bus(interface="virtual", channel=channel, protocol=can.CanProtocol.CAN_FD)
        self.board = JointBoard(NODE, self.bus_board, clock=lambda: self.clock.now_ns() * 1e-9,
                                threaded=False, **kw)

    def send(self, cob_id: int, data: bytes, fd: bool = False) -> None:
        self.bus.send(can.Message(arbitration_id=cob_id, data=data, is_extended_id=False, is_fd=fd))

    def advance(self, seconds: float) -> None:
        self.clock.advance(round(seconds * 1e9))

    def exchange(self, cob_id: int, data: bytes, fd: bool = False) -> list[can.Message]:
        """Send one frame, let the board process it, return every frame it sent."""
        self.send(cob_id, data, fd)
        self.board.poll()
        return self.drain()

    def drain(self) -> list[can.Message]:
        out = []
        while (m := self.bus.recv(0.0)) is not None:
            out.append(m)
        return out

    def sdo(self, req: bytes) -> list[bytes]:
        return [bytes(m.data) for m in self.exchange(0x600 + NODE, req) if m.arbitration_id == 0x580 + NODE]

    def close(self) -> None:
        self.board.close()
        self.bus_board.shutdown()
        self.bus.shutdown()


@pytest.fixture
def lockstep(channel):
    ls = Lockstep(channel)
    ls.drain()
    yield ls
    ls.close()
