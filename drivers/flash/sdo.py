"""The host's SDO client as pure protocol (CiA 301 §7.2.4): frames out, replies in, no I/O.

A transfer is a generator of :class:`Exchange` steps: each names the frames to send and the
reply it waits for (COB-ID and leading bytes); the driver (:mod:`cerebellum_rt.drivers.flash.runner`)
sends them, and sends back the reply's payload or ``None`` after ``timeout_s``. So the same code
runs over a real bus with threads, and in virtual time on the timed bus model (the benchmark).

Block download (§7.2.4.3.9-16): initiate with the size and CRC support, sub-blocks of up to
``blksize`` segments of 7 bytes (the server's ack names the last good sequence number; the
client repeats from there and takes the server's next block size), end frame with the number
of unused bytes of the last segment and the CRC-16/XMODEM of the data.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass

from cerebellum_rt.rtcore.errors import DeviceError

SDO_TX, SDO_RX = 0x600, 0x580  # client -> server, server -> client (+ node-ID)
ABORT_TIMEOUT = 0x05040000
ABORT_TEXT = {
    0x05030000: "toggle bit not alternated", 0x05040000: "SDO protocol timed out",
    0x05040001: "command specifier not valid", 0x05040003: "invalid sequence number",
    0x05040004: "CRC error", 0x06010001: "write-only object", 0x06010002: "read-only object",
    0x06020000: "object does not exist", 0x06070010: "data length does not match",
    0x06070012: "data too long", 0x06090011: "sub-index does not exist", 0x06090030: "value out of range",
    0x08000000: "general error", 0x08000020: "data cannot be stored", 0x08000022: "refused in the present device state",
    0x08000024: "no data available",
}


@dataclass
class Exchange:
    """One step: send ``frames`` (COB-ID, payload), then wait ``timeout_s`` for a frame on
    ``expect_id`` whose payload starts with ``expect_prefix`` (None: any payload; ``expect_id``
    None: wait for nothing)."""

    frames: list[tuple[int, bytes]]
    expect_id: int | None
    timeout_s: float
    expect_prefix: bytes | None = None


Transfer = Generator[Exchange, "bytes | None", object]


class SdoAbortError(DeviceError):
    """The board aborted a transfer (``code``: the CiA 301 abort code)."""

    def __init__(self, node: int, index: int, sub: int, code: int, what: str = "") -> None:
        text = ABORT_TEXT.get(code, "abort")
        super().__init__(f"node {node}: {what or f'0x{index:04X}:{sub}'} refused: SDO abort 0x{code:08X} ({text})")
        self.code = code


class SdoTimeoutError(DeviceError):
    """No reply within the timeout."""


def _abort_frame(index: int, sub: int, code: int) -> bytes:
    return struct.pack("<BHBI", 0x80, index, sub, code)


def _reply(node: int, index: int, sub: int, reply: bytes | None, what: str, timeout_s: float) -> bytes:
    if reply is None:
        raise SdoTimeoutError(f"node {node}: no SDO answer to {what} within {timeout_s} s")
    if reply[0] == 0x80:
        raise SdoAbortError(node, index, sub, struct.unpack_from("<I", reply, 4)[0], what)
    return reply


def upload_u32(node: int, index: int, sub: int, timeout_s: float) -> Transfer:
    """Read an object of up to 4 bytes (expedited upload); returns it as an unsigned integer."""
    what = f"read of 0x{index:04X}:{sub}"
    req = struct.pack("<BHB4x", 0x40, index, sub)
    reply = yield Exchange([(SDO_TX + node, req)], SDO_RX + node, timeout_s)
    reply = _reply(node, index, sub, reply, what, timeout_s)
    if reply[0] & 0xE0 != 0x40 or not reply[0] & 0x02:
        raise DeviceError(f"node {node}: {what}: not an expedited answer (0x{reply[0]:02X})")
    n = 4 - ((reply[0] >> 2) & 3) if reply[0] & 0x01 else 4
    return int.from_bytes(reply[4 : 4 + n], "little")


def download_int(node: int, index: int, sub: int, value: int, size: int, timeout_s: float,
                 what: str = "") -> Transfer:
    """Write an integer of ``size`` bytes (expedited download)."""
    what = what or f"write of 0x{index:04X}:{sub} = {value}"
    cmd = 0x23 | ((4 - size) << 2)
    req = struct.pack("<BHB", cmd, index, sub) + int(value).to_bytes(size, "little").ljust(4, b"\0")
    reply = yield Exchange([(SDO_TX + node, req)], SDO_RX + node, timeout_s)
    reply = _reply(node, index, sub, reply, what, timeout_s)
    if reply[0] != 0x60:
        raise DeviceError(f"node {node}: {what}: unexpected answer 0x{reply[0]:02X}")
    return None


def block_download(node: int, index: int, sub: int, data: bytes, timeout_s: float,
                   progress: Callable[[int], None] | None = None) -> Transfer:
    """Block-download ``data``; ``progress(n)`` after every acknowledged sub-block (n = bytes acked).
    A timeout sends an abort (0x05040000) and raises :class:`SdoTimeoutError` naming the bytes acked."""
    tx, rx = SDO_TX + node, SDO_RX + node
    what = f"block download to 0x{index:04X}:{sub}"
    if not data:
        raise DeviceError(f"node {node}: {what}: nothing to send")
    init = struct.pack("<BHBI", 0xC6, index, sub, len(data))  # ccs 6, CRC supported, size indicated
    reply = yield Exchange([(tx, init)], rx, timeout_s)
    reply = _reply(node, index, sub, reply, what, timeout_s)
    if reply[0] & 0xE3 != 0xA0:
        raise DeviceError(f"node {node}: {what}: unexpected initiate answer 0x{reply[0]:02X}")
    crc = bool(reply[0] & 0x04)
    blksize = reply[4]
    acked = 0
    while True:
        if not 1 <= blksize <= 127:
            raise DeviceError(f"node {node}: {what}: block size {blksize} out of range [1, 127]")
        frames, pos, seq = [], acked, 0
        while seq < blksize and pos < len(data):
            chunk = data[pos : pos + 7]
            pos += len(chunk)
            seq += 1
            last = pos >= len(data)
            frames.append((tx, bytes([(0x80 if last else 0) | seq]) + chunk.ljust(7, b"\0")))
            if last:
                break
        ack = yield Exchange(frames, rx, timeout_s)
        if ack is None:
            yield Exchange([(tx, _abort_frame(index, sub, ABORT_TIMEOUT))], None, 0.0)
            raise SdoTimeoutError(f"node {node}: no sub-block ack within {timeout_s} s after byte {acked} "
                                  f"of {len(data)}")
        ack = _reply(node, index, sub, ack, what, timeout_s)
        if ack[0] != 0xA2 or ack[1] > seq:
            raise DeviceError(f"node {node}: {what}: unexpected sub-block answer {ack[:3].hex()}")
        acked = min(acked + 7 * ack[1], len(data))
        blksize = ack[2]
        if progress is not None:
            progress(acked)
        if ack[1] == seq and pos >= len(data):
            break
    unused = (7 - len(data) % 7) % 7
    value = binascii.crc_hqx(data, 0) if crc else 0
    reply = yield Exchange([(tx, struct.pack("<BH5x", 0xC1 | (unused << 2), value))], rx, timeout_s)
    reply = _reply(node, index, sub, reply, what, timeout_s)
    if reply[0] != 0xA1:
        raise DeviceError(f"node {node}: {what}: unexpected end answer 0x{reply[0]:02X}")
    return None
