"""The board's SDO server against raw frames: every bad request gets the CiA 301 abort code,
frames the standard says to ignore are ignored, and hypothesis-generated garbage never crashes
the device (the frames go through the board's real frame handler on a virtual bus)."""

from __future__ import annotations

import struct

import can
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.od import JOINT

from .conftest import NODE, Lockstep

KNOWN_ABORTS = {
    0x05030000, 0x05040000, 0x05040001, 0x05040002, 0x05040003, 0x05040004, 0x06010000, 0x06010001,
    0x06010002, 0x06020000, 0x06040041, 0x06040042, 0x06070010, 0x06070012, 0x06070013, 0x06090011,
    0x06090030, 0x06090031, 0x06090032, 0x08000000, 0x08000020, 0x08000022,
}


def abort_code(resp: list[bytes]) -> int | None:
    assert len(resp) == 1, resp
    if resp[0][0] != 0x80:
        return None
    return struct.unpack_from("<I", resp[0], 4)[0]


def dl(index: int, sub: int, data: bytes) -> bytes:
    n = 4 - len(data)
    return struct.pack("<BHB", 0x23 | (n << 2), index, sub) + data.ljust(4, b"\0")


def ul(index: int, sub: int) -> bytes:
    return struct.pack("<BHB4x", 0x40, index, sub)


@pytest.mark.parametrize(("req", "code"), [
    (ul(0x1234, 0), 0x06020000),  # no object
    (ul(0x1018, 9), 0x06090011),  # no sub-index
    (dl(0x6041, 0, b"\x00\x00"), 0x06010002),  # read-only
    (dl(0x1000, 0, b"\x00\x00\x00\x00"), 0x06010002),  # const
    (dl(0x6071, 0, struct.pack("<h", 3001)), 0x06090031),  # above the hard limit
    (dl(0x6071, 0, struct.pack("<h", -3001)), 0x06090032),  # below
    (dl(0x6072, 0, struct.pack("<H", 3001)), 0x06090031),  # max torque cannot be widened
    (dl(0x6080, 0, struct.pack("<I", 2**31)), 0x06090031),  # nor the speed limit
    (dl(0x6060, 0, b"\x03"), 0x06090030),  # mode 3 (PV) not supported
    (dl(0x6040, 0, b"\x00\x00\x00\x00"), 0x06070012),  # 4 bytes into a u16
    (dl(0x6040, 0, b"\x00"), 0x06070013),  # 1 byte into a u16
    (dl(0x2010, 1, struct.pack("<f", float("nan"))), 0x06090030),  # NaN gain
    (dl(0x1010, 1, b"evas"), 0x08000020),  # wrong store signature
    (dl(0x1011, 1, b"xxxx"), 0x08000020),  # wrong restore signature
    (dl(0x1A00, 1, struct.pack("<I", 0x60410010)), 0x08000022),  # mapping while the TPDO is valid
    (dl(0x1400, 2, b"\xfc"), 0x06090030),  # RTR-only transmission type
    (dl(0x1003, 0, b"\x03"), 0x06090030),
    (dl(0x1801, 1, struct.pack("<I", 0x80000705)), 0x06090030),  # a heartbeat CAN-ID for a TPDO  # the error history can only be cleared (0)
    (dl(0x1006, 0, struct.pack("<I", 50)), 0x06090032),  # cycle below 100 us
    (bytes([0xE0]) + bytes(7), 0x05040001),  # command specifier 7
    (bytes([0x00]) + bytes(7), 0x05040001),  # download segment without a transfer
    (bytes([0x60]) + bytes(7), 0x05040001),  # upload segment without a transfer
    (struct.pack("<BHBBB2x", 0xA4, 0x1008, 0, 0, 0), 0x05040002),  # block upload, blksize 0
])
def test_bad_request_gets_its_abort_code(lockstep, req, code):
    assert abort_code(lockstep.sdo(req)) == code


def test_wrong_length_frames_are_ignored(lockstep):
    for n in range(8):
        assert lockstep.sdo(ul(0x1000, 0)[:n]) == []
    assert lockstep.sdo(ul(0x1000, 0)) == [bytes([0x43, 0x00, 0x10, 0x00, 0x92, 0x01, 0x02, 0x00])]


def test_segmented_toggle_size_and_timeout(lockstep):
    # toggle bit not alternated
    assert lockstep.sdo(struct.pack("<BHBI", 0x21, 0x2050, 0, 14)) == [struct.pack("<BHB4x", 0x60, 0x2050, 0)]
    assert lockstep.sdo(bytes([0x00]) + b"abcdefg") == [bytes([0x20]) + bytes(7)]
    assert abort_code(lockstep.sdo(bytes([0x00]) + b"hijklmn")) == 0x05030000
    # indicated size differs from the data
    lockstep.sdo(struct.pack("<BHBI", 0x21, 0x2050, 0, 20))
    assert abort_code(lockstep.sdo(bytes([0x01 | (2 << 1)]) + b"abcde\0\0")) == 0x06070010
    # a stalled transfer is aborted by the server after its timeout
    lockstep.sdo(struct.pack("<BHBI", 0x21, 0x2050, 0, 20))
    lockstep.advance(2.0)
    lockstep.board.poll()
    frames = [bytes(m.data) for m in lockstep.drain() if m.arbitration_id == 0x580 + NODE]
    assert frames == [struct.pack("<BHBI", 0x80, 0x2050, 0, 0x05040000)]


def test_block_download_crc_error(lockstep):
    data = bytes(range(20))
    assert lockstep.sdo(struct.pack("<BHBI", 0xC6, 0x2050, 0, len(data)))[0][0] == 0xA4
    segs = [data[i : i + 7] for i in range(0, 21, 7)]
    out = []
    for k, seg in enumerate(segs, 1):
        out += lockstep.sdo(bytes([k | (0x80 if k == 3 else 0)]) + seg.ljust(7, b"\0"))
    assert out == [bytes([0xA2, 3, 127]) + bytes(5)]
    assert abort_code(lockstep.sdo(struct.pack("<BH5x", 0xC1 | (1 << 2), 0xBEEF))) == 0x05040004


OD_KEYS = [(e.index, e.subindex) for e in JOINT.entries()]


@st.composite
def sdo_frames(draw):
    """8-byte SDO requests: a random command byte, a real or random object, random data."""
    cmd = draw(st.integers(0, 255))
    if draw(st.booleans()):
        index, sub = draw(st.sampled_from(OD_KEYS))
    else:
        index, sub = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 255))
    return struct.pack("<BHB", cmd, index, sub) + draw(st.binary(min_size=4, max_size=4))


frames = st.one_of(
    sdo_frames(),
    st.binary(min_size=0, max_size=8),
    st.binary(min_size=8, max_size=8),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.lists(frames, min_size=1, max_size=25))
def test_fuzzed_sdo_requests_never_crash_and_abort_with_a_cia301_code(channel, seq):
    ls = Lockstep(channel + str(hash(tuple(seq))))
    try:
        ls.drain()
        for req in seq:
            for resp in ls.sdo(req):
                assert len(resp) == 8
                if resp[0] == 0x80:
                    assert struct.unpack_from("<I", resp, 4)[0] in KNOWN_ABORTS
        ls.advance(2.0)  # any transfer left open times out
        ls.board.poll()
        ls.drain()
        assert ls.sdo(ul(0x1000, 0))[0][4:] == struct.pack("<I", 0x00020192)  # still serving
    finally:
        ls.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.lists(st.tuples(st.sampled_from([0x000, 0x080, 0x205, 0x305, 0x405, 0x705, 0x77F, 0x605, 0x123]),
                              st.binary(min_size=0, max_size=8)), min_size=1, max_size=30))
def test_fuzzed_frames_on_every_cob_id_never_crash(channel, seq):
    ls = Lockstep(channel + str(hash(tuple(seq))))
    try:
        ls.exchange(0x000, b"\x01\x00")  # operational: PDOs and SYNC are processed too
        for cob, data in seq:
            ls.send(cob, data)
            ls.advance(0.001)
            ls.board.poll()
        ls.drain()
        ls.exchange(0x000, b"\x80\x00")
        ls.advance(2.0)
        ls.board.poll()
        ls.drain()
        assert ls.sdo(ul(0x1000, 0))[0][4:] == struct.pack("<I", 0x00020192)
    finally:
        ls.close()


def test_remote_and_extended_frames_are_ignored(lockstep):
    lockstep.bus.send(can.Message(arbitration_id=0x600 + NODE, data=ul(0x1000, 0), is_extended_id=True))
    lockstep.bus.send(can.Message(arbitration_id=0x600 + NODE, is_remote_frame=True, dlc=8, is_extended_id=False))
    lockstep.board.poll()
    assert [m for m in lockstep.drain() if m.arbitration_id == 0x580 + NODE] == []


def test_block_download_repeats_after_a_lost_segment(lockstep):
    import binascii

    data = bytes(range(40))  # 6 segments (5 full + 5 bytes)
    assert lockstep.sdo(struct.pack("<BHBI", 0xC6, 0x2050, 0, len(data)))[0][:1] == b"\xa4"
    segs = [data[i : i + 7].ljust(7, b"\0") for i in range(0, len(data), 7)]
    out = []
    for k, seg in enumerate(segs, 1):
        if k == 3:
            continue  # lost on the bus
        out += lockstep.sdo(bytes([k | (0x80 if k == len(segs) else 0)]) + seg)
    assert out == [bytes([0xA2, 2, 127]) + bytes(5)]  # the last good one is 2: repeat from 3
    out = []
    for k, seg in enumerate(segs[2:], 1):
        out += lockstep.sdo(bytes([k | (0x80 if k == len(segs) - 2 else 0)]) + seg)
    assert out == [bytes([0xA2, 4, 127]) + bytes(5)]
    n = 7 * len(segs) - len(data)
    end = lockstep.sdo(struct.pack("<BH5x", 0xC1 | (n << 2), binascii.crc_hqx(data, 0)))
    assert end == [bytes([0xA1]) + bytes(7)]
    assert lockstep.board.store.get(0x2050) == data


def test_block_upload_repeats_from_the_client_ack(lockstep):
    import binascii

    data = bytes((7 * i) & 0xFF for i in range(30))
    lockstep.board.store.set(0x2050, 0, data)
    init = lockstep.sdo(struct.pack("<BHBBB2x", 0xA4, 0x2050, 0, 3, 0))  # blksize 3
    assert init == [struct.pack("<BHBI", 0xC6, 0x2050, 0, len(data))]
    first = lockstep.sdo(bytes([0xA3]) + bytes(7))
    assert [f[0] for f in first] == [1, 2, 3]
    again = lockstep.sdo(bytes([0xA2, 1, 3]) + bytes(5))  # only segment 1 arrived
    assert [f[0] for f in again] == [1, 2, 3] and again[0][1:] == data[7:14]
    rest = lockstep.sdo(bytes([0xA2, 3, 3]) + bytes(5))
    assert [f[0] for f in rest] == [1 | 0x80]  # the last (2 bytes) carries c = 1
    got = first[0][1:] + b"".join(f[1:] for f in again) + rest[0][1:]
    end = lockstep.sdo(bytes([0xA2, 1, 3]) + bytes(5))
    n = (end[0][0] >> 2) & 7
    assert end[0][0] & 0xE3 == 0xC1 and got[: len(got) - n] == data
    assert struct.unpack_from("<H", end[0], 1)[0] == binascii.crc_hqx(data, 0)
    assert lockstep.sdo(bytes([0xA1]) + bytes(7)) == []
