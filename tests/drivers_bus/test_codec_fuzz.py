"""Bounded fuzzing of the codecs: 1M random lines into the SLCAN decoder, 1M random frames into
the PDO reply router; plus the SLCAN identifier ranges (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from cerebellum_rt.drivers.can import slcan_codec
from cerebellum_rt.drivers.can.codec import FrameBuffer
from cerebellum_rt.tools.bench import reliability


def _decode(text: bytes) -> list[tuple[int, bytes, int]]:
    buf = np.frombuffer(text, np.uint8).copy()
    fb = FrameBuffer(8, fd=True)
    n, _, _ = slcan_codec.decode_frames(buf, len(buf), fb, np.zeros((8, 2), np.int64))
    return [fb.frame(k) for k in range(n)]


@pytest.mark.parametrize(("line", "frame"), [
    (b"t7FF0\r", (0x7FF, b"", 0)),
    (b"tF50105\r", None),  # 0xF50 is not an 11-bit id (was taken as node 0x50's heartbeat)
    (b"t8000\r", None),
    (b"T1FFFFFFF0\r", (0x1FFFFFFF, b"", 1)),
    (b"TFFFFFFFF0\r", None),  # was decoded as id -1
    (b"T200000000\r", None),
    (b"d7FF0\r", (0x7FF, b"", 2)),
    (b"dFFF0\r", None),
    (b"t7050105\r", None),  # one data byte announced as 0: trailing digits
    (b"t705105\r", (0x705, b"\x05", 0)),
    (b"t7051051A2B\r", (0x705, b"\x05", 0)),  # with a Z1 timestamp
    (b"t70510\r", None),  # too few data digits
])
def test_slcan_identifiers_out_of_range_are_not_frames(line, frame):
    assert _decode(line) == ([frame] if frame else [])


def test_a_million_slcan_lines_decode_to_legal_frames_only():
    got = reliability.fuzz_slcan(1_000_000, seed=5)
    assert got["frames"] == 1_000_000 and got["decoded"] > 1000  # the generator reaches valid frames
    assert got["crashes"] == 0 and got["out_of_limit_accepted"] == 0


def test_a_million_frames_into_the_pdo_router_are_each_counted_once():
    got = reliability.fuzz_pdo_codec(1_000_000, seed=6)
    assert got == {"frames": 1_000_000, "crashes": 0, "out_of_limit_accepted": 0}
