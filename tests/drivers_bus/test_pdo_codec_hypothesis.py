"""The compiled PDO codec against ``struct`` (an independent encoder), hypothesis-generated rows."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.can import codec
from cerebellum_rt.drivers.can.codec import FrameBuffer
from cerebellum_rt.drivers.can.layout import board_layout, rx_dtype, tx_dtype

LAY = board_layout("joint")
RPDOS = LAY.select(False, None)
TPDOS = LAY.select(True, None)
TXD, RXD = tx_dtype(LAY, RPDOS), rx_dtype(LAY, TPDOS)
FMT = {"u1": "B", "i1": "b", "<u2": "H", "<i2": "h", "<u4": "I", "<i4": "i"}


def _fmt(pdo) -> str:
    return "<" + "".join(FMT[f.dtype.str.replace("|", "")] for f in pdo.fields)


def _value(dt: np.dtype):
    info = np.iinfo(dt)
    return st.integers(int(info.min), int(info.max))


nodes_st = st.lists(st.integers(1, 127), min_size=1, max_size=12, unique=True)


@settings(max_examples=100, deadline=None)
@given(nodes_st, st.data())
def test_pack_matches_struct(nodes, data):
    tx = np.zeros(len(nodes), TXD)
    for name in TXD.names:
        tx[name] = [data.draw(_value(TXD[name])) for _ in nodes]
    node_ids = np.array(nodes, np.int32)
    cob = np.array([p.cob_base for p in RPDOS], np.int32)
    off = np.array([TXD.fields[p.fields[0].name][1] for p in RPDOS], np.int32)
    size = np.array([p.size for p in RPDOS], np.int32)
    fb = FrameBuffer(len(nodes) * len(RPDOS) + 1)
    rxb = np.zeros((len(nodes), RXD.itemsize), np.uint8)
    n = codec.pack_tick(codec.record_bytes(tx), node_ids, cob, off, size, np.uint8(0), 0x080, fb.ids, fb.lens,
                        fb.flags, fb.data, rxb, RXD.fields["fresh"][1])
    assert n == len(nodes) * len(RPDOS) + 1
    k = 0
    for i, nid in enumerate(nodes):
        for p in RPDOS:
            want = struct.pack(_fmt(p), *(int(tx[f.name][i]) for f in p.fields))
            assert fb.frame(k) == (p.cob_base + nid, want, 0)
            k += 1
    assert fb.frame(k) == (0x080, b"", 0)


@settings(max_examples=100, deadline=None)
@given(nodes_st, st.data())
def test_unpack_matches_struct_and_routes_by_cob_id(nodes, data):
    values = {}
    frames = []
    for nid in nodes:
        for p in TPDOS:
            vals = [data.draw(_value(f.dtype)) for f in p.fields]
            values[(nid, p.number)] = vals
            frames.append((p.cob_base + nid, struct.pack(_fmt(p), *vals)))
    frames.append((0x700 + nodes[0], b"\x05"))  # not process data
    order = data.draw(st.permutations(range(len(frames))))
    fb = FrameBuffer(len(frames))
    for k, j in enumerate(order):
        fb.put(k, *frames[j])
    rx = np.zeros(len(nodes), RXD)
    lut = codec.build_lut(np.array(nodes), np.array([p.cob_base for p in TPDOS]))
    off = np.array([RXD.fields[p.fields[0].name][1] for p in TPDOS], np.int32)
    size = np.array([p.size for p in TPDOS], np.int32)
    other = np.zeros(8, np.int32)
    new, dup, bad, n_other = codec.unpack_tick(fb.ids, fb.lens, fb.flags, fb.data, len(frames), lut, len(TPDOS), off,
                                               size, codec.record_bytes(rx), RXD.fields["fresh"][1], False, other)
    assert (new, dup, bad, n_other) == (len(nodes) * len(TPDOS), 0, 0, 1)
    assert fb.ids[other[0]] == 0x700 + nodes[0]
    for i, nid in enumerate(nodes):
        assert rx["fresh"][i] == (1 << len(TPDOS)) - 1
        for p in TPDOS:
            assert [int(rx[f.name][i]) for f in p.fields] == values[(nid, p.number)]
