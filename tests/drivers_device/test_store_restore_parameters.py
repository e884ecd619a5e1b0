"""Store (0x1010) and restore-defaults (0x1011) parameters: the emulated board keeps its flash in a
file, so power-cycling it (a new board object on the same file) keeps what was stored."""

from __future__ import annotations

import struct

import can

from cerebellum_rt.drivers.board import JointBoard
from cerebellum_rt.drivers.od import RESTORE_SIGNATURE, STORE_SIGNATURE

from .conftest import NODE, Lockstep


def dl(index: int, sub: int, data: bytes) -> bytes:
    return struct.pack("<BHB", 0x23 | ((4 - len(data)) << 2), index, sub) + data.ljust(4, b"\0")


def ul(ls: Lockstep, index: int, sub: int = 0) -> bytes:
    return ls.sdo(struct.pack("<BHB4x", 0x40, index, sub))[0]


def power_cycle(ls: Lockstep, path) -> Lockstep:
    ch = ls.bus.channel_info
    ls.close()
    new = Lockstep(ch + "-again", storage_path=path)
    new.drain()
    return new


def test_store_survives_power_cycle_and_restore_needs_a_reset(channel, tmp_path):
    path = tmp_path / "flash.json"
    ls = Lockstep(channel, storage_path=path)
    ls.drain()
    assert ls.sdo(dl(0x605A, 0, struct.pack("<h", 6)))[0][0] == 0x60
    assert ls.sdo(dl(0x1017, 0, struct.pack("<H", 250)))[0][0] == 0x60
    assert ls.sdo(dl(0x1010, 1, struct.pack("<I", STORE_SIGNATURE)))[0][0] == 0x60
    assert ls.sdo(dl(0x605A, 0, struct.pack("<h", 1)))[0][0] == 0x60  # changed after the store
    assert path.exists()
    ls = power_cycle(ls, path)
    try:
        assert ul(ls, 0x605A)[4:6] == struct.pack("<h", 6)
        assert ul(ls, 0x1017)[4:6] == struct.pack("<H", 250)
        # restore application defaults: active after the next reset, communication values kept
        assert ls.sdo(dl(0x1011, 3, struct.pack("<I", RESTORE_SIGNATURE)))[0][0] == 0x60
        assert ul(ls, 0x605A)[4:6] == struct.pack("<h", 6)
        boot = ls.exchange(0x000, bytes([0x81, NODE]))  # NMT reset node
        assert any(m.arbitration_id == 0x700 + NODE and bytes(m.data) == b"\x00" for m in boot)
        assert ul(ls, 0x605A)[4:6] == struct.pack("<h", 2)
        assert ul(ls, 0x1017)[4:6] == struct.pack("<H", 250)
    finally:
        ls.close()


def test_store_reads_back_capability_and_pdo_mapping_persists(channel, tmp_path):
    path = tmp_path / "flash.json"
    ls = Lockstep(channel, storage_path=path)
    ls.drain()
    assert ul(ls, 0x1010, 1)[4:8] == struct.pack("<I", 1)  # saves on command
    ls.sdo(dl(0x1801, 1, struct.pack("<I", 0xC0000285)))  # TPDO2 off
    ls.sdo(dl(0x1A01, 0, b"\x00"))
    ls.sdo(dl(0x1A01, 1, struct.pack("<I", 0x60410010)))
    ls.sdo(dl(0x1A01, 0, b"\x01"))
    ls.sdo(dl(0x1801, 1, struct.pack("<I", 0x40000285)))
    ls.sdo(dl(0x1010, 2, struct.pack("<I", STORE_SIGNATURE)))  # communication parameters only
    ls = power_cycle(ls, path)
    try:
        assert ls.board.pdos.tpdos[1].entries == [(0x6041, 0, 16)]
    finally:
        ls.close()


def test_corrupt_flash_file_boots_with_defaults(channel, tmp_path):
    path = tmp_path / "flash.json"
    path.write_text('{"605Asub0": "x", "1017sub0": 99999999, "6060sub0": 3, "1006sub0": 2000')
    bus = can.Bus(interface="virtual", channel=channel)
    with JointBoard(NODE, bus, storage_path=path, threaded=False) as board:
        assert board.store.get(0x605A) == 2
        assert board.store.get(0x1006) == 1000
    bus.shutdown()
    path.write_text('{"605Asub0": "x", "1017sub0": 99999999, "6072sub0": 500}')
    bus = can.Bus(interface="virtual", channel=channel)
    with JointBoard(NODE, bus, storage_path=path, threaded=False) as board:
        assert board.store.get(0x605A) == 2  # wrong type: default
        assert board.store.get(0x1017) == 100  # out of range: default
        assert board.store.get(0x6072) == 500  # valid: used
    board.close()  # idempotent after the context manager closed it
    bus.shutdown()

