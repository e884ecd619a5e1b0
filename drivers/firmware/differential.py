"""Differential runs: the Python board (the specification) and the C firmware driven by the
same frame sequence in lockstep, with their replies and object dictionaries compared.

A sequence is a list of events: ``("frame", cob_id, data, flags)`` (flags: 1 remote, 2 extended,
4 error frame) or ``("wait", microseconds)``. Each board sits alone on its own python-can
``virtual`` channel with a host endpoint and a virtual clock; after every event the board
handles what arrived and runs its timers (``poll``), and the frames it sent are collected. Both
boards start at the same virtual time and see the same clock.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from typing import Any

import can

from cerebellum_rt.drivers.od import Table, build_table

Event = tuple
Reply = tuple[int, bytes]
_ids = itertools.count()
START_US = 1_000_003  # an odd start time: no event lands on a timer's exact deadline by accident


class LockstepBoard:
    """One board (``kind`` 'python', 'c' or 'qemu') on its own virtual channel, driven by :meth:`run`."""

    def __init__(self, kind: str, node_id: int = 1, module: Any | None = None, table: Table | None = None,
                 storage_path: str | os.PathLike | None = None) -> None:
        from cerebellum_rt.drivers.board import HandBoard, JointBoard
        from cerebellum_rt.drivers.board.cfirmware import FirmwareBoard
        from cerebellum_rt.drivers.board.qemu import QemuBoard

        channel = f"fw-diff-{os.getpid()}-{next(_ids)}"
        self.bus = can.Bus(interface="virtual", channel=channel)
        self.host = can.Bus(interface="virtual", channel=channel)
        self.t_us = START_US
        hand = table is not None and table.board == "hand"
        cls = {"python": HandBoard if hand else JointBoard, "c": FirmwareBoard, "qemu": QemuBoard}[kind]
        self.board = cls(node_id, self.bus, module, threaded=False, clock=self.clock, table=table,
                         storage_path=storage_path, fd=bool(table is not None and table.fd))
        self.fd_frames = self.classic_frames = 0  # what the board sent, by frame format
        self.kind = kind

    def clock(self) -> float:
        return self.t_us * 1e-6

    def _drain(self) -> list[Reply]:
        out = []
        while (m := self.host.recv(timeout=0.0)) is not None:
            if m.is_fd and m.bitrate_switch:
                self.fd_frames += 1
            else:
                self.classic_frames += 1
            out.append((m.arbitration_id, bytes(m.data)))
        return out

    def boot(self) -> list[Reply]:
        """The frames sent since construction, after the first timer pass."""
        self.board.poll()
        return self._drain()

    def run(self, events: Iterable[Event]) -> list[list[Reply]]:
        """The replies to each event."""
        out = []
        for ev in events:
            if ev[0] == "wait":
                self.t_us += int(ev[1])
            else:
                _, cob, data, flags = ev
                self.host.send(can.Message(arbitration_id=cob, data=bytes(data), is_remote_frame=bool(flags & 1),
                                           is_extended_id=bool(flags & 2), is_error_frame=bool(flags & 4),
                                           check=False))
            self.board.poll()
            out.append(self._drain())
        return out

    def od(self, table: Table) -> dict[tuple[int, int], bytes | int]:
        """Every entry as the bus reads it: bytes, or the SDO abort code."""
        from cerebellum_rt.drivers.board.store import SdoAbort

        out: dict[tuple[int, int], bytes | int] = {}
        for e in table.entries():
            if self.kind == "python":
                try:
                    out[(e.index, e.subindex)] = self.board.store.read(e.index, e.subindex)
                except SdoAbort as exc:
                    out[(e.index, e.subindex)] = exc.code
            else:
                out[(e.index, e.subindex)] = self.board.od_read(e.index, e.subindex)
        return out

    def close(self) -> None:
        self.board.close()
        self.bus.shutdown()
        self.host.shutdown()


def first_difference(a: Sequence[Any], b: Sequence[Any]) -> int | None:
    for k, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return k
    return None if len(a) == len(b) else min(len(a), len(b))


def od_uploads(table: Table, node_id: int) -> list[Event]:
    """An SDO upload initiate of every entry: the object dictionary as the bus reads it, for a board
    whose memory the test cannot reach (QEMU). An NMT "enter pre-operational" goes first (a stopped
    node serves no SDO)."""
    return [("frame", 0x000, bytes([0x80, node_id]), 0)] + [("frame", 0x600 + node_id, bytes([0x40, e.index & 0xFF, e.index >> 8, e.subindex, 0, 0, 0, 0]), 0)
            for e in table.entries()]


def compare(events: Sequence[Event], node_id: int = 1, table: Table | None = None,
            module_factory: Any = None, c_table: Table | None = None, other: str = "c") -> dict[str, Any]:
    """Run ``events`` on the Python board and on ``other`` ('c' or 'qemu'); returns replies, OD
    dumps and where they first differ. ``c_table`` gives the other board another table (negative
    controls). With 'qemu' the object dictionary is compared through SDO uploads appended to the
    events (:func:`od_uploads`)."""
    table = table or build_table("joint")
    if other == "qemu":
        events = [*events, *od_uploads(table, node_id)]
    boards = {k: LockstepBoard(k, node_id, module_factory() if module_factory else None,
                               c_table if k != "python" and c_table is not None else table)
              for k in ("python", other)}
    try:
        res: dict[str, Any] = {}
        for k, b in boards.items():
            res[k] = [b.boot(), *b.run(events)]
            res[k + "_od"] = b.od(table) if k != "qemu" else {}
            res[k + "_state"] = b.board.state
            res[k + "_frame_formats"] = {"fd": b.fd_frames, "classic": b.classic_frames}
        res["c"], res["c_od"], res["c_state"] = res[other], res[other + "_od"], res[other + "_state"]
        res["frames_in"] = sum(1 for e in events if e[0] == "frame")
        res["frames_out"] = sum(len(r) for r in res["python"])
        res["first_reply_difference"] = first_difference(res["python"], res["c"])
        res["od_difference"] = [] if other == "qemu" else sorted(
            k for k in res["python_od"] if res["python_od"][k] != res["c_od"].get(k))
        return res
    finally:
        for b in boards.values():
            b.close()
