"""Store / restore (0x1010 / 0x1011) of the C image into its flash file: parameters survive a power
cycle (a new board on the same file), "load" brings the defaults back after a reset, and a save
cut by a power loss (the new sector's header never written, or its records corrupted) leaves the
previous image in force."""

from __future__ import annotations

import struct

from cerebellum_rt.drivers.firmware.differential import LockstepBoard

NODE = 1
SDO = 0x600 + NODE
SAVE, LOAD = 0x65766173, 0x64616F6C
SECTOR = 8192


def _write(b: LockstepBoard, index: int, sub: int, value: int, size: int = 2) -> list:
    cmd = {1: 0x2F, 2: 0x2B, 4: 0x23}[size]
    return b.run([("frame", SDO, struct.pack("<BHB", cmd, index, sub) + value.to_bytes(4, "little"), 0)])[0]


def _hb(b: LockstepBoard) -> int:
    return int.from_bytes(b.board.od_read(0x1017, 0), "little")


def test_parameters_survive_a_power_cycle_and_restore_brings_defaults(tmp_path):
    flash = tmp_path / "flash.bin"
    b = LockstepBoard("c", NODE, storage_path=flash)
    b.boot()
    assert _write(b, 0x1017, 0, 250) == [(0x581, bytes([0x60, 0x17, 0x10, 0, 0, 0, 0, 0]))]
    assert _write(b, 0x1010, 1, SAVE, 4)[0][1][0] == 0x60
    b.close()
    assert flash.stat().st_size == 2 * SECTOR
    b = LockstepBoard("c", NODE, storage_path=flash)  # power cycle
    b.boot()
    assert _hb(b) == 250
    assert _write(b, 0x1011, 1, LOAD, 4)[0][1][0] == 0x60
    assert _hb(b) == 250  # restore takes effect at the next reset
    b.run([("frame", 0, bytes([0x81, NODE]), 0)])
    assert _hb(b) == 100
    b.close()


def test_a_save_cut_by_power_loss_keeps_the_previous_image(tmp_path):
    flash = tmp_path / "flash.bin"
    b = LockstepBoard("c", NODE, storage_path=flash)
    b.boot()
    _write(b, 0x1017, 0, 250)
    _write(b, 0x1010, 1, SAVE, 4)  # sequence 1 -> sector 0
    _write(b, 0x1017, 0, 500)
    _write(b, 0x1010, 1, SAVE, 4)  # sequence 2 -> sector 1
    b.close()
    image = bytearray(flash.read_bytes())
    seqs = [struct.unpack_from("<II", image, s)[1] for s in (0, SECTOR)]
    assert seqs == [1, 2]
    good = LockstepBoard("c", NODE, storage_path=flash)
    good.boot()
    assert _hb(good) == 500
    good.close()
    cut = bytearray(image)
    cut[SECTOR : SECTOR + 16] = b"\xff" * 16  # the header is written last: a cut before it
    flash.write_bytes(cut)
    b = LockstepBoard("c", NODE, storage_path=flash)
    b.boot()
    assert _hb(b) == 250
    b.close()
    torn = bytearray(image)
    torn[SECTOR + 16 + 8] ^= 0x01  # a record bit lost: the sector's CRC fails
    flash.write_bytes(torn)
    b = LockstepBoard("c", NODE, storage_path=flash)
    b.boot()
    assert _hb(b) == 250
    b.close()
    flash.write_bytes(b"\xff" * (2 * SECTOR))  # negative control: an erased flash gives the default
    b = LockstepBoard("c", NODE, storage_path=flash)
    b.boot()
    assert _hb(b) == 100
    b.close()


def test_a_can_fd_board_saves_and_restores_its_parameters(tmp_path):
    """The CAN-FD table (64-entry PDO mappings: ~9.3 KB if every persistent entry were kept) saves
    into one 8 KiB sector: only values off their defaults get a record; a value set back to its
    default and saved again loads as the default."""
    from cerebellum_rt.drivers.od import build_table

    table = build_table("joint", fd=True)
    flash = tmp_path / "flash.bin"
    b = LockstepBoard("c", NODE, table=table, storage_path=flash)
    b.boot()
    _write(b, 0x1017, 0, 250)
    assert _write(b, 0x1010, 1, SAVE, 4)[0][1][0] == 0x60  # accepted (was abort 0x08000020)
    b.close()
    records = struct.unpack_from("<I", flash.read_bytes(), 8)[0]
    assert 0 < records < SECTOR // 4  # sparse: far below the ~9.3 KB of a full copy
    b = LockstepBoard("c", NODE, table=table, storage_path=flash)
    b.boot()
    assert _hb(b) == 250
    _write(b, 0x1017, 0, 100)  # back to the default, saved: no record for it any more
    assert _write(b, 0x1010, 1, SAVE, 4)[0][1][0] == 0x60
    b.close()
    b = LockstepBoard("c", NODE, table=table, storage_path=flash)
    b.boot()
    assert _hb(b) == 100
    b.close()
