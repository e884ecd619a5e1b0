"""Fixtures for the bus-side driver tests: python-can buses that are always shut down."""

from __future__ import annotations

import itertools
import struct
import threading

import can
import pytest

from cerebellum_rt.hil_tests.fixtures import emulator_factory, rig_factory  # noqa: F401  (fixtures for this directory)

_counter = itertools.count()


@pytest.fixture
def channel_name(request) -> str:
    """A virtual-bus channel name unique to this test."""
    return f"t-{request.node.name}-{next(_counter)}"


class TpdoResponder:
    """A second python-can participant that answers each SYNC with TPDO1..3 of ``nodes``.

    Its frames are built with ``struct`` from the CiA 402 layout of pdo.md (an encoder
    independent of the compiled codec under test). ``silent`` nodes never answer.
    """

    def __init__(self, bus: can.BusABC, nodes: list[int], silent: tuple[int, ...] = ()) -> None:
        self.bus, self.nodes, self.silent = bus, nodes, silent
        self.sync_count = 0
        self.rpdos: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def tpdos(node: int, k: int) -> list[tuple[int, bytes]]:
        return [
            (0x180 + node, struct.pack("<HbI", 0x0237, 8, (node * 1000 + k) & 0xFFFFFFFF)),
            (0x280 + node, struct.pack("<ihh", -node * k, k % 1000, -(k % 500))),
            (0x380 + node, struct.pack("<ihh", node * 7, -node, 250 + node)),
        ]

    def _run(self) -> None:
        while not self._stop.is_set():
            m = self.bus.recv(0.02)
            if m is None:
                continue
            if m.arbitration_id == 0x080:
                for n in self.nodes:
                    if n in self.silent:
                        continue
                    for cid, data in self.tpdos(n, self.sync_count):
                        self.bus.send(can.Message(arbitration_id=cid, data=data, is_extended_id=False))
                self.sync_count += 1
            else:
                self.rpdos[m.arbitration_id] = bytes(m.data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


@pytest.fixture
def virtual_pair(channel_name):
    """(host bus, device bus) on one python-can virtual channel; both shut down at teardown."""
    host = can.Bus(interface="virtual", channel=channel_name, receive_own_messages=False)
    dev = can.Bus(interface="virtual", channel=channel_name, receive_own_messages=False)
    yield host, dev
    host.shutdown()
    dev.shutdown()


@pytest.fixture
def responder_factory():
    made: list[TpdoResponder] = []

    def make(bus, nodes, silent=()):
        r = TpdoResponder(bus, nodes, silent)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
