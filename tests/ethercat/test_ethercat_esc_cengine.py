"""The compiled datagram engine against the Python engine (the specification): the same frames into
two lines of slaves, one through :func:`process_frame`, one through :class:`CEngine`; the replies,
the return values, the counters, every byte of every ESC memory image and the completed output
buffers must be identical after every frame. Frames: a master's bring-up and cyclic exchange with
distributed clocks, a recorded SOEM session (bring-up, cyclic exchange, CoE, BOOT and FoE), and
hypothesis-generated datagram lists (every command, registers with side
effects, process RAM, mailboxes), also truncated, with lying length fields and flipped bytes."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.ethercat.esc import regs as R
from cerebellum_rt.drivers.ethercat.esc.cengine import CEngine
from cerebellum_rt.drivers.ethercat.esc.line import (
    APWR,
    BWR,
    FPRD,
    FPWR,
    FRMW,
    LRW,
    LineStats,
    process_frame,
)
from cerebellum_rt.drivers.ethercat.esc.slave import EscSlave
from cerebellum_rt.drivers.ethercat.slave_app import make_app

from .conftest import frame

N = 3


def bring_up(lay: object, n: int) -> list[bytearray]:
    """What a master sends: station addresses, mailbox and PD SyncManagers, FMMUs, PRE-OP, DC
    (receive-time latch, offsets, delays), SAFE-OP, OP."""
    out = [frame(*[(APWR, (-k) & 0xFFFF, R.STATION_ADDR, struct.pack("<H", 0x1001 + k)) for k in range(n)])]
    sm = b"".join(struct.pack("<HHBBBB", start, length, ctrl, 0, 1, 0) for start, length, ctrl, _ in lay.sync_managers())
    out.append(frame((BWR, 0, R.DC_RECV_TIME, bytes(4))))
    for k in range(n):
        fm = struct.pack("<IHBBHBBB3x", k * lay.out_bytes, lay.out_bytes, 0, 7, 0x1100, 0, 2, 1)
        fm += struct.pack("<IHBBHBBB3x", 100 + k * lay.in_bytes, lay.in_bytes, 0, 7, 0x1180, 0, 1, 1)
        out.append(frame((FPRD, 0x1001 + k, R.DC_RECV_TIME, bytes(16)), (FPWR, 0x1001 + k, R.SM_BASE, sm),
                         (FPWR, 0x1001 + k, R.FMMU_BASE, fm), (FPWR, 0x1001 + k, R.AL_CONTROL, struct.pack("<H", R.PREOP)),
                         (FPWR, 0x1001 + k, R.DC_SYS_OFFSET, struct.pack("<q", -k * 1_000_003)),
                         (FPWR, 0x1001 + k, R.DC_SYS_DELAY, struct.pack("<I", 1000 * k))))
        out.append(frame((FPWR, 0x1001 + k, R.AL_CONTROL, struct.pack("<H", R.SAFEOP))))
        out.append(frame((FPWR, 0x1001 + k, R.AL_CONTROL, struct.pack("<H", R.OP))))
    return out


def cyclic(lay: object, n: int, k: int) -> bytearray:
    io = bytes((k + j) & 0xFF for j in range(100 + n * lay.in_bytes))
    return frame((LRW, 0, 0, io), (FRMW, 0x1001, R.DC_SYS_TIME, bytes(8)))


class Pair:
    """Two lines fed the same frames: ``py`` through the Python engine, ``c`` through the C engine."""

    def __init__(self) -> None:
        self.py = [EscSlave(make_app("joint", k + 1), serial=k + 1, clock_offset_ns=k * 7_001) for k in range(N)]
        self.c = [EscSlave(make_app("joint", k + 1), serial=k + 1, clock_offset_ns=k * 7_001) for k in range(N)]
        for k, (a, b) in enumerate(zip(self.py, self.c)):
            a.place(k, N)
            b.place(k, N)
        self.engine = CEngine(self.c)
        self.st_py, self.st_c = LineStats(), LineStats()
        self.t = 1_000_000_000

    def feed(self, f: bytearray) -> None:
        self.t += 1_000_000
        f1, f2 = bytearray(f), bytearray(f)
        ok1 = process_frame(self.py, f1, self.t, self.st_py)
        ok2 = self.engine.process(f2, self.t, self.st_c)
        assert ok1 == ok2, f.hex()
        assert f1 == f2, f"{f.hex()}\npy {f1.hex()}\nc  {f2.hex()}"
        for k, (a, b) in enumerate(zip(self.py, self.c)):
            assert a.mem == b.mem, (k, f.hex(), [i for i in range(R.MEM_SIZE) if a.mem[i] != b.mem[i]][:10])
            assert a.outputs == b.outputs, (k, f.hex())
            assert (a.al_state, a._dc_adjust_ns, a._mbx_req) == (b.al_state, b._dc_adjust_ns, b._mbx_req), (k, f.hex())
        assert self.st_py == self.st_c


def test_bring_up_and_cyclic_exchange_with_dc_are_identical() -> None:
    p = Pair()
    lay = p.py[0].layout
    for f in bring_up(lay, N):
        p.feed(f)
    assert [s.al_state for s in p.c] == [R.OP] * N
    events = p.engine.events
    assert events >= 4 * N  # AL control, SM / FMMU programming and DC offsets went through Python
    for k in range(50):
        for a, b in zip(p.py, p.c):  # the applications' inputs in SM3
            data = bytes((k * 3 + j) & 0xFF for j in range(lay.in_bytes))
            a._write_inputs(data)
            b._write_inputs(data)
        p.feed(cyclic(lay, N, k))
        assert [a.take_outputs() for a in p.py] == [b.take_outputs() for b in p.c]
    f = cyclic(lay, N, 0)
    p.engine.process(f, p.t)
    assert struct.unpack_from("<H", f, len(f) - 2)[0] == N  # FRMW: the reference read (1), N-1 written
    assert all(s._dc_locked for s in p.c[1:]) and all(s._wd_t for s in p.c)
    assert p.engine.events == events + 1  # only the first reference time (clocks not aligned yet) needed Python


_REGS = [0x0000, 0x0010, 0x0100, 0x0110, 0x0120, 0x0130, 0x0134, 0x0300, 0x0400, 0x0420, 0x0440, 0x0500, 0x0502,
         0x0504, 0x0508, 0x0600, 0x0610, 0x0620, 0x0800, 0x0805, 0x0808, 0x080D, 0x080E, 0x0810, 0x0818, 0x0900,
         0x0910, 0x0914, 0x0918, 0x0920, 0x0928, 0x0980, 0x0981, 0x0990, 0x09A0, 0x1000, 0x1080, 0x1100, 0x1180,
         0x1FF0]

datagrams = st.lists(st.tuples(
    st.one_of(st.integers(0, 14), st.sampled_from([LRW, FRMW, 15, 200])),
    st.one_of(st.sampled_from([0, 0xFFFF, 0xFFFE, 0x1001, 0x1002, 0x1003]), st.integers(0, 0x200), st.integers(0, 0xFFFF)),
    st.one_of(st.sampled_from(_REGS), st.integers(0, 0x2010)),
    st.binary(min_size=0, max_size=40)), min_size=1, max_size=4)
damage = st.one_of(st.none(), st.tuples(st.sampled_from(["truncate", "flip", "length"]), st.integers(0, 10_000),
                                        st.integers(0, 255)))


def _damaged(f: bytearray, how: tuple[str, int, int] | None) -> bytearray:
    if how is None:
        return f
    kind, at, value = how
    if kind == "truncate":
        return f[: at % (len(f) + 1)]
    if kind == "flip":
        f[14 + at % (len(f) - 14)] ^= value or 1
        return f
    f[(14, 15, 22, 23)[at % 4]] = value
    return f


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(configured=st.booleans(), frames=st.lists(st.tuples(datagrams, damage), min_size=1, max_size=8))
def test_generated_and_damaged_frames_are_identical(configured: bool, frames: list) -> None:
    p = Pair()
    if configured:  # from OP (process data, DC, mailboxes programmed) or from power-on
        for f in bring_up(p.py[0].layout, N):
            p.feed(f)
    for dgs, how in frames:
        p.feed(_damaged(frame(*dgs), how))


def recorded_frames() -> list[bytearray]:
    """The frames a SOEM master sent to a line of 3 joints (data/record_soem_frames.py)."""
    raw = gzip.decompress((Path(__file__).parent / "data" / "soem_frames.bin.gz").read_bytes())
    out, pos = [], 0
    while pos < len(raw):
        n = struct.unpack_from("<H", raw, pos)[0]
        out.append(bytearray(raw[pos + 2 : pos + 2 + n]))
        pos += 2 + n
    return out


def test_recorded_soem_session_is_identical() -> None:
    p = Pair()
    frames = recorded_frames()
    assert len(frames) > 400
    seen: set[tuple[int, ...]] = set()
    for f in frames:
        p.feed(f)
        for a, b in zip(p.py, p.c):  # the mailbox requests answered, as the line does after a frame
            a.mailbox_service()
            b.mailbox_service()
        seen.add(tuple(s.al_state for s in p.c))
    assert (R.OP,) * 3 in seen and any(st[1] == R.BOOT for st in seen)  # the session replayed: OP, BOOT
    assert p.st_py.malformed == 0 and p.engine.events < len(frames) // 3  # the cyclic frames stayed in C
