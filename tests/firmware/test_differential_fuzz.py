"""The C firmware against its specification, the Python board: hypothesis-generated NMT / SDO /
PDO / SYNC / heartbeat traffic, malformed frames included, must give identical replies frame
for frame and identical object dictionaries afterwards (lockstep, virtual clock)."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.firmware.differential import compare
from cerebellum_rt.drivers.od import build_table

TABLE = build_table("joint")
ENTRIES = [(e.index, e.subindex, e.bits // 8) for e in TABLE.entries()]
NODE = 1
SDO = 0x600 + NODE
# waits are odd numbers of µs so that no event lands exactly on a timer deadline (the Python board
# keeps time in float seconds, the image in integer µs: a tie could round either way)
WAITS = st.sampled_from([997, 3_001, 10_007, 50_021, 100_003, 250_007, 1_000_003])
STATS = {"sequences": 0, "frames": 0, "replies": 0}

key = st.one_of(st.sampled_from(ENTRIES), st.tuples(st.integers(0, 0xFFFF), st.integers(0, 255), st.just(4)))


@st.composite
def sdo_frame(draw) -> tuple:
    index, sub, size = draw(key)
    idx = struct.pack("<HB", index, sub)
    kind = draw(st.sampled_from(["exp_dl", "exp_dl", "exp_dl_nosize", "upload", "upload", "seg_dl_init",
                                 "segment", "blk_dl_init", "blk_ul_init", "blk_cmd", "abort", "raw"]))
    value = draw(st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 3, 6, 7, 15, 0x80, 0x65766173,
                                                                       0x64616F6C, 0x80000000 | 0x200 + NODE])))
    v = struct.pack("<I", value)
    if kind == "exp_dl":
        n = 4 - (size if 1 <= size <= 4 else draw(st.integers(1, 4)))
        data = bytes([0x23 | (n << 2)]) + idx + v
    elif kind == "exp_dl_nosize":
        data = bytes([0x22]) + idx + v
    elif kind == "upload":
        data = bytes([0x40]) + idx + bytes(4)
    elif kind == "seg_dl_init":
        data = bytes([draw(st.sampled_from([0x20, 0x21]))]) + idx + struct.pack("<I", draw(st.integers(0, 40)))
    elif kind == "segment":
        data = bytes([draw(st.integers(0, 0x1F)) | draw(st.sampled_from([0x00, 0x60]))]) + draw(st.binary(min_size=7, max_size=7))
    elif kind == "blk_dl_init":
        data = bytes([draw(st.sampled_from([0xC0, 0xC2, 0xC4, 0xC6]))]) + idx + struct.pack("<I", draw(st.integers(0, 30)))
    elif kind == "blk_ul_init":
        data = bytes([draw(st.sampled_from([0xA0, 0xA4]))]) + idx + bytes([draw(st.integers(0, 130)), draw(st.integers(0, 8))]) + bytes(2)
    elif kind == "blk_cmd":
        data = bytes([draw(st.sampled_from([0xA3, 0xA2, 0xA1, 0xC1, 0xC5, 0xDD, 0x81, 0x01, 0x02, 0x83]))]) + draw(st.binary(min_size=7, max_size=7))
    elif kind == "abort":
        data = bytes([0x80]) + idx + v
    else:
        data = draw(st.binary(min_size=8, max_size=8))
    if draw(st.integers(0, 19)) == 0:  # a wrong-length SDO frame
        data = data[: draw(st.integers(0, 7))] if draw(st.booleans()) else data + b"\x00"
    return ("frame", SDO, data, 0)


nmt = st.builds(lambda c, n, extra: ("frame", 0, bytes([c, n]) + extra, 0),
                st.sampled_from([0x01, 0x01, 0x02, 0x80, 0x81, 0x82, 0x03]), st.sampled_from([0, NODE, 2]),
                st.sampled_from([b"", b"", b"", b"\x00"]))
sync = st.builds(lambda d: ("frame", 0x080, d, 0), st.sampled_from([b"", b"", b"\x01", b"\x00\x00"]))
pdo = st.builds(lambda cob, d: ("frame", cob + NODE, d, 0), st.sampled_from([0x200, 0x300, 0x400, 0x500]),
                st.binary(min_size=0, max_size=9))
controlword_pdo = st.builds(lambda cw, mode: ("frame", 0x200 + NODE, struct.pack("<HbI", cw, mode, 0), 0),
                            st.sampled_from([0x06, 0x07, 0x0F, 0x02, 0x00, 0x80, 0x0F]), st.sampled_from([8, 9, 10, 0, 5]))
heartbeat = st.builds(lambda n, d: ("frame", 0x700 + n, d, 0), st.sampled_from([2, 5, 127]), st.sampled_from([b"\x05", b"\x7f", b""]))
odd = st.builds(lambda cob, d, f: ("frame", cob, d, f), st.integers(0, 0x7FF), st.binary(max_size=8), st.sampled_from([1, 2, 4]))
wait = st.builds(lambda us: ("wait", us), WAITS)
# configuration writes that open paths the random frames rarely reach: heartbeat consumer, RPDO deadline,
# event-driven TPDO, fault injection, store/restore
config = st.sampled_from([
    ("frame", SDO, bytes([0x23, 0x16, 0x10, 0x01]) + struct.pack("<I", (2 << 16) | 50), 0),
    ("frame", SDO, bytes([0x2B, 0x00, 0x14, 0x05]) + struct.pack("<I", 20), 0),
    ("frame", SDO, bytes([0x2F, 0x00, 0x18, 0x02, 0xFE, 0, 0, 0]), 0),
    ("frame", SDO, bytes([0x2B, 0x40, 0x20, 0x00, 0x10, 0x23, 0, 0]), 0),
    ("frame", SDO, bytes([0x2B, 0x40, 0x20, 0x00, 0x00, 0x00, 0, 0]), 0),
    ("frame", SDO, bytes([0x23, 0x10, 0x10, 0x01]) + struct.pack("<I", 0x65766173), 0),
    ("frame", SDO, bytes([0x23, 0x11, 0x10, 0x01]) + struct.pack("<I", 0x64616F6C), 0),
    ("frame", SDO, bytes([0x2F, 0x60, 0x60, 0x00, 0x09, 0, 0, 0]), 0),
    ("frame", SDO, bytes([0x2B, 0x17, 0x10, 0x00, 0x00, 0, 0, 0]), 0),
    ("frame", 0, b"\x01\x00", 0),
])
event = st.one_of(sdo_frame(), sdo_frame(), nmt, sync, sync, pdo, controlword_pdo, controlword_pdo, heartbeat, odd,
                  wait, wait, config)


def _crc(data: bytes) -> int:
    import binascii

    return binascii.crc_hqx(data, 0)


@st.composite
def transaction(draw) -> list:
    """A whole SDO transfer (segmented or block, download or upload), sometimes broken on purpose."""
    target = draw(st.sampled_from([(0x2050, 0), (0x1008, 0), (0x1018, 1), (0x1600, 1), (0x6040, 0), (0x2010, 1)]))
    idx = struct.pack("<HB", *target)
    payload = draw(st.binary(min_size=0, max_size=40))
    breakage = draw(st.sampled_from(["none", "none", "none", "toggle", "size", "crc", "seqno", "short"]))
    ev = []
    kind = draw(st.sampled_from(["seg_dl", "blk_dl", "seg_ul", "blk_ul"]))
    if kind == "seg_dl":
        size = len(payload) + (1 if breakage == "size" else 0)
        ev.append(bytes([0x21]) + idx + struct.pack("<I", size))
        chunks = [payload[k : k + 7] for k in range(0, len(payload), 7)] or [b""]
        for k, c in enumerate(chunks):
            t = (k & 1) ^ (1 if breakage == "toggle" and k == len(chunks) - 1 else 0)
            last = k == len(chunks) - 1
            ev.append(bytes([(t << 4) | ((7 - len(c)) << 1) | int(last)]) + c.ljust(7, b"\0"))
    elif kind == "blk_dl":
        blk = 127
        ev.append(bytes([0xC6]) + idx + struct.pack("<I", len(payload)))
        chunks = [payload[k : k + 7] for k in range(0, len(payload), 7)] or [b""]
        for k, c in enumerate(chunks):
            seq = (k % blk) + 1 + (1 if breakage == "seqno" and k == 1 else 0)
            ev.append(bytes([seq | (0x80 if k == len(chunks) - 1 else 0)]) + c.ljust(7, b"\0"))
        n = (7 - len(chunks[-1])) % 7 if payload else 7
        crc = _crc(payload) ^ (1 if breakage == "crc" else 0)
        ev.append(bytes([0xC1 | (n << 2)]) + struct.pack("<H", crc) + bytes(5))
    elif kind == "seg_ul":
        ev.append(bytes([0x40]) + idx + bytes(4))
        for k in range(draw(st.integers(1, 8))):
            t = (k & 1) ^ (1 if breakage == "toggle" and k == 2 else 0)
            ev.append(bytes([0x60 | (t << 4)]) + bytes(7))
    else:
        blksize = draw(st.integers(1, 5))
        ev.append(bytes([0xA4]) + idx + bytes([blksize, 0]) + bytes(2))
        ev.append(bytes([0xA3]) + bytes(7))
        for _ in range(draw(st.integers(1, 6))):
            ack = draw(st.integers(0, blksize + (1 if breakage == "seqno" else 0)))
            ev.append(bytes([0xA2, ack, draw(st.integers(1, 5))]) + bytes(5))
        ev.append(bytes([0xA1]) + bytes(7))
    if breakage == "short":
        ev = ev[: max(1, len(ev) // 2)]
    return [("frame", SDO, d, 0) for d in ev]


enable_prefix = [("frame", 0, b"\x01\x00", 0), ("frame", 0x080, b"", 0),
                 *[("frame", 0x200 + NODE, struct.pack("<HbI", cw, 8, 0), 0) for cw in (0x06, 0x07, 0x0F)],
                 ("frame", 0x080, b"", 0), ("frame", 0x080, b"", 0), ("frame", 0x080, b"", 0)]
sequence = st.builds(lambda pre, parts: (enable_prefix if pre else []) + [e for p in parts for e in p],
                     st.booleans(), st.lists(st.one_of(event.map(lambda e: [e]), transaction()), min_size=5, max_size=40))


def _check(events: list) -> dict:
    res = compare(events, NODE, TABLE)
    k = res["first_reply_difference"]
    assert k is None, (f"event {k - 1 if k else 'boot'}: {events[k - 1] if k else None}\n"
                       f"  python: {res['python'][k]}\n  c:      {res['c'][k]}")
    assert res["od_difference"] == [], {e: (res["python_od"][e], res["c_od"][e]) for e in res["od_difference"][:5]}
    assert res["python_state"] == res["c_state"]
    STATS["sequences"] += 1
    STATS["frames"] += res["frames_in"]
    STATS["replies"] += res["frames_out"]
    return res


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(sequence)
def test_random_traffic_gives_identical_replies_and_object_dictionary(events):
    _check(events)


def test_report_counts():
    """Runs after the property (file order): the figures for the report."""
    assert STATS["sequences"] >= 100, STATS
    print(f"\ndifferential fuzz: {STATS['sequences']} sequences, {STATS['frames']} frames in, "
          f"{STATS['replies']} reply frames, all identical")


def test_negative_control_a_different_image_is_detected():
    """The comparison can fail: a C image built from another table (peak torque 50 instead of
    60 N·m) answers the upload of 0x6072 differently, and its object dictionary differs."""
    from cerebellum_rt.drivers.od import JointRatings

    events = [("frame", SDO, bytes([0x40, 0x72, 0x60, 0, 0, 0, 0, 0]), 0)]
    same = compare(events, NODE, TABLE)
    assert same["first_reply_difference"] is None and same["od_difference"] == []
    other = compare(events, NODE, TABLE, c_table=build_table("joint", ratings=JointRatings(peak_torque_nm=50.0)))
    assert other["first_reply_difference"] == 1
    assert (0x6072, 0) in other["od_difference"]
