"""The emulated CAN medium in virtual time (manual clock): arbitration, wire time, faults."""

from __future__ import annotations

import contextlib

import can
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.can import timing
from cerebellum_rt.drivers.can.codec import FLAG_EXT, FLAG_RTR
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


def test_a_frame_queued_before_a_fault_injection_starts_under_the_old_settings(clocked):
    """A submitted frame goes on the wire at once (it is started by the next look at the bus, which
    reading the fault settings is): corrupting the bus right after the send does not touch it."""
    clock, make = clocked
    m, (a, b, _c) = make()
    a.send(_msg(0x181, bytes(8)))
    m.faults.corrupt = 1.0  # the frame is already on the wire
    clock.t += 0.001
    got = b.recv(0)
    assert got is not None and got.arbitration_id == 0x181 and m.stats.error_frames == 0


_frames = st.lists(st.tuples(st.sampled_from([0x80, 0x181, 0x205, 0x281, 0x605, 0x705]), st.sampled_from([0, 0, FLAG_EXT, FLAG_RTR]),
                             st.binary(max_size=8)), max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "a", "b", "recover"]), _frames, st.sampled_from([0.0, 3e-5, 2e-4, 1e-3]), st.booleans()), max_size=12),
       st.sampled_from([Faults(), Faults(corrupt=0.3, seed=4), Faults(corrupt=1.0), Faults(drop=0.3, seed=2),
                        Faults(babble_id=0x100)]),
       st.booleans())
def test_submit_many_is_submit_frame_by_frame(steps, faults, timed):
    """A batch queued with submit_many is what the same frames sent one by one give: the same
    deliveries at the same times, the same figures (timed and ideal media, with faults, a sender
    going bus-off and recovering)."""
    from dataclasses import replace

    if faults.babble_id is not None and not timed:
        timed = True  # a babbler on an ideal bus (frames of no duration) would never yield it

    logs = []
    for batched in (True, False):
        clock = ManualClock()
        m = Medium("m", clock=clock, faults=replace(faults), timed=timed)
        eps = {n: m.attach(n) for n in ("a", "b", "c")}
        log = []
        for who, frames, dt, look in steps:
            if who == "recover":  # a's controller back from bus-off: it sends what it still holds
                m.force_bus_off(eps["a"], on=False)
            elif batched:
                m.submit_many(eps[who], frames)
            else:
                for f in frames:
                    with contextlib.suppress(can.CanOperationError):  # bus-off: submit_many drops it
                        m.submit(eps[who], f)
            clock.t += dt
            if look:  # else the next submission is the first to see the bus at the new time
                log += [(n, m.receive(ep, 0.0, limit=1000)) for n, ep in eps.items()]
        clock.t += 0.02
        log += [(n, m.receive(ep, 0.0, limit=1000)) for n, ep in eps.items()]
        s = m.stats
        logs.append((log, s.frames, s.error_frames, s.dropped, s.busy_s, s.bus_off_events, [ep.bus_off for ep in eps.values()]))
    assert logs[0] == logs[1]


@pytest.mark.parametrize("batched", [True, False])
def test_a_batch_whose_sender_goes_bus_off_at_its_submission_keeps_its_first_frame(batched):
    """As submit() frame by frame: the first frame passes the bus-off test (the state of the last
    look at the bus), the bus then runs up to now (the sender goes bus-off, its queue flushed) and
    the frame is queued; the next ones are refused. After a recovery the first one is sent."""
    clock = ManualClock()
    m = Medium("m", clock=clock, faults=Faults(corrupt=1.0))
    a, b = m.attach("a"), m.attach("b")
    m.submit(a, (0x181, 0, bytes(8)))
    clock.t += 0.01  # 32 corrupted attempts: bus-off, seen by nobody yet
    later = [(0x281, 0, b"\x01"), (0x381, 0, b"\x02")]
    if batched:
        assert m.submit_many(a, later) == 1
    else:
        m.submit(a, later[0])
        with pytest.raises(can.CanOperationError):
            m.submit(a, later[1])
    assert a.bus_off
    m.faults.corrupt = 0.0
    m.force_bus_off(a, on=False)
    clock.t += 0.01
    assert [f for _, f in m.receive(b, 0.0, limit=10)] == [later[0]]
