"""The ESC emulator without a wire: datagrams, working counters, addressing, AL state machine and
codes, watchdog (virtual time), CoE SDO against the board's store, and bounded fuzzing of frames
and mailboxes."""

from __future__ import annotations

import random
import struct

import pytest

from cerebellum_rt.drivers.ethercat.esc import regs as R
from cerebellum_rt.drivers.ethercat.esc.coe import CoeServer
from cerebellum_rt.drivers.ethercat.esc.line import (
    APRD,
    APWR,
    BRD,
    BWR,
    FPRD,
    FPRW,
    FPWR,
    LRW,
    LineStats,
    process_frame,
)
from cerebellum_rt.drivers.ethercat.esc.slave import EscSlave
from cerebellum_rt.drivers.ethercat.slave_app import make_app

from .conftest import frame


def datagram(f: bytearray, k: int = 0) -> tuple[int, bytes, int]:
    pos = 16
    for _ in range(k + 1):
        _cmd, _i, adp, _ado, lenf, _irq = struct.unpack_from("<BBHHHH", f, pos)
        n = lenf & 0x7FF
        data, wkc = bytes(f[pos + 10 : pos + 10 + n]), struct.unpack_from("<H", f, pos + 10 + n)[0]
        pos += 12 + n
    return adp, data, wkc


@pytest.fixture(scope="module")
def line() -> list[EscSlave]:
    return [EscSlave(make_app("joint", k + 1), serial=k + 1) for k in range(3)]


def configure(slaves: list[EscSlave]) -> None:
    """What a master does: station addresses, mailbox SMs, PREOP, PD SMs + FMMUs, SAFE-OP, OP."""
    for k, s in enumerate(slaves):
        s.power_on()
        s.place(k, len(slaves))
    process_frame(slaves, frame(*[(APWR, (-k) & 0xFFFF, R.STATION_ADDR, struct.pack("<H", 0x1001 + k))
                                  for k in range(len(slaves))]))
    lay = slaves[0].layout
    sm = b"".join(struct.pack("<HHBBBB", start, length, ctrl, 0, 1, 0) for start, length, ctrl, _ in lay.sync_managers())
    laddr = 0
    for k in range(len(slaves)):
        fm = struct.pack("<IHBBHBBB3x", laddr, lay.out_bytes, 0, 7, 0x1100, 0, 2, 1)
        fm += struct.pack("<IHBBHBBB3x", 100 + k * lay.in_bytes, lay.in_bytes, 0, 7, 0x1180, 0, 1, 1)
        laddr += lay.out_bytes
        f = frame((FPWR, 0x1001 + k, R.SM_BASE, sm), (FPWR, 0x1001 + k, R.FMMU_BASE, fm),
                  (FPWR, 0x1001 + k, R.AL_CONTROL, struct.pack("<H", R.PREOP)))
        process_frame(slaves, f)
        process_frame(slaves, frame((FPWR, 0x1001 + k, R.AL_CONTROL, struct.pack("<H", R.SAFEOP))))
        process_frame(slaves, frame((FPWR, 0x1001 + k, R.AL_CONTROL, struct.pack("<H", R.OP))))


def test_counting_addressing_and_working_counters(line: list[EscSlave]) -> None:
    for s in line:
        s.power_on()
    f = frame((BRD, 0, R.TYPE, b"\0\0"))
    assert process_frame(line, f)
    adp, data, wkc = datagram(f)
    assert wkc == 3 and adp == 3 and data == bytes([0x11, 0x02])  # every slave, ADP incremented by each
    assert f[6] & 0x02  # processed frames carry the ESC's mark in the source address
    f = frame(*[(APWR, (-k) & 0xFFFF, R.STATION_ADDR, struct.pack("<H", 0x1001 + k)) for k in range(3)])
    process_frame(line, f)
    assert [s.station_address for s in line] == [0x1001, 0x1002, 0x1003]
    assert [datagram(f, k)[2] for k in range(3)] == [1, 1, 1]
    f = frame((FPRD, 0x1002, R.STATION_ADDR, b"\0\0"), (FPRD, 0x1009, R.STATION_ADDR, b"\0\0"),
              (APRD, 0xFFFE, R.STATION_ADDR, b"\0\0"), (FPRW, 0x1001, R.ALIAS, b"\x05\x00"))
    process_frame(line, f)
    assert datagram(f, 0)[1:] == (b"\x02\x10", 1)
    assert datagram(f, 1)[2] == 0  # nobody has that address: working counter unchanged
    assert datagram(f, 2)[1:] == (b"\x03\x10", 1)
    assert datagram(f, 3)[2] == 3  # read-write: +1 read, +2 write
    f = frame((BWR, 0, R.AL_STATUS, b"\x08\x00"))  # AL status is read-only to the master
    process_frame(line, f)
    assert all(s.al_state == R.INIT for s in line)


def test_al_state_machine_codes(line: list[EscSlave]) -> None:
    s = line[0]
    s.power_on()
    struct.pack_into("<H", s.mem, R.STATION_ADDR, 0x1001)
    process_frame([s], frame((FPWR, 0x1001, R.AL_CONTROL, struct.pack("<H", R.OP))))
    assert (s.al_state, s.al_code, bool(s.mem[R.AL_STATUS] & R.AL_ERROR)) == (R.INIT, 0x0011, True)
    process_frame([s], frame((FPWR, 0x1001, R.AL_CONTROL, struct.pack("<H", R.PREOP))))
    assert s.al_code == 0x0011  # an error must be acknowledged first
    process_frame([s], frame((FPWR, 0x1001, R.AL_CONTROL, struct.pack("<H", R.PREOP | R.AL_ERROR))))
    assert (s.al_state, s.al_code) == (R.INIT, 0x0016)  # no mailbox SyncManagers configured
    process_frame([s], frame((FPWR, 0x1001, R.AL_CONTROL, struct.pack("<H", R.BOOT | R.AL_ERROR))))
    assert s.al_code == 0x0015  # BOOT needs the bootstrap mailbox SyncManagers (SII words 0x14-0x17)
    assert R.al_code_name(0x001B) == "sync manager watchdog"


def test_lrw_cycles_the_board_and_watchdog_disables_it(line: list[EscSlave]) -> None:
    configure(line)
    assert all(s.al_state == R.OP for s in line)
    lay = line[0].layout
    out = struct.pack("<Hbi", 0x06, 8, 0).ljust(lay.out_bytes, b"\0")
    f = frame((LRW, 0, 0, out * 3 + bytes(100 - 3 * lay.out_bytes) + bytes(3 * lay.in_bytes)))
    process_frame(line, f)
    assert datagram(f)[2] == 3 * 3  # each slave: +2 outputs written, +1 inputs read
    for s in line:
        s.app.cycle(s.take_outputs())
    assert all(s.app.board.state == "ready_to_switch_on" for s in line)
    for cw in (0x07, 0x0F):
        out = struct.pack("<Hbi", cw, 8, 0).ljust(lay.out_bytes, b"\0")
        process_frame(line, frame((LRW, 0, 0, out * 3)))
        for s in line:
            s.app.cycle(s.take_outputs())
    assert all(s.app.power_enabled for s in line)
    s = line[0]
    t0 = s._wd_t
    assert not s.check_watchdog(t0 + 0.099)  # 100 ms default: not yet
    assert s.check_watchdog(t0 + 0.101)
    assert (s.al_state, s.al_code) == (R.SAFEOP, 0x001B)
    for _ in range(2000):  # the board's own clock runs the 0x6007 reaction
        s.app.service()
        if not s.app.power_enabled:
            break
    assert not s.app.power_enabled and s.app.board.state != "operation_enabled"
    assert line[1].app.power_enabled  # negative control: the slave whose watchdog did not expire


def mbx(body: bytes, counter: int = 1) -> bytes:
    return (struct.pack("<HHBB", len(body), 0, 0, 0x03 | counter << 4) + body).ljust(128, b"\0")


def upload(coe: CoeServer, index: int, sub: int, ca: bool = False) -> bytes:
    r = coe.handle(mbx(struct.pack("<HBHB4x", 0x2000, 0x50 if ca else 0x40, index, sub)))
    assert len(r) == 1
    length = struct.unpack_from("<H", r[0])[0]
    body = r[0][6 : 6 + length]
    cmd = body[2]
    if cmd == 0x80:
        raise LookupError(hex(struct.unpack_from("<I", body, 6)[0]))
    if cmd & 0x02:
        return body[6 : 6 + 4 - ((cmd >> 2) & 3)]
    size = struct.unpack_from("<I", body, 6)[0]
    data = bytearray(body[10:])
    toggle = 0
    while len(data) < size:
        r = coe.handle(mbx(struct.pack("<HB7x", 0x2000, 0x60 | toggle << 4)))
        seg = r[0][6 : 6 + struct.unpack_from("<H", r[0])[0]]
        data += seg[3:] if len(seg) > 10 else seg[3 : 10 - ((seg[2] >> 1) & 7)]
        toggle ^= 1
    return bytes(data[:size])


@pytest.mark.parametrize("board", ["joint", "hand"])
def test_coe_upload_of_every_object_equals_the_store(board: str) -> None:
    app = make_app(board, 3)
    coe = CoeServer(app, 128)
    n = 0
    for e in app.board.table.entries():
        if e.access == "wo":
            continue
        assert upload(coe, e.index, e.subindex) == app.board.store.read(e.index, e.subindex), hex(e.index)
        n += 1
    assert n > 50
    with pytest.raises(LookupError, match="0x6020000"):
        upload(coe, 0x5FFF, 0)
    ca = upload(coe, 0x1C12, 0, ca=True)
    assert ca[0] == len(app.layout.rx) and struct.unpack_from("<H", ca, 2)[0] == 0x1600


def test_coe_download_expedited_normal_and_abort() -> None:
    app = make_app("joint", 4)
    coe = CoeServer(app, 128)
    r = coe.handle(mbx(struct.pack("<HBHBi", 0x2000, 0x23, 0x607A, 0, -1234)))
    assert r[0][8] == 0x60 and app.board.store.get(0x607A, 0) == -1234
    r = coe.handle(mbx(struct.pack("<HBHBIi", 0x2000, 0x21, 0x607A, 0, 4, 99)))
    assert r[0][8] == 0x60 and app.board.store.get(0x607A, 0) == 99
    r = coe.handle(mbx(struct.pack("<HBHBI", 0x2000, 0x23, 0x1018, 1, 5)))
    assert r[0][8] == 0x80 and struct.unpack_from("<I", r[0], 12)[0] == 0x06010002  # read-only


def test_fuzzed_frames_and_mailboxes_never_crash() -> None:
    rng = random.Random(18)
    slaves = [EscSlave(make_app("joint", k + 1), serial=k + 1) for k in range(2)]
    configure(slaves)
    st = LineStats()
    good = frame((BRD, 0, R.TYPE, b"\0\0"), (LRW, 0, 0, bytes(60)), (FPRD, 0x1001, R.DL_STATUS, b"\0\0"))
    for _ in range(3000):
        f = bytearray(good)
        for _ in range(rng.randrange(1, 6)):
            f[rng.randrange(len(f))] = rng.randrange(256)
        if rng.random() < 0.3:
            f = f[: rng.randrange(len(f))]
        process_frame(slaves, f, 0, st)
    assert st.frames == 3000 and st.malformed > 100
    coe = slaves[0].app.coe
    for _ in range(3000):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 140)))
        if rng.random() < 0.5 and len(raw) > 8:
            raw = struct.pack("<HHBB", rng.randrange(140), 0, 0, 0x03) + struct.pack("<H", 0x2000) + raw[8:]
        for reply in coe.handle(raw):
            length, _a, _c, kind = struct.unpack_from("<HHBB", reply)
            assert length == len(reply) - 6 and kind & 0x0F in (0x00, 0x03)
    assert coe.errors > 100
    assert upload(coe, 0x1018, 2) == struct.pack("<I", slaves[0].layout.product_code)  # still serving


def test_planned_lrw_path_equals_the_general_path() -> None:
    rng = random.Random(7)
    fast = [EscSlave(make_app("joint", k + 1), serial=k + 1) for k in range(3)]
    slow = [EscSlave(make_app("joint", k + 1), serial=k + 1) for k in range(3)]
    configure(fast)
    configure(slow)
    lay = fast[0].layout
    n = 100 + 3 * lay.in_bytes
    for _ in range(20):
        for a, b in zip(fast, slow):  # same inputs in SM3 on both lines
            data = bytes(rng.randrange(256) for _ in range(lay.in_bytes))
            a._write_inputs(data)
            b._write_inputs(data)
        for s in slow:
            s._plans = {(0, n, True, True): ()}  # () = take the general path
        payload = bytes(rng.randrange(256) for _ in range(n))
        f1, f2 = frame((LRW, 0, 0, payload)), frame((LRW, 0, 0, payload))
        process_frame(fast, f1, 1_000)
        process_frame(slow, f2, 1_000)
        assert f1 == f2 and datagram(f1)[2] == 9
        assert [s.take_outputs() for s in fast] == [s.take_outputs() for s in slow]
        assert all(a.mem == b.mem for a, b in zip(fast, slow))
    assert all(s._plans[(0, n, True, True)] for s in fast)  # the fast line did use its plans


def test_shared_process_data_slots_hand_over_only_complete_buffers() -> None:
    import mmap

    from cerebellum_rt.drivers.ethercat.esc.pdi import Slot

    mem = mmap.mmap(-1, 256)
    a = Slot(mem, 0, 6, 10)
    b = Slot(mem, a.end, 3, 5)
    a.put_inputs(b"0123456789")
    b.put_inputs(b"abcde")
    assert (a.take_inputs(), b.take_inputs()) == (b"0123456789", b"abcde")
    assert a.take_inputs() is None  # nothing new
    a.put_outputs(b"OUTPUT")
    seq, out = a.take_outputs(0)
    assert out == b"OUTPUT" and a.take_outputs(seq) == (seq, None)
    struct.pack_into("<I", mem, a.in_seq, struct.unpack_from("<I", mem, a.in_seq)[0] + 1)  # writer inside
    mem[a.in_data] = ord("X")
    assert a.take_inputs() is None  # a buffer being written is never taken
    struct.pack_into("<I", mem, a.in_seq, struct.unpack_from("<I", mem, a.in_seq)[0] + 1)
    assert a.take_inputs() == b"X123456789" and b.take_inputs() is None
