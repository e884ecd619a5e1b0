"""The hand board's C image (app_hand.c) against its specification (drivers/board/hand.py):
hypothesis traffic on the hand's object dictionary without a plant, then a grasp on the HandSim
plant behind each board (per-axis modes, tension targets, quick stop hold), identical replies
frame for frame and identical object dictionaries."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerebellum_rt.actuators.hand import HandSim
from cerebellum_rt.drivers.firmware.differential import compare
from cerebellum_rt.drivers.od import build_table

TABLE = build_table("hand")
NODE = 4
SDO = 0x600 + NODE
ENTRIES = [(e.index, e.subindex, e.bits // 8) for e in TABLE.entries()]


def _rpdo1(cw: int, t1: int = 0, t2: int = 0, t3: int = 0) -> tuple:
    return ("frame", 0x200 + NODE, struct.pack("<Hhhh", cw, t1, t2, t3), 0)


@st.composite
def sdo(draw) -> tuple:
    index, sub, size = draw(st.sampled_from(ENTRIES))
    value = draw(st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 3), st.integers(0, 30000)))
    n = 4 - size if 1 <= size <= 4 else 0
    cmd = draw(st.sampled_from([0x23 | (n << 2), 0x40]))
    return ("frame", SDO, struct.pack("<BHBI", cmd, index, sub, value if cmd != 0x40 else 0), 0)


event = st.one_of(
    sdo(), sdo(),
    st.builds(lambda c: ("frame", 0, bytes([c, NODE]), 0), st.sampled_from([0x01, 0x01, 0x02, 0x80, 0x81, 0x82])),
    st.just(("frame", 0x080, b"", 0)),
    st.builds(lambda cw, t: _rpdo1(cw, t, t, t), st.sampled_from([0x06, 0x07, 0x0F, 0x02, 0x80]), st.integers(0, 3000)),
    st.builds(lambda d: ("frame", 0x300 + NODE, d, 0), st.binary(max_size=8)),
    st.builds(lambda us: ("wait", us), st.sampled_from([997, 10_007, 100_003, 1_000_003])),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(event, min_size=5, max_size=40))
def test_hand_traffic_without_plant_is_identical(events):
    res = compare(events, NODE, TABLE)
    k = res["first_reply_difference"]
    assert k is None, f"reply {k}: python {res['python'][k]} c {res['c'][k]}"
    assert res["od_difference"] == []


def grasp() -> list:
    ev: list = [("frame", 0, bytes([0x01, NODE]), 0)]
    for cw in (0x06, 0x07, 0x0F):
        ev += [_rpdo1(cw), ("wait", 1001), ("frame", 0x080, b"", 0)]
    ev.append(("frame", SDO, struct.pack("<BHBI", 0x2F, 0x2100, 5, 1), 0))  # axis 5: screw position
    ev.append(("frame", SDO, struct.pack("<BHBI", 0x23, 0x2101, 5, 2000), 0))
    for k in range(80):
        t = min(k, 50) * 50
        ev += [_rpdo1(0x0F, t, t, t), ("frame", 0x300 + NODE, struct.pack("<hhh", t, t, t), 0), ("wait", 1001),
               ("frame", 0x080, b"", 0)]
    for _ in range(20):  # quick stop: every nut held where it was
        ev += [_rpdo1(0x02), ("wait", 1001), ("frame", 0x080, b"", 0)]
    return ev


def test_grasp_on_the_hand_plant_is_identical():
    res = compare(grasp(), NODE, TABLE, module_factory=lambda: HandSim("hand_prs6", obj=None))
    k = res["first_reply_difference"]
    assert k is None, f"reply {k}: python {res['python'][k]} c {res['c'][k]}"
    assert res["od_difference"] == []
    tensions = [struct.unpack_from("<h", d, 2)[0] for rep in res["python"] for cob, d in rep if cob == 0x180 + NODE]
    assert max(tensions) > 100  # the tendons were pulled (> 1 N): the comparison saw the plant respond
    print(f"\nhand plant differential: {res['frames_in']} frames in, {res['frames_out']} replies, identical")
