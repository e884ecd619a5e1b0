"""The same device model on CAN FD: 64-byte PDOs with up to 64 mapping entries, frames sent as
FD (bit-rate switch), SDO kept as the CiA 301 protocol in 8-byte frames (see drivers.board.node)."""

from __future__ import annotations

import struct

from .conftest import NODE, Lockstep


def dl(index: int, sub: int, value: int, size: int) -> bytes:
    return struct.pack("<BHB", 0x23 | ((4 - size) << 2), index, sub) + value.to_bytes(size, "little").ljust(4, b"\0")


def remap(ls: Lockstep, comm: int, mapi: int, cob: int, entries: list[tuple[int, int, int]]) -> list[int]:
    codes = []
    reqs = [dl(comm, 1, 0x80000000 | cob, 4), dl(mapi, 0, 0, 1)]
    reqs += [dl(mapi, k, (i << 16) | (s << 8) | b, 4) for k, (i, s, b) in enumerate(entries, 1)]
    reqs += [dl(mapi, 0, len(entries), 1), dl(comm, 1, cob, 4)]
    for req in reqs:
        resp = ls.sdo(req)
        codes.append(struct.unpack_from("<I", resp[0], 4)[0] if resp[0][0] == 0x80 else 0)
    return codes


BIG_TPDO = [(0x6041, 0, 16), (0x6061, 0, 8), (0x6064, 0, 32), (0x606C, 0, 32), (0x6077, 0, 16), (0x6078, 0, 16),
            (0x2001, 0, 32), (0x6074, 0, 16), (0x2002, 0, 16), (0x1001, 0, 8)]
BIG_RPDO = [(0x6040, 0, 16), (0x6060, 0, 8), (0x607A, 0, 32), (0x60B1, 0, 32), (0x60B2, 0, 16), (0x6071, 0, 16)]


def test_fd_board_sends_one_24_byte_tpdo_and_takes_a_15_byte_rpdo(channel):
    ls = Lockstep(channel, fd=True)
    try:
        ls.drain()
        assert set(remap(ls, 0x1800, 0x1A00, 0x180 + NODE, BIG_TPDO)) == {0}
        assert set(remap(ls, 0x1400, 0x1600, 0x200 + NODE, BIG_RPDO)) == {0}
        ls.exchange(0x000, bytes([0x01, NODE]))
        payload = struct.pack("<HbiihH", 0x06, 9, -123456, 4567, -12, 250)  # 15 bytes
        ls.send(0x200 + NODE, payload + b"\0", fd=True)  # padded to the FD length 16
        frames = ls.exchange(0x080, b"")
        frames = ls.exchange(0x080, b"")  # the second reply shows what the first SYNC applied
        tpdo = [m for m in frames if m.arbitration_id == 0x180 + NODE]
        assert len(tpdo) == 1 and tpdo[0].is_fd and tpdo[0].bitrate_switch
        assert len(tpdo[0].data) == 24
        sw, mode = struct.unpack_from("<Hb", tpdo[0].data)
        assert mode == 9 and sw & 0x6F == 0x21  # ready to switch on after the shutdown command
        assert ls.board.store.get(0x607A) == -123456 and ls.board.store.get(0x6071) == 250
        assert not any(m.arbitration_id == 0x80 + NODE for m in frames)  # padding is no length error
    finally:
        ls.close()


def test_classic_board_refuses_the_fd_mapping_and_flags_short_rpdos(lockstep):
    codes = remap(lockstep, 0x1800, 0x1A00, 0x180 + NODE, BIG_TPDO[:8])  # 8 entries: the classic maximum
    assert 0x06040042 in codes  # more than 64 bits in a classic frame
    lockstep.exchange(0x000, bytes([0x01, NODE]))
    frames = lockstep.exchange(0x200 + NODE, b"\x06\x00")  # RPDO1 needs 7 bytes
    emcy = [struct.unpack_from("<H", bytes(m.data))[0] for m in frames if m.arbitration_id == 0x80 + NODE]
    assert emcy == [0x8210]
