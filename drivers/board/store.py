"""The board's object store: the values of one node's object dictionary, served over SDO.

Built from a :class:`cerebellum_rt.drivers.od.Table`. ``read``/``write`` are the bus-facing accessors: they
check existence, access, length and the table's limits and raise :class:`SdoAbort` with the
CiA 301 abort code. ``get``/``set`` are the firmware's own accessors (no checks, no hooks).

Store/restore (0x1010/0x1011, CiA 301 §7.5.2.13-14): writing "save" copies the persistent
entries (rw parameters that are not process data) of the chosen range into the board's
flash (a JSON file when the board has a ``storage_path``, written atomically by
:meth:`ObjectStore._save_flash`; else a dict that lives as long as the board object); writing "load" erases that range from flash, so the table defaults are active
after the next NMT reset. Sub-index 1 = all, 2 = communication (0x1000-0x1FFF), 3 =
application (0x2000-0x9FFF).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cerebellum_rt.drivers.od import RESTORE_SIGNATURE, STORE_SIGNATURE, Entry, Table

# CiA 301 SDO abort codes used by the board
ABORT_TOGGLE = 0x05030000
ABORT_TIMEOUT = 0x05040000
ABORT_COMMAND = 0x05040001
ABORT_BLOCK_SIZE = 0x05040002
ABORT_SEQNO = 0x05040003
ABORT_CRC = 0x05040004
ABORT_WRITE_ONLY = 0x06010001
ABORT_READ_ONLY = 0x06010002
ABORT_NO_OBJECT = 0x06020000
ABORT_NOT_MAPPABLE = 0x06040041
ABORT_PDO_LENGTH = 0x06040042
ABORT_PARAM = 0x06040043
ABORT_LENGTH = 0x06070010
ABORT_LENGTH_HIGH = 0x06070012
ABORT_LENGTH_LOW = 0x06070013
ABORT_NO_SUBINDEX = 0x06090011
ABORT_VALUE = 0x06090030
ABORT_VALUE_HIGH = 0x06090031
ABORT_VALUE_LOW = 0x06090032
ABORT_MAX_LT_MIN = 0x06090036
ABORT_GENERAL = 0x08000000
ABORT_STORE = 0x08000020
ABORT_STATE = 0x08000022

_STRUCT = {
    "BOOLEAN": "<B", "INTEGER8": "<b", "INTEGER16": "<h", "INTEGER32": "<i",
    "UNSIGNED8": "<B", "UNSIGNED16": "<H", "UNSIGNED32": "<I", "REAL32": "<f",
}


class SdoAbort(Exception):
    """An SDO request refused with a CiA 301 abort code (the board answers 0x80 + code)."""

    def __init__(self, code: int, what: str = "") -> None:
        super().__init__(f"SDO abort 0x{code:08X} {what}".strip())
        self.code = code


def encode(e: Entry, value: int | float | str | bytes) -> bytes:
    """The little-endian wire bytes of ``value`` as entry ``e``'s data type."""
    if e.dtype in _STRUCT:
        v = value
        if e.dtype != "REAL32":
            lo, hi = {"INTEGER8": (-128, 127), "INTEGER16": (-(2**15), 2**15 - 1),
                      "INTEGER32": (-(2**31), 2**31 - 1)}.get(e.dtype, (0, 2 ** e.bits - 1))
            v = int(v)
            if not lo <= v <= hi:  # firmware values wrap like the C integer would
                v = v & (2 ** e.bits - 1)
                if lo < 0 and v > hi:
                    v -= 2 ** e.bits
        return struct.pack(_STRUCT[e.dtype], v)
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def decode(e: Entry, data: bytes) -> int | float | str | bytes:
    if e.dtype in _STRUCT:
        return struct.unpack(_STRUCT[e.dtype], data)[0]
    if e.dtype == "VISIBLE_STRING":
        return data.decode("utf-8", errors="replace")
    return bytes(data)


def _in_range(sub: int, index: int) -> bool:
    if sub == 1:
        return True
    if sub == 2:
        return 0x1000 <= index < 0x2000
    return index >= 0x2000


class ObjectStore:
    """Values of one node's object dictionary (see module doc)."""

    def __init__(self, table: Table, node_id: int, storage_path: str | os.PathLike | None = None) -> None:
        self.table = table
        self.node_id = node_id
        self.storage_path = Path(storage_path) if storage_path is not None else None
        self._flash: dict[str, int | float | str] = {}
        self._values: dict[tuple[int, int], int | float | str | bytes] = {}
        # hooks: index -> fn(index, sub, value) raising SdoAbort or returning None, run before the write
        self.validators: dict[int, Callable[[int, int, int | float | str | bytes], None]] = {}
        # index -> fn(index, sub, value), run after a successful bus write
        self.on_write: dict[int, Callable[[int, int, int | float | str | bytes], None]] = {}
        # index -> a stream (open/write/close/cancel) that takes a download's bytes as they arrive
        # (0x1F50 program data; see the SDO server)
        self.streams: dict[int, Any] = {}
        self._load_flash()
        self.reset(comm_only=False)

    # ---------------------------------------------------------------- firmware side
    def reset(self, comm_only: bool) -> None:
        """Load defaults, then the stored parameters (NMT reset node / reset communication)."""
        saved = self.stored()
        for e in self.table.entries():
            if comm_only and e.index >= 0x2000:
                continue
            key = (e.index, e.subindex)
            self._values[key] = saved.get(key, e.default_for(self.node_id))

    def stored(self) -> dict[tuple[int, int], int | float | str | bytes]:
        """The saved parameters that a reset applies (persistent entries whose flash value still
        fits), by (index, sub-index), as :meth:`reset` decodes them."""
        out: dict[tuple[int, int], int | float | str | bytes] = {}
        for e in self.table.entries():
            v = self._flash.get(f"{e.index:04X}sub{e.subindex:X}")
            if v is None or not e.persistent or not self._valid_stored(e, v):
                continue
            if isinstance(v, str) and e.dtype in ("DOMAIN", "OCTET_STRING") and v.startswith("hex:"):
                v = bytes.fromhex(v[4:])
            out[(e.index, e.subindex)] = v
        return out

    @staticmethod
    def _valid_stored(e: Entry, v: int | float | str) -> bool:
        """A stored value is used only if it still fits the entry (else the default applies)."""
        if not e.is_numeric:
            return isinstance(v, str)
        if isinstance(v, bool) or not isinstance(v, int | float) or (e.dtype != "REAL32" and not isinstance(v, int)):
            return False
        lo, hi = e.limits
        return lo <= v <= hi and (e.values is None or v in e.values)

    def has(self, index: int, subindex: int = 0) -> bool:
        """True if the dictionary has (index, subindex)."""
        return (index, subindex) in self._values

    def get(self, index: int, subindex: int = 0) -> int | float | str | bytes:
        return self._values[(index, subindex)]

    def get_many(self, keys: list[tuple[int, int]]) -> list[int | float | str | bytes]:
        v = self._values
        return [v[k] for k in keys]

    def set_many(self, keys: list[tuple[int, int]], values: tuple) -> None:
        """Firmware writes of several values (an RPDO payload), no checks."""
        self._values.update(zip(keys, values))

    def set(self, index: int, subindex: int, value: int | float | str | bytes) -> None:
        """Firmware write (no checks): measurements, statusword, identity."""
        self._values[(index, subindex)] = value

    def entry(self, index: int, subindex: int) -> Entry:
        """The entry, or SdoAbort 0x06020000 (no object) / 0x06090011 (no sub-index)."""
        obj = self.table.objects.get(index)
        if obj is None:
            raise SdoAbort(ABORT_NO_OBJECT, f"0x{index:04X}")
        e = obj.sub(subindex)
        if e is None:
            raise SdoAbort(ABORT_NO_SUBINDEX, f"0x{index:04X}sub{subindex}")
        return e

    # ---------------------------------------------------------------- bus side
    def read(self, index: int, subindex: int) -> bytes:
        e = self.entry(index, subindex)
        if e.access == "wo":
            raise SdoAbort(ABORT_WRITE_ONLY)
        return encode(e, self._values[(index, subindex)])

    def check_writable(self, index: int, subindex: int) -> Entry:
        e = self.entry(index, subindex)
        if e.access in ("ro", "const"):
            raise SdoAbort(ABORT_READ_ONLY, f"0x{index:04X}sub{subindex}")
        return e

    def write(self, index: int, subindex: int, data: bytes) -> None:
        """A bus write: every check of CiA 301, then the value, then the hooks."""
        e = self.check_writable(index, subindex)
        if e.is_numeric:
            n = e.bits // 8
            if len(data) > n:
                raise SdoAbort(ABORT_LENGTH_HIGH)
            if len(data) < n:
                raise SdoAbort(ABORT_LENGTH_LOW)
        if not e.is_numeric and e.high is not None and len(data) > e.high:
            raise SdoAbort(ABORT_LENGTH_HIGH, f"{e.name}: {len(data)} bytes > {e.high}")
        value = decode(e, data)
        if e.is_numeric:
            if isinstance(value, float) and not math.isfinite(value):
                raise SdoAbort(ABORT_VALUE, f"{e.name} = {value}")
            if e.values is not None and value not in e.values:
                raise SdoAbort(ABORT_VALUE, f"{e.name} = {value} not in {e.values}")
            lo, hi = e.limits
            if value > hi:
                raise SdoAbort(ABORT_VALUE_HIGH, f"{e.name} = {value} > {hi}")
            if value < lo:
                raise SdoAbort(ABORT_VALUE_LOW, f"{e.name} = {value} < {lo}")
        if index in (0x1010, 0x1011) and subindex > 0:
            self._store_restore(index, subindex, int(value))
            return
        check = self.validators.get(index)
        if check is not None:
            check(index, subindex, value)
        self._values[(index, subindex)] = value
        hook = self.on_write.get(index)
        if hook is not None:
            hook(index, subindex, value)

    # ---------------------------------------------------------------- store / restore
    def _store_restore(self, index: int, sub: int, value: int) -> None:
        if index == 0x1010:
            if value != STORE_SIGNATURE:
                raise SdoAbort(ABORT_STORE, f"store signature 0x{value:08X}")
            for e in self.table.entries():
                if e.persistent and _in_range(sub, e.index):
                    v = self._values[(e.index, e.subindex)]
                    self._flash[f"{e.index:04X}sub{e.subindex:X}"] = ("hex:" + v.hex()) if isinstance(v, bytes) else v
        else:
            if value != RESTORE_SIGNATURE:
                raise SdoAbort(ABORT_STORE, f"restore signature 0x{value:08X}")
            for key in list(self._flash):
                if _in_range(sub, int(key[:4], 16)):
                    del self._flash[key]
        self._save_flash()

    def _load_flash(self) -> None:
        if self.storage_path is not None and self.storage_path.exists():
            try:
                data = json.loads(self.storage_path.read_text())
            except (OSError, ValueError):
                data = {}  # a corrupt flash page reads as erased (defaults apply)
            if isinstance(data, dict):
                self._flash = {k: v for k, v in data.items() if isinstance(v, int | float | str)}

    def _save_flash(self) -> None:
        """Write the flash file atomically: a temporary file in the same directory, flushed and
        fsync'ed, renamed over the old file, then the directory fsync'ed. A kill at any point
        leaves either the old or the new set on disk (never a mix, never an empty file)."""
        if self.storage_path is None:
            return
        path = self.storage_path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as f:
                f.write(json.dumps(self._flash, sort_keys=True))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise SdoAbort(ABORT_STORE, f"flash file {path}: {exc}") from exc
