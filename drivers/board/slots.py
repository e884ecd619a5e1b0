"""The Python board's image flash: two slots and a boot-state journal, with a power-cut hook.

Flash model (a NOR-like part programmed in 8-byte units, as the Cortex-M boards' double words):
erase sets a whole sector to 0xFF; program writes whole 8-byte units, each only onto an erased
unit (programming a unit with the bytes it already holds is a no-op, anything else raises
:class:`FlashError`, "flash not cleared"). Layout: slot 0 at 0, slot 1 at ``slot_size``, then
two journal sectors. The flash lives in a file (``path``; every operation is written through to
it, so a killed process leaves exactly the operations done) or in memory.

Power cuts (tests): ``hook(op, addr, length)`` is called BEFORE every erase of a sector and
every program of a unit; raising :class:`PowerCut` there cuts the power: the operation does not
happen, except that ``PowerCut(keep=k)`` on a program leaves the unit's first ``k`` bytes
programmed (a torn write). PowerCut is a BaseException: no layer of the board may swallow it.

Boot-state journal (what the bootloader and the running firmware record; MCUboot keeps the same
facts in its slot trailers): 8-byte records ``kind u8, slot u8, value u32, CRC-16/XMODEM of the
first 6 bytes`` appended to the current journal sector. A record whose CRC fails (torn) is
skipped; the first all-0xFF unit is the end. Kinds: GEN (the sector's generation: written last
when a full sector is compacted into the other one, so a cut during compaction keeps the old
sector), ACTIVE (slot confirmed; clears any test), TEST (slot marked for one test boot), TRIED
(the bootloader booted the test slot), REVERT (the test ended unconfirmed), COUNTER (installed
security counter, only ever raised), CLEARED (the slot was erased completely: a download into it
may resume after a power cut; any later TEST or ACTIVE ends that).
"""

from __future__ import annotations

import binascii
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cerebellum_rt.drivers.od import FLASH_PROGRAM_UNIT, SLOT_SIZE_DEFAULT
from cerebellum_rt.rtcore.errors import ConfigError

SECTOR = 4096
UNIT = FLASH_PROGRAM_UNIT
ERASED = 0xFF
REC_GEN, REC_ACTIVE, REC_TEST, REC_TRIED, REC_REVERT, REC_COUNTER, REC_CLEARED = 1, 2, 3, 4, 5, 6, 7


class PowerCut(BaseException):  # an event, not an error: it must pass every `except Exception`
    """The power went off before a flash operation (tests raise it from the hook)."""

    def __init__(self, keep: int = 0) -> None:
        super().__init__(f"power cut (torn unit keeps {keep} bytes)")
        self.keep = keep


class FlashError(Exception):
    """A program onto a unit that is not erased (CiA 302-3 error 4, flash not cleared)."""


@dataclass
class BootState:
    """The journal's facts, replayed."""

    confirmed: int = 0  # the slot known good (0 on a board that never took an image)
    test: int | None = None  # a slot marked for a test boot
    tried: bool = False  # the test slot has been booted once
    counter: int = 0  # the installed security counter
    cleared: int | None = None  # a slot erased completely and not used since


class SlotStore:
    """Two image slots and the boot-state journal on one flash (see module doc)."""

    def __init__(self, path: str | os.PathLike | None = None, slot_size: int = SLOT_SIZE_DEFAULT,
                 hook: Callable[[str, int, int], None] | None = None) -> None:
        if slot_size <= 0 or slot_size % SECTOR:
            raise ConfigError(f"slot size {slot_size} bytes is not a positive multiple of the {SECTOR}-byte sector")
        self.slot_size = slot_size
        self.journal_base = 2 * slot_size
        self.size = self.journal_base + 2 * SECTOR
        self.hook = hook
        self.ops = 0  # erases and unit programs done (a test's count of cut points)
        self.path = Path(path) if path is not None else None
        self._fd: int | None = None
        self.mem = bytearray([ERASED]) * self.size
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            old = os.pread(self._fd, self.size, 0)
            if len(old) == self.size:
                self.mem[:] = old
            else:  # a new (or foreign-sized) flash file reads as erased
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, bytes(self.mem), 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ---------------------------------------------------------------- raw flash
    def _store(self, addr: int, data: bytes) -> None:
        self.mem[addr : addr + len(data)] = data
        if self._fd is not None:
            os.pwrite(self._fd, data, addr)

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.mem[addr : addr + n])

    def erase(self, addr: int, length: int) -> None:
        """Erase whole sectors from ``addr`` (sector-aligned)."""
        if addr % SECTOR or length % SECTOR or addr + length > self.size:
            raise FlashError(f"erase 0x{addr:X}+{length}: not whole sectors inside the flash")
        for a in range(addr, addr + length, SECTOR):
            if self.mem[a : a + SECTOR].count(ERASED) == SECTOR:
                continue  # already erased: no operation (and no cut point)
            if self.hook is not None:
                self.hook("erase", a, SECTOR)
            self._store(a, bytes([ERASED]) * SECTOR)
            self.ops += 1

    def program(self, addr: int, data: bytes) -> None:
        """Program whole 8-byte units at ``addr``; each must be erased or already hold these bytes."""
        if addr % UNIT or len(data) % UNIT or addr + len(data) > self.size:
            raise FlashError(f"program 0x{addr:X}+{len(data)}: not whole {UNIT}-byte units inside the flash")
        for k in range(0, len(data), UNIT):
            a, unit = addr + k, bytes(data[k : k + UNIT])
            old = self.mem[a : a + UNIT]
            if old == unit:
                continue
            if old.count(ERASED) != UNIT:
                raise FlashError(f"flash not cleared at 0x{a:X}")
            if self.hook is not None:
                try:
                    self.hook("program", a, UNIT)
                except PowerCut as cut:
                    if cut.keep:
                        self._store(a, unit[: cut.keep])
                    raise
            self._store(a, unit)
            self.ops += 1

    # ---------------------------------------------------------------- slots
    def slot_addr(self, slot: int) -> int:
        return slot * self.slot_size

    def slot(self, slot: int) -> bytes:
        a = self.slot_addr(slot)
        return self.read(a, self.slot_size)

    def programmed_end(self, slot: int) -> int:
        """End of the last unit that is not erased in ``slot`` (0 for an erased slot)."""
        data = self.slot(slot)
        end = len(data.rstrip(bytes([ERASED])))
        return -(-end // UNIT) * UNIT

    def erase_slot(self, slot: int) -> None:
        self.erase(self.slot_addr(slot), self.slot_size)

    # ---------------------------------------------------------------- journal
    @staticmethod
    def _record(kind: int, slot: int, value: int) -> bytes:
        head = struct.pack("<BBI", kind, slot, value)
        return head + struct.pack("<H", binascii.crc_hqx(head, 0))

    def _sector_records(self, k: int) -> tuple[list[tuple[int, int, int]], int | None]:
        """(valid records, offset of the first erased unit or None when full) of journal sector k."""
        base = self.journal_base + k * SECTOR
        recs, free = [], None
        for off in range(0, SECTOR, UNIT):
            u = self.mem[base + off : base + off + UNIT]
            if u.count(ERASED) == UNIT:
                free = off
                break
            kind, slot, value, crc = struct.unpack("<BBIH", u)
            if binascii.crc_hqx(bytes(u[:6]), 0) == crc:
                recs.append((kind, slot, value))
        return recs, free

    def _current(self) -> tuple[int | None, int, list[tuple[int, int, int]], int | None]:
        """(sector, generation, records, free offset) of the live journal sector (None: no journal yet)."""
        best: tuple[int | None, int, list, int | None] = (None, -1, [], None)
        for k in (0, 1):
            recs, free = self._sector_records(k)
            gens = [v for kind, _, v in recs if kind == REC_GEN]
            if gens and gens[0] > best[1]:
                best = (k, gens[0], recs, free)
        return best

    def state(self) -> BootState:
        _, _, recs, _ = self._current()
        return self._replay(recs)

    @staticmethod
    def _replay(recs: list[tuple[int, int, int]]) -> BootState:
        st = BootState()
        for kind, slot, value in recs:
            if kind == REC_ACTIVE and slot in (0, 1):
                st.confirmed, st.test, st.tried = slot, None, False
                st.cleared = None if st.cleared == slot else st.cleared
            elif kind == REC_TEST and slot in (0, 1):
                st.test, st.tried = slot, False
                st.cleared = None if st.cleared == slot else st.cleared
            elif kind == REC_CLEARED and slot in (0, 1):
                st.cleared = slot
            elif kind == REC_TRIED and slot == st.test:
                st.tried = True
            elif kind == REC_REVERT and slot == st.test:
                st.test, st.tried = None, False
            elif kind == REC_COUNTER:
                st.counter = max(st.counter, value)
        return st

    def append(self, kind: int, slot: int, value: int = 0) -> None:
        """Append one record; a full sector is first compacted into the other one."""
        k, gen, recs, free = self._current()
        if k is None:
            self.erase(self.journal_base, SECTOR)
            self.program(self.journal_base, self._record(REC_GEN, 0, 1))
            k, gen, recs, free = self._current()
        if free is None:
            k, free = self._compact(k, gen, recs)
        self.program(self.journal_base + k * SECTOR + free, self._record(kind, slot, value))

    def _compact(self, k: int, gen: int, recs: list[tuple[int, int, int]]) -> tuple[int, int]:
        st = self._replay(recs)
        other = 1 - k
        base = self.journal_base + other * SECTOR
        self.erase(base, SECTOR)
        out = [self._record(REC_COUNTER, 0, st.counter), self._record(REC_ACTIVE, st.confirmed, 0)]
        if st.test is not None:
            out.append(self._record(REC_TEST, st.test, 0))
            if st.tried:
                out.append(self._record(REC_TRIED, st.test, 0))
        if st.cleared is not None:
            out.append(self._record(REC_CLEARED, st.cleared, 0))
        # the generation record goes in first position but is programmed last: until then the
        # old sector stays the live one
        for n, rec in enumerate(out, 1):
            self.program(base + n * UNIT, rec)
        self.program(base, self._record(REC_GEN, 0, gen + 1))
        return other, (len(out) + 1) * UNIT
