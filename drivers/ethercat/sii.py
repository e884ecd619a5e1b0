"""The SII EEPROM image of a board type (IEC 61158-6-12 SII, CANOPEN.md §7.3), from its layout.

Words 0x00-0x3F: ESC configuration (PDI control ... checksum at word 7, CRC-8 poly 0x07 init
0xFF over bytes 0-13), identity (vendor, product, revision, serial), bootstrap and standard
mailboxes (the same areas: BOOT serves FoE only), mailbox protocols (CoE, FoE), size and
version. From word 0x40 the categories: strings (10), general (30), FMMU (40), SyncManager (41), TxPDO (50), RxPDO (51), end (0xFFFF).
"""

from __future__ import annotations

import struct

from cerebellum_rt.drivers.ethercat.layout import COE_TYPES, MBX_IN, MBX_OUT, SlaveLayout

CAT_STRINGS, CAT_GENERAL, CAT_FMMU, CAT_SYNCM, CAT_TXPDO, CAT_RXPDO, CAT_END = 10, 30, 40, 41, 50, 51, 0xFFFF
MBX_COE, MBX_FOE = 0x0004, 0x0008
# CoE details (general category byte 5): bit 0 SDO, 1 SDO info, 2 PDO assign, 3 PDO config, 5 complete
# access. Ours: SDO and complete access (0x1C12/0x1C13 and the mappings are read, not configured).
COE_DETAILS = 0x01 | 0x20


def crc8(data: bytes) -> int:
    """SII configuration checksum: CRC-8, polynomial 0x07, init 0xFF, no reflection."""
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class _Strings:
    def __init__(self) -> None:
        self.items: list[bytes] = []

    def add(self, text: str) -> int:
        raw = text.encode("ascii", "replace")[:255]
        if raw in self.items:
            return self.items.index(raw) + 1
        self.items.append(raw)
        return len(self.items)

    def data(self) -> bytes:
        out = bytearray([len(self.items)])
        for s in self.items:
            out += bytes([len(s)]) + s
        return bytes(out)


def _category(kind: int, data: bytes) -> bytes:
    if len(data) % 2:
        data += b"\0"
    return struct.pack("<HH", kind, len(data) // 2) + data


def config_words(layout: SlaveLayout, serial: int = 0) -> bytes:
    """Words 0x00-0x3F (128 bytes) without the size word (set by :func:`sii_image`)."""
    head = struct.pack("<HHHHH", 0x0000, 0x0000, 0x0000, 0x0000, 0x0000) + b"\0\0\0\0"
    head += bytes([crc8(head), 0])
    ident = struct.pack("<IIII", layout.vendor_id, layout.product_code, layout.revision, serial & 0xFFFFFFFF)
    mbx = struct.pack("<8H", *MBX_OUT, *MBX_IN, *MBX_OUT, *MBX_IN)
    body = head + ident + b"\0" * 8 + mbx + struct.pack("<H", MBX_COE | MBX_FOE)
    return body.ljust(0x7C, b"\0")


def _pdo_category(layout: SlaveLayout, tx: bool, strings: _Strings) -> bytes:
    out = bytearray()
    for pdo in layout.tx if tx else layout.rx:
        out += struct.pack("<HBBBBH", pdo.index, len(pdo.entries), 3 if tx else 2, 0, strings.add(pdo.name), 0)
        for e in pdo.entries:
            out += struct.pack("<HBBBBH", e.index, e.subindex, strings.add(e.name), COE_TYPES[e.dtype], e.bits, 0)
    return bytes(out)


def sii_image(layout: SlaveLayout, serial: int = 0) -> bytes:
    """The whole EEPROM content (bytes, a power-of-two kbit size, unused bytes 0xFF)."""
    strings = _Strings()
    name = strings.add(layout.name)  # SOEM takes string 1 as the slave's name
    group = strings.add("cerebellum")
    order = strings.add(f"cerebellum-{layout.board}")
    general = bytearray(32)
    general[0], general[1], general[2], general[3] = group, 0, order, name
    general[5] = COE_DETAILS
    general[9] = 1  # one CiA 402 channel
    general[11] = 0  # flags: LRW allowed, no SafeOp-only operation
    struct.pack_into("<h", general, 12, 0)  # E-bus current, mA
    fmmu = bytes([0x01, 0x02, 0x03, 0xFF])
    syncm = b"".join(struct.pack("<HHBBBB", start, length, ctrl, 0, 1 if length else 0, kind)
                     for start, length, ctrl, kind in layout.sync_managers())
    txpdo = _pdo_category(layout, True, strings)
    rxpdo = _pdo_category(layout, False, strings)
    cats = (_category(CAT_STRINGS, strings.data()) + _category(CAT_GENERAL, bytes(general))
            + _category(CAT_FMMU, fmmu) + _category(CAT_SYNCM, syncm)
            + _category(CAT_TXPDO, txpdo) + _category(CAT_RXPDO, rxpdo) + struct.pack("<H", CAT_END))
    used = 0x80 + len(cats)
    kbit = 1
    while kbit * 128 < used:
        kbit *= 2
    words = config_words(layout, serial) + struct.pack("<HH", kbit - 1, 1)
    return (words + cats).ljust(kbit * 128, b"\xff")
