"""SLCAN (Lawicel ASCII) frame encoding and decoding in compiled code, a whole batch per call.

The dialect is the one python-can's ``slcan`` backend speaks (lines end with CR, 0x0D):

* ``tIIILDD..``   classic frame, 11-bit id (3 hex), length L (one decimal digit 0-8), data hex
* ``TIIIIIIIILDD..`` classic frame, 29-bit id (8 hex)
* ``rIIIL`` / ``RIIIIIIIIL`` remote frames
* ``dIIIC..`` / ``DIIIIIIIIC..`` CAN-FD frame, C = DLC code (one hex digit, 0-F -> 0..64 bytes)
* ``bIIIC..`` / ``BIIIIIIIIC..`` CAN-FD frame with bit-rate switch

Every other line (``O``, ``C``, ``S8``, ``Y5``, ``V``, a bare CR, BEL 0x07 error) is not a
frame: :func:`decode` reports its span so a caller can act on commands (the emulator does).
A frame line with an identifier out of range (11-bit above 0x7FF, 29-bit above 0x1FFFFFFF), a
length digit out of range, a non-hex digit, or a number of data digits other than twice the
length (optionally followed by a 4-digit timestamp, Lawicel ``Z1``) is not a frame either (it is
reported as a span like any other non-frame line).
"""

from __future__ import annotations

import numpy as np

from cerebellum_rt.drivers.can.codec import FD_LENGTHS
from cerebellum_rt.rtcore.jit import njit

CR = 13
BEL = 7
_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8).copy()


@njit(nogil=True)
def _len2dlc(n):  # pragma: no cover - compiled
    if n <= 8:
        return n
    if n <= 12:
        return 9
    if n <= 16:
        return 10
    if n <= 20:
        return 11
    if n <= 24:
        return 12
    if n <= 32:
        return 13
    if n <= 48:
        return 14
    return 15


@njit(nogil=True)
def encode(ids, lens, flags, data, n, out, hexd, fd_lengths):  # pragma: no cover - compiled
    """Write n frames as SLCAN lines into ``out``; returns the number of bytes written.

    CAN-FD payloads are zero-padded up to the next DLC length. ``out`` must hold
    n * (11 + 2 * 64) bytes at most.
    """
    k = 0
    for i in range(n):
        f = flags[i]
        ext = (f & 1) != 0
        fd = (f & 2) != 0
        rtr = (f & 8) != 0
        if rtr:
            out[k] = 82 if ext else 114  # R / r
        elif fd:
            if (f & 4) != 0:
                out[k] = 66 if ext else 98  # B / b
            else:
                out[k] = 68 if ext else 100  # D / d
        else:
            out[k] = 84 if ext else 116  # T / t
        k += 1
        c = ids[i]
        nd = 8 if ext else 3
        for j in range(nd):
            out[k + nd - 1 - j] = hexd[c & 15]
            c >>= 4
        k += nd
        ln = lens[i]
        if fd:
            code = _len2dlc(ln)
            out[k] = hexd[code]
            ln_out = fd_lengths[code]
        else:
            out[k] = 48 + ln
            ln_out = ln
        k += 1
        if not rtr:
            for b in range(ln_out):
                v = data[i, b] if b < ln else 0
                out[k] = hexd[v >> 4]
                out[k + 1] = hexd[v & 15]
                k += 2
        out[k] = 13
        k += 1
    return k


@njit(nogil=True)
def _hexval(c):  # pragma: no cover - compiled
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    return -1


@njit(nogil=True)
def _parse_line(buf, s, e, ids, lens, flags, data, k, fd_lengths):  # pragma: no cover - compiled
    """Parse buf[s:e] (without CR) as frame k; True if it was a well-formed frame."""
    if e - s < 2:
        return False
    c0 = buf[s]
    ext = c0 == 84 or c0 == 82 or c0 == 68 or c0 == 66 or c0 == 120  # T R D B x
    std = c0 == 116 or c0 == 114 or c0 == 100 or c0 == 98  # t r d b
    if not (ext or std):
        return False
    fd = c0 == 100 or c0 == 98 or c0 == 68 or c0 == 66
    brs = c0 == 98 or c0 == 66
    rtr = c0 == 114 or c0 == 82
    nd = 8 if ext else 3
    if e - s < 2 + nd:
        return False
    cid = 0
    for j in range(nd):
        h = _hexval(buf[s + 1 + j])
        if h < 0:
            return False
        cid = cid * 16 + h
    if cid > (0x1FFFFFFF if ext else 0x7FF):
        return False
    d = _hexval(buf[s + 1 + nd])
    if d < 0 or (not fd and d > 8):
        return False
    ln = fd_lengths[d] if fd else d
    if ln > data.shape[1]:
        return False
    p = s + 2 + nd
    extra = e - p - (0 if rtr else 2 * ln)
    if extra != 0 and extra != 4:  # exactly the data, or the data and a 4-digit timestamp (Z1)
        return False
    for j in range(extra):
        if _hexval(buf[e - 1 - j]) < 0:
            return False
    if not rtr:
        for b in range(ln):
            hi = _hexval(buf[p + 2 * b])
            lo = _hexval(buf[p + 2 * b + 1])
            if hi < 0 or lo < 0:
                return False
            data[k, b] = hi * 16 + lo
    ids[k] = cid
    lens[k] = ln
    fl = 0
    if ext:
        fl |= 1
    if fd:
        fl |= 2
    if brs:
        fl |= 4
    if rtr:
        fl |= 8
    flags[k] = fl
    return True


@njit(nogil=True)
def decode(buf, nbytes, ids, lens, flags, data, cap, spans, fd_lengths):  # pragma: no cover - compiled
    """Parse complete lines of buf[:nbytes] into frames (at most ``cap``).

    Non-frame lines are reported in ``spans`` as (start, end) pairs (at most spans.shape[0]).
    Returns (n_frames, n_spans, consumed): ``consumed`` bytes were complete lines; the
    caller keeps buf[consumed:nbytes] for the next call.
    """
    k = 0
    ns = 0
    s = 0
    i = 0
    while i < nbytes:
        c = buf[i]
        if c == 13 or c == 7:
            if k >= cap:
                break
            ok = _parse_line(buf, s, i, ids, lens, flags, data, k, fd_lengths)
            if ok:
                k += 1
            elif ns < spans.shape[0]:
                spans[ns, 0] = s
                spans[ns, 1] = i + 1 if c == 7 else i  # keep BEL visible to the caller
                ns += 1
            s = i + 1
        i += 1
    return k, ns, s


def encode_frames(fb, n: int, out: np.ndarray) -> int:
    """Encode the first n frames of a FrameBuffer into ``out``; returns bytes written."""
    return int(encode(fb.ids, fb.lens, fb.flags, fb.data, n, out, _HEX, FD_LENGTHS))


def decode_frames(buf: np.ndarray, nbytes: int, fb, spans: np.ndarray) -> tuple[int, int, int]:
    """Decode complete lines of buf[:nbytes] into a FrameBuffer; see :func:`decode`."""
    n, ns, used = decode(buf, nbytes, fb.ids, fb.lens, fb.flags, fb.data, fb.cap, spans, FD_LENGTHS)
    return int(n), int(ns), int(used)


def max_line_bytes(fd: bool) -> int:
    """Longest SLCAN line for one frame, CR included."""
    return 1 + 8 + 1 + 2 * (64 if fd else 8) + 1


def warm_up() -> None:
    """Compile (or load from cache) the codec before serving or cycling."""
    from cerebellum_rt.drivers.can.codec import FrameBuffer

    fb = FrameBuffer(2, fd=True)
    fb.put(0, 0x123, b"\x01\x02")
    fb.put(1, 0x456, bytes(12), flags=2)
    out = np.zeros(2 * max_line_bytes(True), dtype=np.uint8)
    n = encode_frames(fb, 2, out)
    decode_frames(out, n, FrameBuffer(2, fd=True), np.zeros((4, 2), dtype=np.int64))
