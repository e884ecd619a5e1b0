"""Carry a board's saved parameters (0x1010) from one firmware's store into the other's.

The Python board (the specification) keeps its saved set in a JSON file
(:class:`~cerebellum_rt.drivers.board.store.ObjectStore`); the C image keeps raw parameter flash in
its own format (``co_od.c``: two sectors, records, CRC) in a file beside it with the suffix
``.flash``. When a board starts on one firmware and only the other firmware's file exists (a user
who saved parameters with ``firmware = "python"`` and now runs the default C image, or the
reverse), :func:`carry` moves the saved set across through the target firmware's own path: the
values are written by SDO download into a throw-away instance of the target board on a private
bus, in the order CiA 301 §7.5.2.35-38 asks for PDO remapping (COB-ID invalid, mapping count 0,
entries, count, COB-ID), then the target saves them with its own 0x1010 "save". The target's file
is written under a temporary name, read back by a fresh instance (every value must come back
as written), and only then renamed into place: an interrupted migration leaves no target file,
so the next start migrates again. The source file is never written.

A value the target refuses (an SDO abort) stops the migration with one line naming the object,
the value, the abort code and the file; nothing is written. A start never silently falls back to
defaults when saved parameters exist.
"""

from __future__ import annotations

import os
import shutil
import struct
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import can

from cerebellum_rt.drivers.board.store import ObjectStore, SdoAbort, encode
from cerebellum_rt.drivers.od import STORE_SIGNATURE, Table
from cerebellum_rt.rtcore.errors import DeviceError

SDO_RX, SDO_TX = 0x600, 0x580
SAVE_ALL, SAVE_COMM, SAVE_APP = 1, 2, 3  # 0x1010 sub-indices (CiA 301 §7.5.2.13)
COB_INVALID = 0x80000000  # PDO COB-ID bit 31: PDO does not exist / not valid
RPDO_COMM, RPDO_MAP, TPDO_COMM, TPDO_MAP = 0x1400, 0x1600, 0x1800, 0x1A00
PDO_SLOTS = 0x200  # communication objects 0x1400-0x15FF / 0x1800-0x19FF; their mapping 0x200 above

# build(firmware, storage_path or None, bus, clock) -> a board with poll() (threaded=False)
BoardFactory = Callable[[str, "Path | None", can.BusABC, Callable[[], float]], Any]
Values = dict[tuple[int, int], bytes]


def c_flash_path(storage_path: str | os.PathLike) -> Path:
    """The C image's raw parameter flash beside a board's (Python) parameter file."""
    return Path(storage_path).with_suffix(".flash")


def python_saved(table: Table, node: int, path: Path) -> Values:
    """The saved set of a Python board's parameter file, as the board applies it (wire bytes)."""
    store = ObjectStore(table, node, path)  # reads the file; writes only on a store/restore
    return {k: encode(table.entry(*k), v) for k, v in store.stored().items()}


class SdoPeer:
    """An SDO client (expedited and segmented download) for one lockstep board on a private bus."""

    def __init__(self, board: Any, bus: can.BusABC, node: int) -> None:
        self.board, self.bus, self.node = board, bus, node

    def _exchange(self, data: bytes) -> bytes:
        self.bus.send(can.Message(arbitration_id=SDO_RX + self.node, data=data, is_extended_id=False))
        self.board.poll()
        while (m := self.bus.recv(timeout=0.0)) is not None:
            if m.arbitration_id == SDO_TX + self.node:
                return bytes(m.data)
        raise DeviceError(f"node {self.node}: no SDO reply from the board during the parameter migration")

    def write(self, index: int, sub: int, data: bytes) -> int:
        """Download ``data`` to (index, sub): 0, or the board's SDO abort code."""
        head = struct.pack("<HB", index, sub)
        if 0 < len(data) <= 4:
            reply = self._exchange(bytes([0x23 | ((4 - len(data)) << 2)]) + head + data.ljust(4, b"\0"))
            return struct.unpack_from("<I", reply, 4)[0] if reply[0] == 0x80 else 0
        reply = self._exchange(bytes([0x21]) + head + struct.pack("<I", len(data)))
        if reply[0] == 0x80:
            return struct.unpack_from("<I", reply, 4)[0]
        toggle, off = 0, 0
        while True:
            chunk = data[off : off + 7]
            off += 7
            last = off >= len(data)
            reply = self._exchange(bytes([(toggle << 4) | ((7 - len(chunk)) << 1) | int(last)]) + chunk.ljust(7, b"\0"))
            if reply[0] == 0x80:
                return struct.unpack_from("<I", reply, 4)[0]
            if last:
                return 0
            toggle ^= 1

    def drain(self) -> None:
        while self.bus.recv(timeout=0.0) is not None:
            pass


def current(board: Any, index: int, sub: int) -> bytes | None:
    """The board's value of (index, sub) as the bus reads it, None when it has none."""
    if hasattr(board, "od_read"):  # the C image
        got = board.od_read(index, sub)
        return got if isinstance(got, bytes) else None
    try:
        return board.store.read(index, sub)
    except SdoAbort:
        return None


def write_order(values: Values, have: Callable[[int, int], bytes | None]) -> list[tuple[int, int, bytes]]:
    """The downloads that give the board ``values`` (entries already equal are left out), in an
    order the board accepts: per PDO whose parameters change, COB-ID invalid first, mapping count
    0, mapping entries, mapping count, the other communication entries, the COB-ID last."""
    changed = {k: v for k, v in values.items() if have(*k) != v}
    pdos = sorted({k[0] - PDO_SLOTS if k[0] & ~0x1FF in (RPDO_MAP, TPDO_MAP) else k[0]
                   for k in changed if k[0] & ~0x1FF in (RPDO_COMM, RPDO_MAP, TPDO_COMM, TPDO_MAP)})
    out: list[tuple[int, int, bytes]] = []
    for comm in pdos:
        mapping = comm + PDO_SLOTS
        cob_now = have(comm, 1)
        if cob_now is not None and not int.from_bytes(cob_now, "little") & COB_INVALID:
            out.append((comm, 1, (int.from_bytes(cob_now, "little") | COB_INVALID).to_bytes(4, "little")))
        entries = sorted(k for k in values if k[0] == mapping and k[1] > 0)
        if any(k[0] == mapping for k in changed):
            count = values.get((mapping, 0), have(mapping, 0))
            out.append((mapping, 0, bytes(len(count or b"\0"))))
            out += [(mapping, s, values[(mapping, s)]) for _, s in entries]
            if count is not None:
                out.append((mapping, 0, count))
        out += [(comm, s, v) for (i, s), v in sorted(changed.items()) if i == comm and s != 1]
        cob = values.get((comm, 1), cob_now)
        if cob is not None:
            out.append((comm, 1, cob))
    done = set(pdos) | {c + PDO_SLOTS for c in pdos}
    out += [(i, s, v) for (i, s), v in sorted(changed.items()) if i not in done]
    return out


def save_range(keys: Iterable[tuple[int, int]]) -> int:
    """The 0x1010 sub-index that saves exactly the ranges ``keys`` cover (all, comm, application)."""
    indices = [i for i, _ in keys]
    comm = any(0x1000 <= i < 0x2000 for i in indices)
    app = any(i >= 0x2000 for i in indices)
    return SAVE_ALL if comm == app else (SAVE_COMM if comm else SAVE_APP)


def carry(values: Values, firmware: str, target_file: Path, target_storage: Callable[[Path], Path],
          build: BoardFactory, node: int, source: Path) -> list[tuple[int, int]]:
    """Write ``values`` into a fresh ``firmware`` board, save them there (0x1010), check them on a
    second start, and put the target's file at ``target_file`` (see module doc). ``target_storage``
    maps the storage path given to ``build`` to the file that board writes. Returns the keys that
    were migrated."""
    work = target_file.parent / f".migrate-{target_file.stem}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    storage = work / f"{target_file.stem}.json"
    written = target_storage(storage)
    clock = lambda: 0.0  # noqa: E731  (frozen time: no timer of the board runs while it is written)
    try:
        _download(values, firmware, storage, build, node, source, clock)
        if not written.exists():
            raise DeviceError(f"node {node}: the {firmware} board wrote no parameter file while migrating {source}")
        _verify(values, firmware, storage, build, node, source, clock)
        os.replace(written, target_file)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return sorted(values)


def private_pair() -> tuple[can.BusABC, can.BusABC]:
    channel = f"cbl-migrate-{uuid.uuid4().hex}"
    return (can.Bus(interface="virtual", channel=channel), can.Bus(interface="virtual", channel=channel))


def _download(values: Values, firmware: str, storage: Path, build: BoardFactory, node: int, source: Path,
              clock: Callable[[], float]) -> None:
    board_bus, host_bus = private_pair()
    board = None
    try:
        board = build(firmware, storage, board_bus, clock)
        peer = SdoPeer(board, host_bus, node)
        peer.drain()  # the boot-up frame
        for index, sub, data in write_order(values, lambda i, s: current(board, i, s)):
            code = peer.write(index, sub, data)
            if code:
                raise DeviceError(f"node {node}: saved parameter 0x{index:04X}sub{sub} = 0x{data.hex()} from {source} "
                                  f"is refused by the {firmware} firmware (SDO abort 0x{code:08X}); nothing was "
                                  f"migrated and {source.name} is unchanged: run this board with firmware = "
                                  f"\"{'python' if firmware == 'c' else 'c'}\" to keep its parameters")
        code = peer.write(0x1010, save_range(values), STORE_SIGNATURE.to_bytes(4, "little"))
        if code:
            raise DeviceError(f"node {node}: the {firmware} firmware refused to save the parameters migrated from "
                              f"{source} (SDO abort 0x{code:08X}); {source.name} is unchanged")
    finally:
        if board is not None:
            board.close()
        board_bus.shutdown()
        host_bus.shutdown()


def _verify(values: Values, firmware: str, storage: Path, build: BoardFactory, node: int, source: Path,
            clock: Callable[[], float]) -> None:
    board_bus, host_bus = private_pair()
    board = None
    try:
        board = build(firmware, storage, board_bus, clock)
        for (index, sub), data in sorted(values.items()):
            got = current(board, index, sub)
            if got != data:
                raise DeviceError(f"node {node}: parameter 0x{index:04X}sub{sub} migrated from {source} reads back "
                                  f"as {got.hex() if got is not None else 'nothing'} after a restart of the "
                                  f"{firmware} firmware, expected {data.hex()}; {source.name} is unchanged")
    finally:
        if board is not None:
            board.close()
        board_bus.shutdown()
        host_bus.shutdown()


def c_saved(build: BoardFactory, flash: Path, node: int) -> Values:
    """The parameters a C image's flash file holds, as they differ from the image's defaults (wire
    bytes of the persistent entries): the saved set that a Python board needs to behave the same."""
    work = flash.parent / f".migrate-read-{flash.stem}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        shutil.copyfile(flash, c_flash_path(work / f"{flash.stem}.json"))  # the image rewrites its file at start
        boards = []
        for storage in (work / f"{flash.stem}.json", None):
            board_bus, host_bus = private_pair()
            try:
                b = build("c", storage, board_bus, lambda: 0.0)
                boards.append({(e.index, e.subindex): current(b, e.index, e.subindex)
                               for e in b.table.entries() if e.persistent})
                b.close()
            finally:
                board_bus.shutdown()
                host_bus.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    saved, defaults = boards
    return {k: v for k, v in saved.items() if v is not None and v != defaults[k]}
