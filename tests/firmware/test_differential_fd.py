"""CANopen FD in the C image against the Python board (both built from the fd=True table):
hypothesis-generated sequences of PDOs up to 64 bytes, remapping of RPDO1 / TPDO1 with up to 64
entries (and past the 512-bit limit), SDO, NMT and SYNC: identical replies frame for frame,
identical object dictionaries, and every frame sent as FD with bit-rate switch."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.firmware.differential import compare
from cerebellum_rt.drivers.od import build_table

TABLE = build_table("joint", fd=True)
NODE = 1
SDO = 0x600 + NODE
STATS = {"sequences": 0, "frames": 0, "replies": 0}


def _sdo(index: int, sub: int, value: int, size: int = 4) -> tuple:
    return ("frame", SDO, bytes([0x23 | ((4 - size) << 2), index & 0xFF, index >> 8, sub])
            + value.to_bytes(4, "little"), 0)


@st.composite
def remap(draw) -> list:
    """RPDO1 (dummies of 8 bits) or TPDO1 (statusword, 16 bits) remapped with n entries."""
    tx = draw(st.booleans())
    n = draw(st.integers(1, 66))
    comm, mapping = (0x1800, 0x1A00) if tx else (0x1400, 0x1600)
    cob = 0x180 + NODE if tx else 0x200 + NODE
    entry = (0x6041 << 16) | 16 if tx else (0x0005 << 16) | 8
    ev = [_sdo(comm, 1, 0x80000000 | cob), _sdo(mapping, 0, 0, 1)]
    ev += [_sdo(mapping, k, entry) for k in range(1, min(n, 64) + 1)]
    ev += [_sdo(mapping, 0, n, 1), _sdo(comm, 1, cob)]
    return ev


pdo = st.builds(lambda cob, d: [("frame", cob + NODE, d, 0)], st.sampled_from([0x200, 0x300, 0x400, 0x500]),
                st.binary(min_size=0, max_size=64))
sync = st.just([("frame", 0x080, b"", 0)])
wait = st.builds(lambda us: [("wait", us)], st.sampled_from([997, 3_001, 100_003]))
upload = st.builds(lambda e: [("frame", SDO, bytes([0x40]) + struct.pack("<HB", e.index, e.subindex) + bytes(4), 0)],
                   st.sampled_from(list(TABLE.entries())))
prefix = [("frame", 0, b"\x01\x00", 0), ("frame", 0x080, b"", 0),
          *[("frame", 0x200 + NODE, struct.pack("<HbI", cw, 8, 0), 0) for cw in (0x06, 0x07, 0x0F)],
          ("frame", 0x080, b"", 0)]
sequence = st.builds(lambda parts: prefix + [e for p in parts for e in p],
                     st.lists(st.one_of(remap(), pdo, pdo, sync, sync, wait, upload), min_size=4, max_size=25))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(sequence)
def test_fd_traffic_gives_identical_replies_and_object_dictionary(events):
    res = compare(events, NODE, TABLE)
    k = res["first_reply_difference"]
    assert k is None, (f"event {k - 1 if k else 'boot'}: {events[k - 1] if k else None}\n"
                       f"  python: {res['python'][k]}\n  c:      {res['c'][k]}")
    assert res["od_difference"] == []
    assert res["c_frame_formats"] == res["python_frame_formats"]
    assert res["c_frame_formats"]["classic"] == 0 and res["c_frame_formats"]["fd"] > 0
    STATS["sequences"] += 1
    STATS["frames"] += res["frames_in"]
    STATS["replies"] += res["frames_out"]


def test_fd_report_counts_and_long_pdos_seen():
    """Runs after the property: figures for the report; a 64-entry TPDO really is 64 bytes long."""
    assert STATS["sequences"] >= 40, STATS
    ev = [*prefix[:1], _sdo(0x1800, 1, 0x80000000 | 0x181), _sdo(0x1A00, 0, 0, 1),
          *[_sdo(0x1A00, k, (0x6041 << 16) | 16) for k in range(1, 33)], _sdo(0x1A00, 0, 32, 1),
          _sdo(0x1800, 1, 0x181), ("frame", 0x080, b"", 0)]
    res = compare(ev, NODE, TABLE)
    assert res["first_reply_difference"] is None
    tpdo = [d for rep in res["c"] for cob, d in rep if cob == 0x181]
    assert tpdo and len(tpdo[-1]) == 64
    print(f"\nFD differential: {STATS['sequences']} sequences, {STATS['frames']} frames in, "
          f"{STATS['replies']} reply frames, all identical")
