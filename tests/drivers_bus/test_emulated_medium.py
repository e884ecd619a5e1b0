"""The emulated CAN medium in virtual time (manual clock): arbitration, wire time, faults."""

from __future__ import annotations

import can
import pytest

from cerebellum_rt.drivers.can import timing
from cerebellum_rt.drivers.can.emulated import EmulatedBus, Faults, Medium
from cerebellum_rt.rtcore.errors import ConfigError


class ManualClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _bus(m: Medium, name: str) -> EmulatedBus:
    return EmulatedBus(medium_=m, name=name)


@pytest.fixture
def clocked():
    clock = ManualClock()
    made = []

    def make(**kw):
        m = Medium("m", clock=clock, **kw)
        buses = [_bus(m, n) for n in ("a", "b", "c")]
        made.extend(buses)
        return m, buses

    yield clock, make
    for b in made:
        b.shutdown()


def _msg(cid: int, data: bytes = b"") -> can.Message:
    return can.Message(arbitration_id=cid, data=data, is_extended_id=False)


def test_frame_is_delivered_after_its_exact_wire_time(clocked):
    clock, make = clocked
    m, (a, b, c) = make()
    data = bytes(range(8))
    a.send(_msg(0x181, data))
    assert b.recv(0) is None  # still on the wire
    clock.t += timing.frame_time(0x181, data, 1e6) - 1e-9
    assert b.recv(0) is None
    clock.t += 2e-9
    got_b, got_c = b.recv(0), c.recv(0)
    assert got_b.arbitration_id == 0x181 and bytes(got_b.data) == data and got_c is not None
    assert a.recv(0) is None  # the sender does not hear itself
    assert m.stats.frames == 1 and m.stats.busy_s == pytest.approx(timing.frame_time(0x181, data, 1e6))


def test_lowest_identifier_wins_arbitration_among_waiting_frames(clocked):
    clock, make = clocked
    m, (a, b, c) = make()
    a.send(_msg(0x300, b"\x01"))  # takes the idle bus at once
    a.send(_msg(0x280))  # queued behind 0x300 in a's FIFO
    b.send(_msg(0x200))
    c.send(_msg(0x100))
    clock.t += 0.01
    ids = lambda bus: [x.arbitration_id for x in iter(lambda: bus.recv(0), None)]  # noqa: E731
    assert ids(b) == [0x300, 0x100, 0x280]
    assert ids(c) == [0x300, 0x200, 0x280]
    assert ids(a) == [0x100, 0x200]
    assert m.stats.frames == 4


def test_all_frames_arrive_in_arbitration_order(clocked):
    clock, make = clocked
    _m, (a, b, c) = make()
    a.send(_msg(0x700, b"\x05"))
    for cid in (0x381, 0x181, 0x281):
        b.send(_msg(cid, bytes(8)))  # b's FIFO keeps its own order
    a.send(_msg(0x080))
    clock.t += 0.01
    ids = [x.arbitration_id for x in iter(lambda: c.recv(0), None)]
    assert ids == [0x700, 0x080, 0x381, 0x181, 0x281]


def test_drop_loses_frames_for_every_receiver(clocked):
    clock, make = clocked
    m, (a, b, c) = make(faults=Faults(drop=1.0))
    a.send(_msg(0x181, b"\x00"))
    clock.t += 0.01
    assert b.recv(0) is None and c.recv(0) is None
    assert m.stats.dropped == 1


def test_corruption_retransmits_and_ends_in_bus_off(clocked):
    clock, make = clocked
    m, (a, b, _c) = make(faults=Faults(corrupt=1.0))
    a.send(_msg(0x181, bytes(8)))
    clock.t += 1.0
    assert b.recv(0) is None
    assert m.stats.error_frames == 32  # transmit error counter 8 per error: > 255 after 32
    assert a.endpoint.bus_off
    with pytest.raises(can.CanOperationError, match="bus-off"):
        a.send(_msg(0x181))


def test_one_corrupted_frame_costs_an_error_frame_then_arrives(clocked):
    clock, make = clocked
    m, (a, b, _c) = make(faults=Faults(corrupt=0.5, seed=3))
    for k in range(20):
        a.send(_msg(0x181, bytes([k])))
    clock.t += 1.0
    got = [bytes(x.data)[0] for x in iter(lambda: b.recv(0), None)]
    assert got == list(range(20))  # retransmitted in order, nothing lost
    assert m.stats.error_frames > 0
    frames = sum(timing.frame_time(0x181, bytes([k]), 1e6) for k in range(20))
    extra = m.stats.error_frames * (timing.frame_time(0x181, b"\x00", 1e6) + 17e-6)
    assert m.stats.busy_s == pytest.approx(frames + extra, rel=0.05)


def test_babbling_node_starves_higher_identifiers(clocked):
    clock, make = clocked
    m, (a, b, _c) = make(faults=Faults(babble_id=0x001))
    a.send(_msg(0x181, bytes(8)))
    clock.t += 0.01
    assert b.recv(0) is None  # 0x001 always wins
    assert m.stats.frames > 50


def test_forced_bus_off_and_delay(clocked):
    clock, make = clocked
    m, (a, b, c) = make(faults=Faults(delay_s=0.002))
    m.force_bus_off(b.endpoint)
    with pytest.raises(can.CanOperationError):
        b.send(_msg(0x100))
    m.force_bus_off(b.endpoint, on=False)
    a.send(_msg(0x100))
    clock.t += 0.001
    assert c.recv(0) is None
    clock.t += 0.002
    assert c.recv(0) is not None


def test_bad_fault_settings_are_refused():
    with pytest.raises(ConfigError, match=r"faults\.drop = 1\.5"):
        Medium("x", faults=Faults(drop=1.5))
    with pytest.raises(ConfigError, match="bitrate = 2000000"):
        Medium("x", bitrate=2_000_000)
