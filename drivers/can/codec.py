"""Compiled (numba) pack / unpack of a whole tick's PDOs against numpy arrays.

Frames of one tick live in a :class:`FrameBuffer`: ``ids`` (int32 CAN identifier), ``lens``
(uint8 payload length in bytes), ``flags`` (uint8: FLAG_EXT 29-bit id, FLAG_FD CAN-FD frame,
FLAG_BRS bit-rate switch, FLAG_RTR remote, FLAG_ERR error frame) and ``data`` (uint8 [cap, 8]
for classic CAN, [cap, 64] for CAN-FD). The kernels are private and allocation-free: they
write into caller-provided arrays (STYLE.md 10). The PDO layout comes in as offset tables
built by :mod:`cerebellum_rt.drivers.can.layout` from the OD table.

Per node row ``i`` and selected PDO ``p`` the command frame is

    id = cob_base[p] + node_id[i],   data[0:size[p]] = tx_record_bytes[i, off[p] : off[p] + size[p]]

and a reply frame with id ``c`` is routed through a 2048-entry lookup ``lut[c] = i * P + p``
(``-1`` for frames that are not process data of this transport).
"""

from __future__ import annotations

import numpy as np

from cerebellum_rt.rtcore.jit import njit

FLAG_EXT = 1
FLAG_FD = 2
FLAG_BRS = 4
FLAG_RTR = 8
FLAG_ERR = 16

#: CAN-FD payload lengths by DLC code (ISO 11898-1).
FD_LENGTHS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64], dtype=np.uint8)


class FrameBuffer:
    """Preallocated arrays for up to ``cap`` frames of payload width 8 (CAN) or 64 (CAN-FD)."""

    __slots__ = ("cap", "data", "flags", "ids", "lens", "n", "width")

    def __init__(self, cap: int, fd: bool = False) -> None:
        self.cap = int(cap)
        self.width = 64 if fd else 8
        self.ids = np.zeros(self.cap, dtype=np.int32)
        self.lens = np.zeros(self.cap, dtype=np.uint8)
        self.flags = np.zeros(self.cap, dtype=np.uint8)
        self.data = np.zeros((self.cap, self.width), dtype=np.uint8)
        self.n = 0

    def frame(self, k: int) -> tuple[int, bytes, int]:
        """(id, payload, flags) of frame k, as Python objects (slow path, tests)."""
        return int(self.ids[k]), bytes(self.data[k, : self.lens[k]]), int(self.flags[k])

    def put(self, k: int, can_id: int, payload: bytes, flags: int = 0) -> None:
        """Write frame k from Python objects (slow path, tests)."""
        self.ids[k] = can_id
        self.lens[k] = len(payload)
        self.flags[k] = flags
        self.data[k, : len(payload)] = np.frombuffer(payload, dtype=np.uint8)


@njit(nogil=True)
def fd_len(n):  # pragma: no cover - compiled
    """The CAN-FD payload length (DLC step) that holds n bytes."""
    for ln in FD_LENGTHS:
        if ln >= n:
            return ln
    return 64


@njit(nogil=True)
def pack_tick(tx_bytes, node_ids, cob, off, size, flags0, sync_id, ids, lens, flags, data, rx_bytes, fresh_off):  # pragma: no cover - compiled
    """Write every selected RPDO of every node then the SYNC (if sync_id >= 0); clear fresh masks.

    Returns the number of frames written.
    """
    n_nodes = tx_bytes.shape[0]
    n_pdo = cob.shape[0]
    k = 0
    for i in range(n_nodes):
        for p in range(n_pdo):
            ids[k] = cob[p] + node_ids[i]
            lens[k] = size[p]
            flags[k] = flags0
            o = off[p]
            for b in range(size[p]):
                data[k, b] = tx_bytes[i, o + b]
            k += 1
        rx_bytes[i, fresh_off] = 0
    if sync_id >= 0:
        ids[k] = sync_id
        lens[k] = 0
        flags[k] = flags0
        k += 1
    return k


@njit(nogil=True)
def unpack_tick(ids, lens, flags, data, n, lut, n_pdo, off, size, rx_bytes, fresh_off, stale, other_idx):  # pragma: no cover - compiled
    """Route n received frames into the reply records.

    A TPDO of the right length is copied into its node's row; unless ``stale`` its bit in
    ``fresh`` is set. Other frames (not ours, error, remote, extended) have their index written
    to ``other_idx``. Returns (new, dup, bad, n_other): first arrivals this tick, repeated
    arrivals, wrong-length PDOs, other frames.
    """
    new = 0
    dup = 0
    bad = 0
    n_other = 0
    for k in range(n):
        c = ids[k]
        if (flags[k] & 25) != 0 or c < 0 or c >= 2048 or lut[c] < 0:  # EXT | RTR | ERR
            if n_other < other_idx.shape[0]:
                other_idx[n_other] = k
                n_other += 1
            continue
        v = lut[c]
        i = v // n_pdo
        p = v - i * n_pdo
        if lens[k] != size[p] and not ((flags[k] & 2) != 0 and size[p] < lens[k] <= fd_len(size[p])):
            bad += 1  # wrong length (a CAN-FD frame may carry the payload padded to its DLC step)
            continue
        o = off[p]
        for b in range(size[p]):
            rx_bytes[i, o + b] = data[k, b]
        if stale:
            dup += 1
            continue
        bit = np.uint8(1 << p)
        if rx_bytes[i, fresh_off] & bit:
            dup += 1
        else:
            rx_bytes[i, fresh_off] |= bit
            new += 1
    return new, dup, bad, n_other


def build_lut(node_ids: np.ndarray, cob_bases: np.ndarray) -> np.ndarray:
    """2048-entry routing table: ``lut[cob_base[p] + node_id[i]] = i * P + p``, else -1."""
    lut = np.full(2048, -1, dtype=np.int32)
    n_pdo = len(cob_bases)
    for i, nid in enumerate(node_ids):
        for p, base in enumerate(cob_bases):
            lut[int(base) + int(nid)] = i * n_pdo + p
    return lut


def record_bytes(arr: np.ndarray) -> np.ndarray:
    """A [rows, itemsize] uint8 view of a contiguous structured array (no copy)."""
    if not arr.flags.c_contiguous:
        raise ValueError("record array must be C-contiguous")
    return arr.view(np.uint8).reshape(arr.shape[0], arr.dtype.itemsize)


def warm_up() -> None:
    """Compile (or load from cache) the kernels before a real-time loop starts."""
    fb = FrameBuffer(4)
    txb = np.zeros((1, 7), np.uint8)
    rxb = np.zeros((1, 8), np.uint8)
    one = np.ones(1, np.int32)
    n = pack_tick(txb, one, one * 0x200, one * 0, one * 7, np.uint8(0), 0x80, fb.ids, fb.lens, fb.flags, fb.data, rxb, 7)
    unpack_tick(fb.ids, fb.lens, fb.flags, fb.data, n, build_lut(one, one * 0x180), 1, one * 0, one * 7, rxb, 7, False, np.zeros(4, np.int32))
