"""The EtherCAT view of a board's object dictionary: identity, process data and SyncManagers.

One source (the :mod:`cerebellum_rt.drivers.od` table) for the SII EEPROM, the ESI XML, the
emulated slave and the master: the PDOs assigned to SM2 (0x1C12) / SM3 (0x1C13) are the table's
PDOs that are valid by default (the same process data as on CAN), in mapping order.
"""

from __future__ import annotations

from dataclasses import dataclass

from cerebellum_rt.drivers.od import PDO_NOT_VALID, Table, build_table

MBX_OUT = (0x1000, 128)  # SM0: master -> slave mailbox (start, length)
MBX_IN = (0x1080, 128)  # SM1: slave -> master mailbox
PD_OUT_START = 0x1100  # SM2: outputs (RxPDOs)
PD_IN_START = 0x1180  # SM3: inputs (TxPDOs)
SM_CONTROL = {0: 0x26, 1: 0x22, 2: 0x64, 3: 0x20}  # mailbox out/in, 3-buffer out (+watchdog) / in
COE_TYPES = {"BOOLEAN": 0x0001, "INTEGER8": 0x0002, "INTEGER16": 0x0003, "INTEGER32": 0x0004,
             "UNSIGNED8": 0x0005, "UNSIGNED16": 0x0006, "UNSIGNED32": 0x0007, "REAL32": 0x0008,
             "VISIBLE_STRING": 0x0009, "OCTET_STRING": 0x000A, "DOMAIN": 0x000F}


@dataclass(frozen=True)
class PdoEntry:
    index: int
    subindex: int
    bits: int
    dtype: str
    name: str


@dataclass(frozen=True)
class Pdo:
    index: int  # 0x16xx (RxPDO, outputs) or 0x1Axx (TxPDO, inputs)
    name: str
    entries: tuple[PdoEntry, ...]

    @property
    def bytes(self) -> int:
        return sum(e.bits for e in self.entries) // 8


@dataclass(frozen=True)
class SlaveLayout:
    """Everything about a board type that the EtherCAT side needs."""

    board: str
    table: Table
    vendor_id: int
    product_code: int
    revision: int
    name: str
    rx: tuple[Pdo, ...]
    tx: tuple[Pdo, ...]

    @property
    def out_bytes(self) -> int:
        return sum(p.bytes for p in self.rx)

    @property
    def in_bytes(self) -> int:
        return sum(p.bytes for p in self.tx)

    def sync_managers(self) -> list[tuple[int, int, int, int]]:
        """[(start, length, control byte, SII type)] for SM0-SM3."""
        return [(MBX_OUT[0], MBX_OUT[1], SM_CONTROL[0], 1), (MBX_IN[0], MBX_IN[1], SM_CONTROL[1], 2),
                (PD_OUT_START, self.out_bytes, SM_CONTROL[2], 3), (PD_IN_START, self.in_bytes, SM_CONTROL[3], 4)]


def _pdos(table: Table, tx: bool) -> tuple[Pdo, ...]:
    comm, base = (0x1800, 0x1A00) if tx else (0x1400, 0x1600)
    out = []
    for k in range(4):
        if base + k not in table.objects or int(table.entry(comm + k, 1).default) & PDO_NOT_VALID:
            continue
        mobj = table.objects[base + k]
        entries = []
        for e in mobj.entries[1 : int(mobj.entries[0].default) + 1]:
            idx, si = int(e.default) >> 16, (int(e.default) >> 8) & 0xFF
            m = table.entry(idx, si)
            entries.append(PdoEntry(idx, si, m.bits, m.dtype, m.name))
        if entries:
            out.append(Pdo(base + k, mobj.name, tuple(entries)))
    return tuple(out)


def slave_layout(board: str = "joint", table: Table | None = None) -> SlaveLayout:
    t = table or build_table(board)
    ident = t.objects[0x1018]
    return SlaveLayout(board, t, int(ident.sub(1).default), int(ident.sub(2).default), int(ident.sub(3).default),
                       str(t.objects[0x1008].entries[0].default), _pdos(t, False), _pdos(t, True))
