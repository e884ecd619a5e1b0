"""The compiled SLCAN codec against python-can's own slcan backend (a loop:// serial port)."""

from __future__ import annotations

import can
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.can import slcan_codec
from cerebellum_rt.drivers.can.codec import FD_LENGTHS, FLAG_BRS, FLAG_EXT, FLAG_FD, FLAG_RTR, FrameBuffer


@pytest.fixture(scope="module")
def loop_bus():
    bus = can.Bus(interface="slcan", channel="loop://", sleep_after_open=0)
    bus.flush()
    yield bus
    bus.shutdown()


frames = st.tuples(
    st.sampled_from(["std", "ext", "fd", "fdbrs", "rtr"]),
    st.integers(0, 2**29 - 1),
    st.binary(min_size=0, max_size=64),
)


def _message(kind: str, cid: int, data: bytes) -> can.Message:
    if kind in ("std", "ext", "rtr"):
        data = data[:8]
    else:
        n = int(FD_LENGTHS[np.searchsorted(FD_LENGTHS, len(data))])
        data = data + bytes(n - len(data))
    ext = kind == "ext"
    cid = cid if ext else cid & 0x7FF
    return can.Message(arbitration_id=cid, is_extended_id=ext, data=b"" if kind == "rtr" else data,
                       dlc=len(data) if kind == "rtr" else None, is_remote_frame=kind == "rtr",
                       is_fd=kind.startswith("fd"), bitrate_switch=kind == "fdbrs")


@settings(max_examples=150, deadline=None)
@given(st.lists(frames, min_size=1, max_size=12))
def test_decoder_reads_what_pythoncan_writes(loop_bus, batch):
    msgs = [_message(*f) for f in batch]
    for m in msgs:
        loop_bus.send(m)
    ser = loop_bus.serialPortOrig
    raw = b""
    while raw.count(b"\r") < len(msgs):  # loop:// hands bytes over one at a time
        raw += ser.read(max(1, ser.in_waiting))
    buf = np.frombuffer(raw, dtype=np.uint8).copy()
    fb = FrameBuffer(32, fd=True)
    n, ns, used = slcan_codec.decode_frames(buf, len(buf), fb, np.zeros((8, 2), np.int64))
    assert (n, ns, used) == (len(msgs), 0, len(raw))
    for k, m in enumerate(msgs):
        cid, data, flags = fb.frame(k)
        assert cid == m.arbitration_id
        assert bool(flags & FLAG_EXT) == m.is_extended_id
        assert bool(flags & FLAG_RTR) == m.is_remote_frame
        assert bool(flags & FLAG_FD) == m.is_fd and bool(flags & FLAG_BRS) == m.bitrate_switch
        if not m.is_remote_frame:
            assert data == bytes(m.data)


@settings(max_examples=150, deadline=None)
@given(st.lists(frames.filter(lambda f: f[0] != "rtr"), min_size=1, max_size=12))
def test_pythoncan_reads_what_the_encoder_writes(loop_bus, batch):
    msgs = [_message(*f) for f in batch]
    fb = FrameBuffer(len(msgs), fd=True)
    for k, m in enumerate(msgs):
        flags = (FLAG_EXT if m.is_extended_id else 0) | (FLAG_FD if m.is_fd else 0) | (FLAG_BRS if m.bitrate_switch else 0)
        fb.put(k, m.arbitration_id, bytes(m.data), flags)
    out = np.zeros(len(msgs) * slcan_codec.max_line_bytes(True), dtype=np.uint8)
    nbytes = slcan_codec.encode_frames(fb, len(msgs), out)
    loop_bus.serialPortOrig.write(out[:nbytes].tobytes())
    for m in msgs:
        got = loop_bus.recv(1.0)
        assert got is not None
        assert got.equals(m, timestamp_delta=None, check_channel=False), (got, m)


def test_partial_lines_and_commands_are_kept_for_later():
    text = b"O\rt1232AABB\rS8\rt12"
    buf = np.frombuffer(text, dtype=np.uint8).copy()
    fb = FrameBuffer(4)
    spans = np.zeros((4, 2), np.int64)
    n, ns, used = slcan_codec.decode_frames(buf, len(buf), fb, spans)
    assert (n, ns, used) == (1, 2, len(text) - 3)
    assert fb.frame(0) == (0x123, b"\xaa\xbb", 0)
    assert [bytes(buf[s:e]) for s, e in spans[:ns]] == [b"O", b"S8"]


def test_malformed_lines_are_not_frames():
    text = b"t12\rtXYZ1AA\rt1239\rd123F00\r"
    buf = np.frombuffer(text, dtype=np.uint8).copy()
    fb = FrameBuffer(4, fd=True)
    n, ns, _ = slcan_codec.decode_frames(buf, len(buf), fb, np.zeros((8, 2), np.int64))
    assert n == 0 and ns == 4
