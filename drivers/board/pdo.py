"""PDO runtime of a board: channels built from 0x1400-0x1A03, packing, and mapping validation.

Mapping rules enforced on SDO writes (CiA 301 §7.5.2.35-38, CANOPEN.md §2.7):

* COB-ID (sub 1) may change only while the PDO is not valid (bit 31): else 0x06090030;
  29-bit IDs (bit 29) and the restricted CAN-IDs of CiA 301 §7.3.5 are refused (0x06090030).
* transmission type (sub 2): 0-240, 254, 255 accepted; 241-253 (reserved / RTR-only) 0x06090030.
* mapping entries (sub 1..N) only while sub 0 = 0 and the PDO is not valid: else 0x08000022;
  each entry must name an existing, PDO-mappable object of the right direction (RPDO: writable,
  TPDO: readable) with its exact length, or a dummy 0x0002-0x0007 (RPDO only): else 0x06040041.
* sub 0 (count) may be set only while the PDO is not valid; the mapped length must fit the frame
  (64 bits, or 512 bits for CAN FD): else 0x06040042.

Values received by RPDO obey the same limits as SDO writes (:meth:`PdoSet.check`): a payload
with any value outside its entry's limits, outside its allowed values, or a non-finite REAL32
is not applied at all (the previous values stay), and the board raises EMCY 0x8200 with the
RPDO number, cleared when that RPDO next arrives within its limits (see ``BoardNode._rpdo_rx``).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from cerebellum_rt.drivers.board.store import (
    _STRUCT,
    ABORT_NOT_MAPPABLE,
    ABORT_PDO_LENGTH,
    ABORT_STATE,
    ABORT_VALUE,
    ObjectStore,
    SdoAbort,
    encode,
)
from cerebellum_rt.drivers.od import PDO_NOT_VALID

# CiA 301 §7.3.5: CAN-IDs reserved for NMT, SYNC/EMCY region, TIME, SDO, LSS and NMT error control
RESTRICTED_IDS = ((0x000, 0x07F), (0x101, 0x180), (0x581, 0x5FF), (0x601, 0x67F), (0x6E0, 0x6FF),
                  (0x701, 0x77F), (0x780, 0x7FF))


def restricted_id(cid: int) -> bool:
    """True for an 11-bit CAN-ID that CiA 301 §7.3.5 reserves (no PDO, SYNC or EMCY may use it)."""
    return any(lo <= cid <= hi for lo, hi in RESTRICTED_IDS)


_DUMMY_BITS = {0x0002: 8, 0x0003: 16, 0x0004: 32, 0x0005: 8, 0x0006: 16, 0x0007: 32}


@dataclass
class PdoChannel:
    """One PDO as configured now: ``entries`` = [(index, subindex, bits)]."""

    tx: bool
    number: int
    cob_id: int = 0
    valid: bool = False
    trans_type: int = 1
    event_timer_ms: int = 0
    entries: list[tuple[int, int, int]] = field(default_factory=list)
    sync_count: int = 0
    last_data: bytes | None = None
    last_rx_t: float | None = None
    last_tx_t: float | None = None
    timed_out: bool = False
    inhibit_100us: int = 0
    codec: struct.Struct | None = None  # the payload layout, dummies as pad bytes
    keys: list[tuple[int, int]] = field(default_factory=list)  # mapped objects, dummies left out
    # per mapped object: (low, high, allowed values or None), the limits an RPDO value must obey
    limits: list[tuple[float, float, tuple | None]] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Payload length in bytes."""
        return sum(b for _, _, b in self.entries) // 8


class PdoSet:
    """All PDO channels of a board; rebuilt from the store after every configuration write."""

    def __init__(self, store: ObjectStore, fd: bool) -> None:
        self.store = store
        self.max_bits = 512 if fd else 64
        self.rpdos = [PdoChannel(False, k + 1) for k in range(4) if 0x1400 + k in store.table.objects]
        self.tpdos = [PdoChannel(True, k + 1) for k in range(4) if 0x1800 + k in store.table.objects]
        for k in range(4):
            for base in (0x1400, 0x1800, 0x1600, 0x1A00):
                if base + k in store.table.objects:
                    store.validators[base + k] = self._validate
                    store.on_write[base + k] = lambda *_: self.reload()
        self.reload()

    def reload(self) -> None:
        s = self.store
        for ch in (*self.rpdos, *self.tpdos):
            comm = (0x1800 if ch.tx else 0x1400) + ch.number - 1
            mapi = (0x1A00 if ch.tx else 0x1600) + ch.number - 1
            cob = int(s.get(comm, 1))
            ch.cob_id, ch.valid = cob & 0x7FF, not cob & PDO_NOT_VALID
            ch.trans_type = int(s.get(comm, 2))
            ch.event_timer_ms = int(s.get(comm, 5))
            ch.inhibit_100us = int(s.get(comm, 3)) if ch.tx else 0
            n = int(s.get(mapi, 0))
            ch.entries = []
            for k in range(1, n + 1):
                v = int(s.get(mapi, k))
                ch.entries.append((v >> 16, (v >> 8) & 0xFF, v & 0xFF))
            ch.last_data = None
            fmt, ch.keys, ch.limits = "<", [], []
            for idx, si, bits in ch.entries:
                if idx in _DUMMY_BITS:
                    fmt += "x" * (bits // 8)
                else:
                    e = s.table.objects[idx].sub(si)
                    fmt += _STRUCT[e.dtype][1]
                    ch.keys.append((idx, si))
                    lo, hi = e.limits
                    ch.limits.append((lo, hi, e.values))
            ch.codec = struct.Struct(fmt)

    def rx_by_cob(self) -> dict[int, PdoChannel]:
        return {ch.cob_id: ch for ch in self.rpdos if ch.valid and ch.entries}

    # ------------------------------------------------------------------ validation
    def _channel(self, index: int) -> tuple[PdoChannel, bool]:
        k = index & 0x3
        is_map = bool(index & 0x200)
        tx = bool(index & 0x800)
        chans = self.tpdos if tx else self.rpdos
        return chans[k], is_map

    def _validate(self, index: int, sub: int, value: int | float | str | bytes) -> None:
        ch, is_map = self._channel(index)
        v = int(value)  # type: ignore[arg-type]
        if not is_map:
            if sub == 1:
                cid = v & 0x7FF
                if v & 0x20000000 or v & 0x1FFFF800 or restricted_id(cid):
                    raise SdoAbort(ABORT_VALUE, f"COB-ID 0x{v:08X} (29-bit or restricted CAN-ID)")
                if ch.valid and not v & PDO_NOT_VALID and (v & 0x7FF) != ch.cob_id:
                    raise SdoAbort(ABORT_VALUE, "COB-ID change while the PDO is valid")
            elif sub == 2 and 241 <= v <= 253:
                raise SdoAbort(ABORT_VALUE, f"transmission type {v}")
            return
        if ch.valid:
            raise SdoAbort(ABORT_STATE, "mapping change while the PDO is valid")
        if sub == 0:
            bits = 0
            for k in range(1, v + 1):
                e = int(self.store.get(index, k))
                if (e & 0xFF) == 0 or (e & 0xFF) % 8:
                    raise SdoAbort(ABORT_NOT_MAPPABLE, f"entry {k} = 0x{e:08X}")
                bits += e & 0xFF
            if bits > self.max_bits:
                raise SdoAbort(ABORT_PDO_LENGTH, f"{bits} bits > {self.max_bits}")
            return
        if int(self.store.get(index, 0)) != 0:
            raise SdoAbort(ABORT_STATE, "mapping entry write while sub 0 != 0")
        if v == 0:
            return
        idx, si, bits = v >> 16, (v >> 8) & 0xFF, v & 0xFF
        if idx in _DUMMY_BITS:
            if ch.tx or si != 0 or bits != _DUMMY_BITS[idx]:
                raise SdoAbort(ABORT_NOT_MAPPABLE, f"dummy 0x{v:08X}")
            return
        obj = self.store.table.objects.get(idx)
        e = obj.sub(si) if obj else None
        if e is None or not e.pdo_mappable or e.bits != bits:
            raise SdoAbort(ABORT_NOT_MAPPABLE, f"0x{v:08X}")
        if (ch.tx and e.access == "wo") or (not ch.tx and e.access not in ("rw", "wo")):
            raise SdoAbort(ABORT_NOT_MAPPABLE, f"0x{v:08X} direction")

    # ------------------------------------------------------------------ process data
    def pack(self, ch: PdoChannel) -> bytes:
        """A TPDO payload from the store's current values (real-time: called on SYNC)."""
        s = self.store
        if ch.codec is not None:
            try:
                return ch.codec.pack(*s.get_many(ch.keys))
            except struct.error:
                pass  # a value outside its type (cannot come from the bus): wrap it entry by entry
        out = bytearray()
        for idx, si, _ in ch.entries:
            out += encode(s.table.objects[idx].sub(si), s.get(idx, si))
        return bytes(out)

    @staticmethod
    def check(ch: PdoChannel, data: bytes) -> str | None:
        """None if every value of the RPDO payload ``data`` is within its entry's limits, else
        what is wrong (the first offending object)."""
        assert ch.codec is not None
        for v, (lo, hi, allowed), (idx, si) in zip(ch.codec.unpack(data[: ch.codec.size]), ch.limits, ch.keys):
            if ((isinstance(v, float) and not math.isfinite(v)) or not lo <= v <= hi
                    or (allowed is not None and v not in allowed)):
                return f"0x{idx:04X}sub{si} = {v} outside [{lo}, {hi}]" + (f" / {allowed}" if allowed else "")
        return None

    def unpack(self, ch: PdoChannel, data: bytes) -> None:
        """Write an RPDO payload into the store (checked before by :meth:`check`)."""
        assert ch.codec is not None
        self.store.set_many(ch.keys, ch.codec.unpack(data[: ch.codec.size]))

