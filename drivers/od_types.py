"""Object dictionary building blocks: CiA 301 data types, entries and objects.

The tables themselves live in :mod:`cerebellum_rt.drivers.od` (joint board) and :mod:`cerebellum_rt.drivers.od_hand`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cerebellum_rt.rtcore.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# CiA 301 data types: name -> (code, numpy dtype string, size in bits, signed, lo, hi)
DTYPES: dict[str, tuple[int, str, int]] = {
    "BOOLEAN": (0x0001, "u1", 8),
    "INTEGER8": (0x0002, "i1", 8),
    "INTEGER16": (0x0003, "<i2", 16),
    "INTEGER32": (0x0004, "<i4", 32),
    "UNSIGNED8": (0x0005, "u1", 8),
    "UNSIGNED16": (0x0006, "<u2", 16),
    "UNSIGNED32": (0x0007, "<u4", 32),
    "REAL32": (0x0008, "<f4", 32),
    "VISIBLE_STRING": (0x0009, "", 0),
    "OCTET_STRING": (0x000A, "", 0),
    "DOMAIN": (0x000F, "", 0),
}
INT_RANGES: dict[str, tuple[int, int]] = {
    "BOOLEAN": (0, 1),
    "INTEGER8": (-(2**7), 2**7 - 1),
    "INTEGER16": (-(2**15), 2**15 - 1),
    "INTEGER32": (-(2**31), 2**31 - 1),
    "UNSIGNED8": (0, 2**8 - 1),
    "UNSIGNED16": (0, 2**16 - 1),
    "UNSIGNED32": (0, 2**32 - 1),
}
ACCESS = ("ro", "wo", "rw", "const")
KINDS = {"VAR": 0x7, "ARRAY": 0x8, "RECORD": 0x9, "DOMAIN": 0x2}
# rw objects that are commands or run-time data, never parameters: 0x1010/0x1011 store/restore
# commands, the 0x1003 error history, the 0x2040 fault injection (a stored fault would survive
# every power cycle), the program download's control and offset (0x1F51, 0x5F50: run-time state)
NOT_STORED = frozenset({0x1003, 0x1010, 0x1011, 0x1F51, 0x2040, 0x5F50})


@dataclass(frozen=True)
class Entry:
    """One sub-index: the data of one value of the object dictionary.

    ``default`` is the power-on value (for ``relative`` entries the node-ID is added, as EDS
    ``$NODEID+...``). ``low``/``high`` are the board's hard limits: SDO writes outside them are
    aborted (0x06090031 / 0x06090032) and nothing from the bus can widen them.
    """

    index: int
    subindex: int
    name: str
    dtype: str
    access: str
    pdo_mappable: bool = False
    unit: str = ""
    low: int | float | None = None
    high: int | float | None = None
    default: int | float | str | bytes = 0
    description: str = ""
    relative: bool = False
    values: tuple[int, ...] | None = None  # the only accepted values, when not a plain range

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"object 0x{self.index:04X}sub{self.subindex}: data type {self.dtype!r} unknown")
        if self.access not in ACCESS:
            raise ConfigError(f"object 0x{self.index:04X}sub{self.subindex}: access {self.access!r} not in {ACCESS}")

    @property
    def bits(self) -> int:
        """Size in bits (0 for strings/domains)."""
        return DTYPES[self.dtype][2]

    @property
    def np_dtype(self) -> str:
        """numpy dtype string of the wire encoding (little-endian)."""
        return DTYPES[self.dtype][1]

    @property
    def is_numeric(self) -> bool:
        return self.bits > 0

    @property
    def limits(self) -> tuple[int | float, int | float]:
        """(low, high): the table's limits, else the full range of the data type."""
        lo, hi = INT_RANGES.get(self.dtype, (-math.inf, math.inf))
        return (lo if self.low is None else self.low, hi if self.high is None else self.high)

    @property
    def persistent(self) -> bool:
        """Saved by 0x1010 (rw parameters that are not process data)."""
        return self.access == "rw" and not self.pdo_mappable and self.index not in NOT_STORED

    def default_for(self, node_id: int) -> int | float | str | bytes:
        if self.relative:
            return int(self.default) + node_id
        return self.default


@dataclass(frozen=True)
class Obj:
    """One object (index): a VAR with one entry, or an ARRAY/RECORD whose sub 0 is the count."""

    index: int
    name: str
    kind: str
    entries: tuple[Entry, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"object 0x{self.index:04X}: kind {self.kind!r} not in {sorted(KINDS)}")

    def sub(self, subindex: int) -> Entry | None:
        for e in self.entries:
            if e.subindex == subindex:
                return e
        return None


def var(index: int, name: str, dtype: str, access: str, *, pdo: bool = False, unit: str = "",
        low: float | None = None, high: float | None = None, default: int | float | str | bytes = 0,
        desc: str = "", relative: bool = False, values: tuple[int, ...] | None = None) -> Obj:
    """A VAR object (sub-index 0 only)."""
    e = Entry(index, 0, name, dtype, access, pdo, unit, low, high, default, desc, relative, values)
    return Obj(index, name, "VAR", (e,), desc)


def compound(index: int, name: str, kind: str, subs: Sequence[Entry], desc: str = "",
             sub0_access: str = "ro") -> Obj:
    """An ARRAY/RECORD: sub 0 = highest sub-index (UNSIGNED8), then ``subs``."""
    highest = max(e.subindex for e in subs)
    s0 = Entry(index, 0, "highest_subindex", "UNSIGNED8", sub0_access, False, "", 0, highest, highest,
               "highest sub-index supported")
    return Obj(index, name, kind, (s0, *subs), desc)


def sub(index: int, subindex: int, name: str, dtype: str, access: str, **kw) -> Entry:
    """An entry of a compound object; keywords as :class:`Entry`."""
    if "desc" in kw:
        kw["description"] = kw.pop("desc")
    if "pdo" in kw:
        kw["pdo_mappable"] = kw.pop("pdo")
    return Entry(index, subindex, name, dtype, access, **kw)


