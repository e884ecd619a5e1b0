"""The bus timing model against a bit-level oracle and its closed forms (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.can import timing
from cerebellum_rt.rtcore.errors import ConfigError


def _bits(value: int, width: int) -> str:
    return format(value, f"0{width}b")


def _crc15(bitstring: str) -> int:
    crc = 0
    for b in bitstring:
        nxt = int(b) ^ (crc >> 14)
        crc = (crc << 1) & 0x7FFF
        if nxt:
            crc ^= 0x4599
    return crc


def _stuff(bitstring: str) -> str:
    """Insert a complementary bit after every 5 equal bits (the stuff bit counts in the next run)."""
    out, run, last = [], 0, None
    for b in bitstring:
        out.append(b)
        run = run + 1 if b == last else 1
        last = b
        if run == 5:
            s = "1" if b == "0" else "0"
            out.append(s)
            last, run = s, 1
    return "".join(out)


def _oracle_classic(can_id: int, data: bytes, ext: bool) -> int:
    if ext:
        head = "0" + _bits(can_id >> 18, 11) + "11" + _bits(can_id & 0x3FFFF, 18) + "000"
    else:
        head = "0" + _bits(can_id, 11) + "000"
    body = head + _bits(len(data), 4) + "".join(_bits(b, 8) for b in data)
    body += _bits(_crc15(body), 15)
    return len(_stuff(body)) + 1 + 2 + 7 + 3  # CRC delimiter, ACK slot+delimiter, EOF, intermission


def test_crc15_check_value():
    msg = "".join(_bits(c, 8) for c in b"123456789")
    assert _crc15(msg) == 0x059E  # CRC-15/CAN catalogue check value
    arr = np.array([int(c) for c in msg], dtype=np.uint8)
    assert timing._crc15(arr, len(arr)) == 0x059E


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.integers(0, 2**29 - 1), st.binary(min_size=0, max_size=8))
def test_classic_frame_bits_match_bit_level_oracle_and_bounds(ext, can_id, data):
    if not ext:
        can_id &= 0x7FF
    nom, dat = timing.frame_bits(can_id, data, ext=ext)
    assert dat == 0
    assert nom == _oracle_classic(can_id, data, ext)
    assert timing.nominal_bits(len(data), ext) <= nom <= timing.worst_case_bits(len(data), ext)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0x7FF), st.binary(min_size=0, max_size=64))
def test_fd_frame_bits_match_oracle_and_worst_case(can_id, data):
    n = timing.fd_payload_length(len(data))
    padded = data + bytes(n - len(data))
    code = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64].index(n)
    arb = "0" + _bits(can_id, 11) + "0" + "0" + "1" + "0" + "1"  # SOF id RRS IDE FDF res BRS
    region = arb + "0" + _bits(code, 4) + "".join(_bits(b, 8) for b in padded)
    stuffed = _stuff(region)
    # stuff bits inserted after the first 16 original bits go at the nominal rate
    early = len(_stuff(arb[:16])) - 16
    crc = 17 if n <= 16 else 21
    fixed = -(-(4 + crc) // 4)
    want_nom = 17 + early + 12
    want_dat = len(stuffed) - 17 - early + 4 + crc + fixed + 1
    assert timing.frame_bits(can_id, data, fd=True) == (want_nom, want_dat)
    wn, wd = timing.fd_worst_case_bits(len(data))
    assert want_nom <= wn and want_dat <= wd
    t = timing.frame_time(can_id, data, 1e6, fd=True, data_bitrate=5e6)
    assert t <= timing.frame_time_worst(len(data), 1e6, fd=True, data_bitrate=5e6) + 1e-12


def test_worst_case_closed_forms():
    assert timing.worst_case_bits(8) == 135 and timing.worst_case_bits(0) == 55
    assert timing.worst_case_bits(8, ext=True) == 160
    # an all-zero std frame with id 0 reaches the dense stuffing pattern
    assert timing.frame_bits(0, bytes(8))[0] > timing.nominal_bits(8) + 15
    assert timing.fd_worst_case_bits(8) == (32, 5 + 64 + 21 - 3 + 4 + 17 + 6 + 1)
    with pytest.raises(ConfigError, match="payload 9 bytes"):
        timing.worst_case_bits(9)
    with pytest.raises(ConfigError, match="payload 65 bytes"):
        timing.fd_payload_length(65)


def test_bus_load_and_theoretical_joints():
    one_ms = timing.joint_tick_load(3, 1000.0, 1e6)
    assert one_ms.frames_per_period == 16
    wc = timing.worst_case_bits
    assert one_ms.load == pytest.approx((3 * (wc(7) + wc(8) + wc(7) + wc(8) + wc(8)) + wc(0)) * 1e-6 / 1e-3)
    j = timing.theoretical_joints(1000.0, 1e6)
    assert timing.joint_tick_load(j, 1000.0, 1e6).load <= 1.0 < timing.joint_tick_load(j + 1, 1000.0, 1e6).load
    assert timing.theoretical_joints(1000.0, 1e6, fd=True, data_bitrate=5e6) > j
