"""Distributed clocks: system-time offsets, the drift compensation and SYNC0 of the emulated ESCs,
in virtual time (the engine driven with chosen frame times) and with SOEM's ``config_dc`` /
``dcsync0`` on the emulated line in a netns (register values and event counts, no timing)."""

from __future__ import annotations

import struct
import time

import pytest

from cerebellum_rt.drivers.ethercat.emulated import EmulatedLine
from cerebellum_rt.drivers.ethercat.esc import regs as R
from cerebellum_rt.drivers.ethercat.esc.line import BWR, FPRD, FPWR, FRMW, process_frame
from cerebellum_rt.drivers.ethercat.esc.slave import EscSlave
from cerebellum_rt.drivers.ethercat.master import EtherCatTransport
from cerebellum_rt.drivers.ethercat.slave_app import make_app

from .conftest import frame

needs_netns = pytest.mark.needs("ip", root="network namespaces and raw sockets")
CYCLE = 1_000_000
T0 = 5_000_000_000  # virtual host time of the first frame, ns


def data_of(f: bytearray, k: int) -> bytes:
    pos = 16
    for _ in range(k):
        pos += 12 + (struct.unpack_from("<H", f, pos + 6)[0] & 0x7FF)
    n = struct.unpack_from("<H", f, pos + 6)[0] & 0x7FF
    return bytes(f[pos + 10 : pos + 10 + n])


def fprd(slaves: list[EscSlave], k: int, ado: int, n: int, t: int) -> bytes:
    f = frame((FPRD, 0x1001 + k, ado, bytes(n)))
    process_frame(slaves, f, t)
    return data_of(f, 0)


def fpwr(slaves: list[EscSlave], k: int, ado: int, data: bytes, t: int) -> None:
    process_frame(slaves, frame((FPWR, 0x1001 + k, ado, data)), t)


def line_of(n: int) -> list[EscSlave]:
    slaves = [EscSlave(make_app("joint", k + 1), serial=k + 1, clock_offset_ns=k * 1_000_003) for k in range(n)]
    for k, s in enumerate(slaves):
        s.place(k, n)
        struct.pack_into("<H", s.mem, R.STATION_ADDR, 0x1001 + k)
    return slaves


def config_dc(slaves: list[EscSlave], t: int) -> list[int]:
    """SOEM's config_dc in virtual time: latch the receive times (BWR 0x0900), offset = master time
    - the latched time (0x0918), delay from the port times of neighbours; returns the delays."""
    process_frame(slaves, frame((BWR, 0, R.DC_RECV_TIME, bytes(4))), t)
    spans, delays = [], []
    for k in range(len(slaves)):
        pu = struct.unpack("<q", fprd(slaves, k, R.DC_RECV_TIME_PU, 8, t + 10_000))[0]
        port0, port1 = struct.unpack("<II", fprd(slaves, k, R.DC_RECV_TIME, 8, t + 10_000))
        spans.append(port1 - port0 if port1 else 0)
        delays.append(0 if k == 0 else delays[-1] + (spans[k - 1] - spans[k]) // 2)
        fpwr(slaves, k, R.DC_SYS_OFFSET, struct.pack("<q", 10**15 - pu), t + 20_000)
        fpwr(slaves, k, R.DC_SYS_DELAY, struct.pack("<I", delays[k]), t + 20_000)
    return delays


def system_times(slaves: list[EscSlave], t: int) -> list[int]:
    """0x0910 of every slave, read by one frame at virtual time ``t``."""
    f = frame(*[(FPRD, 0x1001 + k, R.DC_SYS_TIME, bytes(8)) for k in range(len(slaves))])
    process_frame(slaves, f, t)
    return [struct.unpack("<q", data_of(f, k))[0] for k in range(len(slaves))]


def test_offsets_compensation_and_sync0_in_phase_in_virtual_time() -> None:
    slaves = line_of(4)
    delays = config_dc(slaves, T0)
    assert delays == [0, 500, 1000, 1500]  # the modelled 500 ns per hop, found from the port times
    sys_t = system_times(slaves, T0 + 50_000)
    # negative control: the offsets alone leave each clock behind by its delay (one frame reads
    # the same value everywhere although it reaches slave k k*500 ns later)
    assert len(set(sys_t)) == 1
    apps = [s.app for s in slaves]
    for k in range(4):  # dcsync0: stop, read the system time, start a whole number of cycles ahead
        fpwr(slaves, k, R.DC_ACTIVATION, b"\0", T0 + 60_000)
        now = struct.unpack("<q", fprd(slaves, k, R.DC_SYS_TIME, 8, T0 + 60_000))[0]
        start = ((now + 100_000_000) // CYCLE) * CYCLE + CYCLE
        fpwr(slaves, k, R.DC_SYNC0_START, struct.pack("<Q", start), T0 + 60_000)
        fpwr(slaves, k, R.DC_SYNC0_CYCLE, struct.pack("<I", CYCLE), T0 + 60_000)
        fpwr(slaves, k, R.DC_ACTIVATION, b"\x03", T0 + 60_000)
    before = [a.next_sync0_monotonic_ns() for a in apps]
    assert len(set(before)) == 4  # not yet compensated: SYNC0 k*500 ns apart in host time
    process_frame(slaves, frame((FRMW, 0x1001, R.DC_SYS_TIME, bytes(8))), T0 + 70_000)  # reference time
    sys_t = system_times(slaves, T0 + 80_000)
    assert [st - d for st, d in zip(sys_t, delays)] == [sys_t[0]] * 4  # one system time on the line
    host = {a.next_sync0_monotonic_ns() for a in apps}
    assert len(host) == 1  # every SYNC0 at the same host instant
    h = host.pop()
    assert [a.take_sync0(h - 1) for a in apps] == [None] * 4
    first = [a.take_sync0(h) for a in apps]
    assert len(set(first)) == 1 and first[0] % CYCLE == 0
    third = [a.take_sync0(h + 3 * CYCLE) for a in apps]
    assert third == [first[0] + 3 * CYCLE] * 4 and all(a.sync0_missed == 2 for a in apps)
    nxt = struct.unpack("<Q", fprd(slaves, 2, R.DC_SYNC0_START, 8, h + 3 * CYCLE + 10))[0]
    assert nxt == first[0] + 4 * CYCLE  # 0x0990 reads the next event once SYNC0 runs
    fpwr(slaves, 0, R.DC_ACTIVATION, b"\0", h + 4 * CYCLE)
    assert apps[0].take_sync0(h + 9 * CYCLE) is None and apps[1].take_sync0(h + 9 * CYCLE) is not None


@needs_netns
@pytest.mark.parametrize("workers", [0, -1])  # boards in worker processes / in the engine's process
def test_soem_configures_dc_and_the_boards_step_at_sync0_in_phase(workers: int) -> None:
    with EmulatedLine(["joint", "joint", "hand"], workers=workers) as line, EtherCatTransport(line.iface, timeout_us=20_000) as t:
        assert t.has_dc
        tx, rx = t.tx_array(), t.rx_array()
        t.enable_sync0(CYCLE)
        t.start(tx)
        for _ in range(50):
            t.cycle(tx, rx)
            time.sleep(0.001)
        st0 = line.status()["slaves"]
        for _ in range(200):
            t.cycle(tx, rx)
            time.sleep(0.001)
        st1 = line.status()["slaves"]
        nxt = [struct.unpack("<Q", s._fprd(R.DC_SYNC0_START, 8, 20_000))[0] for s in t.soem.slaves]
    sync = [s["sync0"] for s in st1]
    assert all(y["active"] and y["cycle_ns"] == CYCLE for y in sync)
    offsets = [s["system_offset_ns"] for s in st1]
    assert len(set(offsets)) == 1  # SOEM's offsets and the reference time align every ESC clock ...
    assert len({s["clock_offset_ns"] for s in st1}) == 3  # ... that started elsewhere (control)
    assert len({(y["start"] - y["system_offset_ns"]) % CYCLE for y in sync}) == 1  # SYNC0 in phase
    assert {(n - sync[0]["start"]) % CYCLE for n in nxt} == {0}  # 0x0990 on one grid
    assert all((y["last"] - y["start"]) % CYCLE == 0 for y in sync)
    for a, b in zip(st0, st1):  # the law stepped once per SYNC0 event, not per frame
        events = b["sync0"]["events"] - a["sync0"]["events"]
        assert events > 0 and b["cycles"] - a["cycles"] == events
