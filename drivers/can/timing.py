"""CAN / CAN-FD bus timing model: bits per frame (with bit stuffing), frame time, bus load.

Classical CAN (ISO 11898-1), data frame with n payload bytes (0..8):

    fixed bits   std (11-bit id): SOF 1, id 11, RTR 1, IDE 1, r0 1, DLC 4, data 8n, CRC 15,
                 CRC delimiter 1, ACK slot 1, ACK delimiter 1, EOF 7, intermission 3
                 = 47 + 8n bits;  ext (29-bit id): 67 + 8n (SRR, IDE, 18 more id bits, r1)
    stuffing     after 5 equal consecutive bits a complementary bit is inserted, from SOF to the
                 end of the CRC sequence: the stuffed region is L = 34 + 8n bits (std) /
                 54 + 8n (ext); the first stuff bit needs 5 bits and each next one 4 more
                 (the stuff bit starts the next run), so at most floor((L - 1) / 4) stuff bits:
    worst case   std: 47 + 8n + floor((33 + 8n) / 4)   (n = 8: 135 bits; n = 0: 55)
                 ext: 67 + 8n + floor((53 + 8n) / 4)   (n = 8: 160 bits)

CAN FD (ISO 11898-1:2015), std id, payload n in {0..8, 12, 16, 20, 24, 32, 48, 64}:

    arbitration phase (nominal rate): SOF 1, id 11, RRS 1, IDE 1, FDF 1, res 1, BRS 1 = 17 bits
    data phase (data rate when BRS): ESI 1, DLC 4, data 8n      (dynamic stuffing continues)
                 stuff count 4 bits (3 Gray-coded + parity), CRC 17 (n <= 16) or 21 (n > 16),
                 fixed stuff bits ceil((4 + crc) / 4) (one before the stuff count, then one
                 every 4 bits; 6 for CRC17, 7 for CRC21), CRC delimiter 1
    tail (nominal rate): ACK slot 1, ACK delimiter 1, EOF 7, intermission 3 = 12 bits
    dynamic stuffing region: SOF..data = 22 + 8n bits, at most floor((21 + 8n) / 4) stuff
                 bits; of these at most 3 fall in the arbitration phase (after bits 5, 9, 13;
                 one after BRS is sent at the data rate). The worst-case time charges 3 at the
                 nominal rate and the rest at the data rate. (The CRC-17/21 value does not
                 change the length: its field is stuffed with fixed bits only.)

    time = nominal_bits / bitrate + data_bits / data_bitrate

:func:`frame_bits` computes the exact length of a real frame: it builds the frame's bit
sequence (with its CRC-15 for classical CAN) and stuffs it bit by bit. Tests check it against
the closed forms above. Bus load = sum of frame times per period / period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cerebellum_rt.drivers.can.codec import FD_LENGTHS
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.jit import njit


def fd_payload_length(n: int) -> int:
    """The CAN-FD payload length (DLC step) that holds n bytes."""
    for ln in FD_LENGTHS:
        if ln >= n:
            return int(ln)
    raise ConfigError(f"CAN-FD payload {n} bytes is out of range [0, 64]")


def worst_case_bits(n: int, ext: bool = False) -> int:
    """Classical CAN data frame, n bytes: bits including worst-case stuffing and intermission."""
    if not 0 <= n <= 8:
        raise ConfigError(f"classical CAN payload {n} bytes is out of range [0, 8]")
    if ext:
        return 67 + 8 * n + (53 + 8 * n) // 4
    return 47 + 8 * n + (33 + 8 * n) // 4


def nominal_bits(n: int, ext: bool = False) -> int:
    """Classical CAN data frame, n bytes: bits without stuffing (intermission included)."""
    return (67 if ext else 47) + 8 * n


def fd_worst_case_bits(n: int) -> tuple[int, int]:
    """CAN-FD std-id frame with n bytes: (bits at nominal rate, bits at data rate), worst case."""
    n = fd_payload_length(n)
    crc = 17 if n <= 16 else 21
    dyn = (21 + 8 * n) // 4
    arb_stuff = min(3, dyn)
    nominal = 17 + 12 + arb_stuff
    data = 5 + 8 * n + dyn - arb_stuff + 4 + crc + math.ceil((4 + crc) / 4) + 1
    return nominal, data


def frame_time_worst(n: int, bitrate: float, fd: bool = False, data_bitrate: float | None = None) -> float:
    """Worst-case time on the wire of one data frame with n payload bytes, in seconds."""
    if not fd:
        return worst_case_bits(n) / bitrate
    nom, dat = fd_worst_case_bits(n)
    return nom / bitrate + dat / (data_bitrate or bitrate)


def frame_time_min(n: int, bitrate: float, fd: bool = False, data_bitrate: float | None = None) -> float:
    """Time on the wire of a data frame with n bytes and no dynamic stuff bit at all (a lower bound)."""
    if not fd:
        return nominal_bits(n) / bitrate
    n = fd_payload_length(n)
    crc = 17 if n <= 16 else 21
    return 29 / bitrate + (5 + 8 * n + 4 + crc + math.ceil((4 + crc) / 4) + 1) / (data_bitrate or bitrate)


@njit(nogil=True)
def _crc15(bits, n):  # pragma: no cover - compiled
    crc = 0
    for i in range(n):
        nxt = bits[i] ^ ((crc >> 14) & 1)
        crc = (crc << 1) & 0x7FFF
        if nxt:
            crc ^= 0x4599
    return crc


@njit(nogil=True)
def _put(bits, k, value, width):  # pragma: no cover - compiled
    for j in range(width - 1, -1, -1):
        bits[k] = (value >> j) & 1
        k += 1
    return k


@njit(nogil=True)
def _stuff_count(bits, n, split):  # pragma: no cover - compiled
    """Stuff bits inserted into bits[0:n]: (total, inserted after an original bit index < split)."""
    run = 0
    last = -1
    total = 0
    early = 0
    for i in range(n):
        b = bits[i]
        if b == last:
            run += 1
        else:
            run = 1
            last = b
        if run == 5:
            total += 1
            if i < split:
                early += 1
            last = 1 - b  # the stuff bit starts a new run of length 1
            run = 1
    return total, early


@njit(nogil=True)
def frame_bits_raw(can_id, ext, fd, brs, data, n, bits):  # pragma: no cover - compiled
    """Exact bits of a data frame: (bits at nominal rate, bits at data rate). ``bits`` is scratch."""
    k = 0
    if not fd:
        k = _put(bits, k, 0, 1)  # SOF
        if ext:
            k = _put(bits, k, (can_id >> 18) & 0x7FF, 11)
            k = _put(bits, k, 1, 1)  # SRR
            k = _put(bits, k, 1, 1)  # IDE
            k = _put(bits, k, can_id & 0x3FFFF, 18)
            k = _put(bits, k, 0, 1)  # RTR
            k = _put(bits, k, 0, 2)  # r1 r0
        else:
            k = _put(bits, k, can_id & 0x7FF, 11)
            k = _put(bits, k, 0, 3)  # RTR IDE r0
        k = _put(bits, k, n, 4)
        for i in range(n):
            k = _put(bits, k, data[i], 8)
        crc = _crc15(bits, k)
        k = _put(bits, k, crc, 15)
        stuff, _ = _stuff_count(bits, k, k)
        fixed = (67 if ext else 47) + 8 * n
        return fixed + stuff, 0
    # CAN FD, std id
    k = _put(bits, k, 0, 1)  # SOF
    k = _put(bits, k, can_id & 0x7FF, 11)
    k = _put(bits, k, 0, 1)  # RRS
    k = _put(bits, k, 0, 1)  # IDE
    k = _put(bits, k, 1, 1)  # FDF
    k = _put(bits, k, 0, 1)  # res
    k = _put(bits, k, 1 if brs else 0, 1)  # BRS
    k = _put(bits, k, 0, 1)  # ESI
    code = 0
    while code < 15 and n > FD_LENGTHS[code]:
        code += 1
    ln = FD_LENGTHS[code]
    k = _put(bits, k, code, 4)
    for i in range(ln):
        k = _put(bits, k, data[i] if i < n else 0, 8)
    stuff, early = _stuff_count(bits, k, 16)
    crc = 17 if ln <= 16 else 21
    fixed_stuff = (4 + crc + 3) // 4
    tail_data = 4 + crc + fixed_stuff + 1
    if brs:
        return 17 + early + 12, 5 + 8 * ln + (stuff - early) + tail_data
    return 17 + 12 + 5 + 8 * ln + stuff + tail_data, 0


_SCRATCH = np.zeros(1024, dtype=np.uint8)


def frame_bits(can_id: int, data: bytes, ext: bool = False, fd: bool = False, brs: bool = True) -> tuple[int, int]:
    """Exact (nominal-rate bits, data-rate bits) of one data frame (slow path helper)."""
    arr = np.frombuffer(bytes(data), dtype=np.uint8) if data else np.zeros(0, np.uint8)
    nom, dat = frame_bits_raw(int(can_id), bool(ext), bool(fd), bool(fd and brs), arr, len(arr), _SCRATCH)
    return int(nom), int(dat)


def frame_time(can_id: int, data: bytes, bitrate: float, fd: bool = False, data_bitrate: float | None = None,
               ext: bool = False, brs: bool = True) -> float:
    """Exact time on the wire of one data frame (seconds)."""
    nom, dat = frame_bits(can_id, data, ext, fd, brs)
    return nom / bitrate + dat / (data_bitrate or bitrate)


@dataclass(frozen=True)
class BusLoad:
    """Load of one bus: worst-case wire time of one period's frames against the period."""

    frames_per_period: int
    busy_s: float
    period_s: float

    @property
    def load(self) -> float:
        return self.busy_s / self.period_s


def joint_tick_load(joints: int, rate_hz: float, bitrate: float, fd: bool = False,
                    data_bitrate: float | None = None, rpdo_sizes: tuple[int, ...] = (7, 8),
                    tpdo_sizes: tuple[int, ...] = (7, 8, 8)) -> BusLoad:
    """Worst-case load of ``joints`` boards exchanging their PDOs plus one SYNC per period."""
    per_joint = sum(frame_time_worst(s, bitrate, fd, data_bitrate) for s in (*rpdo_sizes, *tpdo_sizes))
    busy = joints * per_joint + frame_time_worst(0, bitrate, fd, data_bitrate)
    return BusLoad(joints * (len(rpdo_sizes) + len(tpdo_sizes)) + 1, busy, 1.0 / rate_hz)


def theoretical_joints(rate_hz: float, bitrate: float, fd: bool = False, data_bitrate: float | None = None,
                       rpdo_sizes: tuple[int, ...] = (7, 8), tpdo_sizes: tuple[int, ...] = (7, 8, 8)) -> int:
    """Most joints whose worst-case traffic (+ SYNC) fits 100 % of one period."""
    one = joint_tick_load(1, rate_hz, bitrate, fd, data_bitrate, rpdo_sizes, tpdo_sizes)
    sync = frame_time_worst(0, bitrate, fd, data_bitrate)
    per_joint = one.busy_s - sync
    return max(0, int((one.period_s - sync) // per_joint))
