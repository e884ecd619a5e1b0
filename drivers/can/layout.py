"""PDO layouts of a board type, generated from the object-dictionary table (drivers/od.py).

A layout says, for each PDO, its COB-ID base, whether it is enabled by default, and the
mapped objects in order (name, index, subindex, little-endian numpy type). From it come the
host's numpy record types: the command record (``tx_dtype``: the fields of the selected
RPDOs, in mapping order, packed with no padding) and the reply record (``rx_dtype``: the
fields of the selected TPDOs plus ``fresh``, a bit mask with bit k set when the k-th selected
TPDO arrived in the current tick).

Because the record fields of one PDO are contiguous and in the PDO's own byte order, packing a
PDO is one copy of ``size`` bytes from the record into the frame (CANopen is little-endian and
every mapped object here is byte-aligned), which is what :mod:`cerebellum_rt.drivers.can.codec` does in
compiled code. Nothing here repeats the mapping by hand: the table in drivers/od.py is the one
source (pdo.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError

SYNC_COB_ID = 0x080
PDO_NOT_VALID = 0x80000000
PDO_NO_RTR = 0x40000000


@dataclass(frozen=True)
class PdoField:
    """One mapped object: record field name, object index/subindex and its wire type."""

    name: str
    index: int
    subindex: int
    dtype: np.dtype


@dataclass(frozen=True)
class Pdo:
    """One PDO. ``number`` 1..4; ``transmit``: True for a TPDO (device -> host)."""

    number: int
    transmit: bool
    cob_base: int
    enabled: bool
    fields: tuple[PdoField, ...]

    @property
    def size(self) -> int:
        """Payload length in bytes."""
        return sum(f.dtype.itemsize for f in self.fields)

    def cob_id(self, node_id: int) -> int:
        return self.cob_base + node_id


@dataclass(frozen=True)
class BoardLayout:
    """The default PDO set of a board type, as the OD table defines it."""

    board: str
    rpdos: tuple[Pdo, ...]
    tpdos: tuple[Pdo, ...]

    def select(self, transmit: bool, numbers: tuple[int, ...] | None) -> tuple[Pdo, ...]:
        """The PDOs the host exchanges: the given numbers, or the ones enabled by default."""
        pdos = self.tpdos if transmit else self.rpdos
        kind = "TPDO" if transmit else "RPDO"
        if numbers is None:
            return tuple(p for p in pdos if p.enabled and p.fields)
        by_num = {p.number: p for p in pdos}
        out = []
        for n in numbers:
            if n not in by_num or not by_num[n].fields:
                raise ConfigError(f"{self.board} board: {kind}{n} is not mapped (mapped: {sorted(by_num)})")
            out.append(by_num[n])
        return tuple(out)


def _record_dtype(pdos: tuple[Pdo, ...], extra: list[tuple[str, str]], board: str) -> np.dtype:
    names: list[str] = []
    formats: list[np.dtype] = []
    for p in pdos:
        for f in p.fields:
            if f.name in names:
                raise ConfigError(f"{board} board: object '{f.name}' is mapped twice in the selected PDOs")
            names.append(f.name)
            formats.append(f.dtype)
    for n, t in extra:
        names.append(n)
        formats.append(np.dtype(t))
    return np.dtype({"names": names, "formats": formats})  # packed: offsets follow sizes


def tx_dtype(layout: BoardLayout, rpdos: tuple[Pdo, ...]) -> np.dtype:
    """Command record: the selected RPDOs' fields, PDO after PDO, packed."""
    return _record_dtype(rpdos, [], layout.board)


def rx_dtype(layout: BoardLayout, tpdos: tuple[Pdo, ...]) -> np.dtype:
    """Reply record: the selected TPDOs' fields, packed, then ``fresh`` (u1 bit mask)."""
    return _record_dtype(tpdos, [("fresh", "u1")], layout.board)


def pdo_offsets(dtype: np.dtype, pdos: tuple[Pdo, ...]) -> np.ndarray:
    """Byte offset in the record of each PDO's first field (the PDO's bytes are contiguous)."""
    out = np.zeros(len(pdos), dtype=np.int32)
    for k, p in enumerate(pdos):
        off = dtype.fields[p.fields[0].name][1]
        for f in p.fields:
            if dtype.fields[f.name][1] != off:
                raise ConfigError(f"PDO{p.number}: field '{f.name}' is not contiguous in the record")
            off += f.dtype.itemsize
        out[k] = dtype.fields[p.fields[0].name][1]
    return out


def layout_from_table(table: object) -> BoardLayout:
    """Read the PDO communication (0x1400/0x1800 + k) and mapping (0x1600/0x1A00 + k) objects
    of an OD table (drivers.od.Table) into a BoardLayout: COB-ID base, valid bit, mapped entries."""
    board = str(getattr(table, "board", "?"))
    objects = table.objects
    out: dict[bool, list[Pdo]] = {False: [], True: []}
    for transmit, comm_base, map_base in ((False, 0x1400, 0x1600), (True, 0x1800, 0x1A00)):
        for k in range(512):
            comm, mapping = objects.get(comm_base + k), objects.get(map_base + k)
            if comm is None or mapping is None:
                break
            cob = int(comm.sub(1).default)
            count = int(mapping.sub(0).default)
            fields = []
            for m in range(1, count + 1):
                word = int(mapping.sub(m).default)
                index, subindex, bits = word >> 16, (word >> 8) & 0xFF, word & 0xFF
                entry = table.entry(index, subindex)
                dt = np.dtype(entry.np_dtype) if entry.np_dtype else None
                if dt is None or dt.itemsize * 8 != bits:
                    raise ConfigError(
                        f"{board} board: PDO mapping 0x{map_base + k:04X}sub{m} = 0x{word:08X} maps "
                        f"'{entry.name}' with {bits} bits; only whole numeric objects can be mapped"
                    )
                fields.append(PdoField(entry.name, index, subindex, dt))
            out[transmit].append(
                Pdo(k + 1, transmit, cob & 0x7FF, not (cob & PDO_NOT_VALID), tuple(fields))
            )
    return BoardLayout(board, tuple(out[False]), tuple(out[True]))


def packed(base: BoardLayout) -> BoardLayout:
    """CANopen FD packing of ``base``: RPDO1 carries every object of the enabled RPDOs and TPDO1
    every object of the enabled TPDOs (in their order), the other PDOs are disabled. One command
    and one reply frame per board and tick (e.g. 15 and 24 bytes for the joint board) instead of
    2 + 3: the arbitration-phase overhead of 3 frames disappears. Needs boards with a CAN FD table
    (64 mapping entries); :meth:`CanTransport.start` writes the mapping by SDO."""

    def pack(pdos: tuple[Pdo, ...]) -> tuple[Pdo, ...]:
        fields = tuple(f for p in pdos if p.enabled for f in p.fields)
        return tuple(
            Pdo(p.number, p.transmit, p.cob_base, p.number == 1, fields if p.number == 1 else ())
            for p in pdos
        )

    return BoardLayout(base.board + "/packed", pack(base.rpdos), pack(base.tpdos))


CLASSIC_PAYLOAD = 8  # bytes: the data field of a classic CAN frame
COMPACT_RPDO = ("controlword", "target_position", "torque_offset")
COMPACT_TPDO = ("statusword", "position_actual", "torque_actual")


def _mappable(board: str) -> dict[str, Any]:
    """PDO-mappable numeric entries of ``board``'s OD table, by name (drivers/od.py)."""
    from cerebellum_rt.drivers import od

    return {e.name: e for e in od.build_table(board).entries() if e.pdo_mappable and e.is_numeric}


def _compact_fields(board: str, names: tuple[str, ...], transmit: bool) -> tuple[PdoField, ...]:
    kind = "TPDO1" if transmit else "RPDO1"
    if not names:
        raise ConfigError(f"compact {board} layout: {kind} has no fields (give 1 to 8 bytes of objects)")
    table = _mappable(board)
    out: list[PdoField] = []
    for name in names:
        e = table.get(name)
        if e is None:
            raise ConfigError(
                f"compact {board} layout: {kind} field '{name}' is not a PDO-mappable object of the "
                f"{board} board (mappable: {', '.join(sorted(table))})"
            )
        ok = e.access != "wo" if transmit else e.access in ("rw", "wo")
        if not ok:
            raise ConfigError(
                f"compact {board} layout: {kind} field '{name}' (0x{e.index:04X}, access "
                f"'{e.access}') cannot be mapped into a{' T' if transmit else 'n R'}PDO"
            )
        if any(f.name == name for f in out):
            raise ConfigError(f"compact {board} layout: {kind} field '{name}' is given twice")
        out.append(PdoField(name, e.index, e.subindex, np.dtype(e.np_dtype)))
    size = sum(f.dtype.itemsize for f in out)
    if size > CLASSIC_PAYLOAD:
        detail = " + ".join(f"{f.name} {f.dtype.itemsize}" for f in out)
        raise ConfigError(
            f"compact {board} layout: {kind} fields ({detail}) take {size} bytes, more than the "
            f"{CLASSIC_PAYLOAD}-byte limit of a classic CAN frame"
        )
    return tuple(out)


def compact(base: BoardLayout, rpdo_fields: tuple[str, ...] = COMPACT_RPDO,
            tpdo_fields: tuple[str, ...] = COMPACT_TPDO) -> BoardLayout:
    """Classic-CAN compact layout of ``base``: RPDO1 carries exactly ``rpdo_fields`` and TPDO1
    exactly ``tpdo_fields`` (names of PDO-mappable objects of the board's OD table, in frame
    order), the other PDOs are disabled. One command and one reply frame per board and tick, as
    classic-CAN humanoid buses run: the default joint fields are 2 + 4 + 2 = 8 bytes each way
    (controlword, target_position, torque_offset / statusword, position_actual, torque_actual),
    against 2 RPDOs + 3 TPDOs (38 bytes) of the default mapping.

    Objects left out of RPDO1 keep the value last written by SDO: in particular
    ``modes_of_operation`` (0x6060) is not in the compact RPDO, so the host sets it by SDO once
    before enabling the drive (``CanTransport.start(mode=8)`` does). :meth:`CanTransport.start`
    writes this mapping into the boards by SDO (pre-operational, CiA 301 sequence).

    ConfigError (naming the field, its size and the 8-byte limit) for an unknown or non-mappable
    field, a field mapped in the wrong direction, a repeated field, or more than 8 bytes."""
    board = base.board.split("/")[0]
    rf = _compact_fields(board, tuple(rpdo_fields), False)
    tf = _compact_fields(board, tuple(tpdo_fields), True)

    def one(pdos: tuple[Pdo, ...], fields: tuple[PdoField, ...]) -> tuple[Pdo, ...]:
        return tuple(
            Pdo(p.number, p.transmit, p.cob_base, p.number == 1, fields if p.number == 1 else ())
            for p in pdos
        )

    return BoardLayout(board + "/compact", one(base.rpdos, rf), one(base.tpdos, tf))


_CACHE: dict[str, BoardLayout] = {}


def board_layout(board: str = "joint") -> BoardLayout:
    """The default PDO layout of ``board`` ('joint', 'hand'), read from drivers/od.py's table."""
    if board not in _CACHE:
        from cerebellum_rt.drivers import od

        _CACHE[board] = layout_from_table(od.build_table(board))
    return _CACHE[board]
