"""Fixtures of the flashing tests: signing keys (imgtool), signed images, emulated boards on
in-process python-can virtual buses, and a lockstep link that drives a board without threads."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import can
import pytest

from cerebellum_rt.drivers.board import HandBoard, JointBoard
from cerebellum_rt.drivers.board.flashing import FlashOptions
from cerebellum_rt.drivers.flash import image as img
from cerebellum_rt.drivers.flash.procedure import BoardResult, Options, flash_board
from cerebellum_rt.drivers.flash.runner import BusDriver
from cerebellum_rt.drivers.od import build_table

JOINT_TYPE = int(build_table("joint").entry(0x1018, 2).default)
HAND_TYPE = int(build_table("hand").entry(0x1018, 2).default)
_ids = itertools.count()


@pytest.fixture(scope="session")
def keys(signing_keys):
    """The shared signing keys (tests/conftest.py): ``keys.good_pub`` is the trusted key object."""
    return signing_keys


@pytest.fixture
def channel() -> str:
    return f"flash-test-{next(_ids)}-{time.monotonic_ns()}"


class Kit:
    """The helpers of the flashing tests (a fixture: tests import nothing from here)."""

    JOINT_TYPE = JOINT_TYPE
    HAND_TYPE = HAND_TYPE

    @staticmethod
    def virtual_bus(channel: str) -> can.BusABC:
        return can.Bus(interface="virtual", channel=channel, receive_own_messages=False)

    @staticmethod
    def make_board(kind: str, node: int, bus: can.BusABC, storage: Path | None, key, lockstep: bool = False, **kw):
        cls = JointBoard if kind == "joint" else HandBoard
        return cls(node, bus, storage_path=storage, flash=FlashOptions(key=key, **kw), threaded=not lockstep)

    @staticmethod
    def flash(bus: can.BusABC, node: int, data: bytes, **opts) -> tuple[BoardResult, BaseException | None]:
        """Run the host procedure for one board on ``bus``; returns (result, error)."""
        res = BoardResult(node)
        info = img.verify(data, None)
        out = BusDriver(bus).run({node: flash_board(node, data, info, Options(**opts), res)})
        return res, out[node][1]

    @staticmethod
    def lockstep_flash(host: can.BusABC, board, node: int, data: bytes,
                       **opts) -> tuple[BoardResult, BaseException | None]:
        """The same with a board of ``lockstep=True``: the host's waits poll the board (:class:`Link`)."""
        res = BoardResult(node)
        info = img.verify(data, None)
        out = BusDriver(host, wait=Link(host, board)).run({node: flash_board(node, data, info, Options(**opts), res)})
        return res, out[node][1]


class Link:
    """A board driven without threads: the host's waits poll the board (``board.poll``) and read the
    host bus; a PowerCut raised inside the board leaves through ``BusDriver.run``."""

    def __init__(self, host: can.BusABC, board) -> None:
        self.host, self.board = host, board

    def __call__(self, timeout_s: float) -> can.Message | None:
        end = time.monotonic() + timeout_s
        while True:
            self.board.poll()
            msg = self.host.recv(0.0)
            if msg is not None or time.monotonic() >= end:
                return msg


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
