"""The C board's record path on an emulated medium (no can.Message) against its python-can path:
the same host traffic on two identical timed media in virtual time, one board on each (the
default ``batched`` path, and ``batched=False``) must give the same frames at the same virtual
times, the same medium figures and the same object dictionary afterwards. Hypothesis-generated
NMT / SDO / PDO / SYNC traffic with malformed, extended-id, remote and CAN FD frames, batches
across the RX_BATCH boundary, a board reset (NMT) inside a batch, a power cycle, and the board's
controller bus-off (its replies dropped) and recovered."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import can
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.board.cfirmware import RX_BATCH, FirmwareBoard
from cerebellum_rt.drivers.can.codec import FLAG_BRS, FLAG_EXT, FLAG_FD, FLAG_RTR
from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium, batch_endpoint
from cerebellum_rt.hil_tests.lockstep import VirtualClock
from cerebellum_rt.rtcore.errors import ConfigError

NODE = 5
OBJECTS = [(0x1000, 0), (0x1006, 0), (0x1017, 0), (0x6040, 0), (0x6041, 0), (0x6060, 0), (0x6061, 0),
           (0x607A, 0), (0x2031, 0), (0x1003, 0), (0x1001, 0), (0x6007, 0)]


class _Side:
    """One medium in virtual time: the host's endpoint and a C board on an EmulatedBus."""

    def __init__(self, batched: bool, fd: bool, storage: Path) -> None:
        self.clock = VirtualClock()
        self.clock.ns = 1_000_000_000
        self.medium = Medium("batch-diff", 1_000_000, fd=fd, data_bitrate=4_000_000 if fd else None, clock=self.clock)
        self.host = self.medium.attach("host")
        self.bus = EmulatedBus(medium_=self.medium, name=f"node{NODE}")
        self.board = FirmwareBoard(NODE, self.bus, None, fd=fd, threaded=False, clock=self.clock, batched=batched,
                                   storage_path=storage)
        self.log: list[tuple[float, tuple]] = []

    def run(self, step: tuple) -> None:
        frames, gap_us, event = step
        if event == "bus_off":
            self.medium.force_bus_off(self.bus.endpoint)
        elif event == "recover":
            self.medium.force_bus_off(self.bus.endpoint, on=False)
        elif event == "power_cycle":
            self.board.power_cycle()
        for f in frames:
            self.medium.submit(self.host, f)
        # the host's frames on the wire (1 Mbit/s: ~130 us each), then the board serves what arrived
        self.clock.ns += 200_000 * len(frames) + gap_us * 1000
        self.board.poll()
        self.clock.ns += 3_001_000 + 200_000 * len(frames)  # its replies on the wire
        self.log += self.medium.receive(self.host, 0.0, limit=100_000)

    def figures(self) -> dict:
        st_ = self.medium.stats
        return {"od": [self.board.od_read(i, s) for i, s in OBJECTS], "state": self.board.state,
                "nmt": self.board.nmt_state, "reset": self.board.reset_requested, "frames": st_.frames,
                "dropped": st_.dropped, "busy": st_.busy_s, "received": self.bus.endpoint.received,
                "sent": self.bus.endpoint.sent, "log": self.log, "crashes": self.board.crash_count}

    def close(self) -> None:
        self.board.close()
        self.bus.shutdown()


def _differential(steps: list[tuple], fd: bool = False) -> dict:
    """Both paths through ``steps``; asserts they agree; returns the record path's figures."""
    with tempfile.TemporaryDirectory() as tmp:
        sides = [_Side(batched, fd, Path(tmp) / f"{batched}.flash") for batched in (True, False)]
        try:
            assert sides[0].board.batched and not sides[1].board.batched
            for step in steps:
                for s in sides:
                    s.run(step)
            got, ref = (s.figures() for s in sides)
            assert got == ref
            files = [Path(tmp) / f"{b}.flash" for b in (True, False)]
            assert [f.read_bytes() if f.exists() else None for f in files] == [bytes(s.board.flash) if f.exists() else None
                                                                            for s, f in zip(sides, files)]
            assert files[0].exists() == files[1].exists() and sides[0].board.flash == sides[1].board.flash
            return got
        finally:
            for s in sides:
                s.close()


def _sdo(cs: int, index: int, sub: int, value: int = 0) -> tuple:
    return (0x600 + NODE, 0, struct.pack("<BHBI", cs, index, sub, value))


SAVE = _sdo(0x23, 0x1010, 1, 0x65766173)  # "save": the parameter store written to flash
NMT_START, NMT_RESET_NODE, NMT_RESET_COMM = ((0, 0, bytes((c, NODE))) for c in (0x01, 0x81, 0x82))
SYNC = (0x80, 0, b"")


def _rpdo1(cw: int, mode: int = 8, target: int = 0) -> tuple:
    return (0x200 + NODE, 0, struct.pack("<Hbi", cw, mode, target))


@st.composite
def frame(draw, fd: bool) -> tuple:
    kind = draw(st.sampled_from(["nmt", "sync", "rpdo1", "rpdo2", "sdo", "sdo", "sdo", "raw", "ext", "rtr"]
                                + (["fd", "fd"] if fd else [])))
    if kind == "nmt":
        return (0, 0, bytes((draw(st.sampled_from([0x01, 0x02, 0x80, 0x81, 0x82])), draw(st.sampled_from([0, NODE, 9])))))
    if kind == "sync":
        return (0x80, 0, draw(st.sampled_from([b"", b"\x07", b"\x00\x00"])))
    if kind == "rpdo1":
        return _rpdo1(draw(st.sampled_from([0x00, 0x06, 0x07, 0x0F, 0x80, 0x1F])), draw(st.sampled_from([1, 3, 8, 9, 10, -1])),
                      draw(st.integers(-100_000, 100_000)))
    if kind == "rpdo2":
        return (0x300 + NODE, 0, draw(st.binary(min_size=0, max_size=8)))
    if kind == "sdo":
        index, sub = draw(st.sampled_from([*OBJECTS, (0x1010, 1), (0x1011, 1), (0x6072, 0), (0x1800, 1), (0x1A00, 0),
                                                     (0x1234, 0)]))
        cs = draw(st.sampled_from([0x40, 0x40, 0x23, 0x2B, 0x2F, 0x22, 0x80, 0xA0, 0x21, 0x60]))
        data = struct.pack("<BHBI", cs, index, sub, draw(st.sampled_from([0, 1, 6, 0x0F, 100, 0x65766173, 0x64616F6C, 2**32 - 1])))
        if draw(st.integers(0, 5)) == 0:  # a wrong-length SDO frame
            data = data[: draw(st.integers(0, 7))]
        return (0x600 + NODE, 0, data)
    if kind == "raw":
        return (draw(st.integers(0, 0x7FF)), 0, draw(st.binary(max_size=8)))
    if kind == "ext":  # an extended identifier whose low bits name this node's SDO server
        return (draw(st.sampled_from([0x600 + NODE, 0x1ABC0605, 0x80])), FLAG_EXT, draw(st.binary(max_size=8)))
    if kind == "rtr":
        return (draw(st.sampled_from([0x700 + NODE, 0x180 + NODE, 0x600 + NODE, 0x80])), FLAG_RTR, b"")  # a remote SYNC too
    size = draw(st.sampled_from([0, 8, 12, 20, 32, 48, 64]))
    return (draw(st.sampled_from([0x600 + NODE, 0x200 + NODE, 0x300 + NODE, 0x80])), FLAG_FD | FLAG_BRS, draw(st.binary(min_size=size, max_size=size)))


def steps(fd: bool):
    event = st.sampled_from([None] * 8 + ["bus_off", "recover", "power_cycle"])
    gap = st.sampled_from([0, 97, 1_003, 10_007, 100_003])
    return st.lists(st.tuples(st.lists(frame(fd), max_size=8), gap, event), min_size=1, max_size=14)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps(fd=False))
def test_record_path_replies_as_the_python_can_path(seq):
    _differential([((NMT_START,), 1_003, None), *seq])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps(fd=True))
def test_record_path_replies_as_the_python_can_path_on_can_fd(seq):
    _differential([((NMT_START,), 1_003, None), *seq], fd=True)


@pytest.mark.parametrize("n", [RX_BATCH - 1, RX_BATCH, RX_BATCH + 1, 2 * RX_BATCH, 150])
def test_batches_across_the_rx_batch_boundary_with_a_reset_inside(n):
    """``n`` SDO uploads in one poll (several calls into the image), an NMT reset node and a reset
    communication inside the batch, a save: the same replies at the same times on both paths."""
    uploads = [_sdo(0x40, *OBJECTS[k % len(OBJECTS)]) for k in range(n)]
    burst = [*uploads[: n // 3], NMT_RESET_NODE, *uploads[n // 3 : 2 * n // 3], NMT_RESET_COMM, *uploads[2 * n // 3 :]]
    got = _differential([((NMT_START,), 1_003, None), ((_sdo(0x2B, 0x1017, 0, 10),), 0, None), ((SAVE,), 0, None),
                         (tuple(burst), 0, None), ((SYNC,), 5_003, None)])
    sdo_replies = [f for _, f in got["log"] if f[0] == 0x580 + NODE]
    assert len(sdo_replies) >= n + 2  # every upload answered (or aborted), the writes confirmed
    assert sum(1 for _, f in got["log"] if f == (0x700 + NODE, 0, b"\x00")) == 3  # power-on and the two resets


def test_replies_dropped_while_the_board_is_bus_off_then_served_again():
    """The board's controller bus-off: its replies are dropped (as python-can's send raising
    CanError drops them), the image goes on; recovered, it answers again, on both paths alike."""
    walk = [_rpdo1(cw) for cw in (0x06, 0x07, 0x0F)]

    def run(off: str | None, on: str | None) -> dict:
        return _differential([((NMT_START, _sdo(0x2B, 0x1017, 0, 2)), 1_003, None),
                              ((walk[0], SYNC), 1_003, off), ((walk[1], SYNC, _sdo(0x40, 0x1000, 0)), 1_003, None),
                              ((walk[2], SYNC, _sdo(0x40, 0x6041, 0)), 1_003, on), ((SYNC,), 1_003, None)])

    got, clean = run("bus_off", "recover"), run(None, None)
    assert got["state"] == clean["state"] == "operation_enabled"
    sdo = [[f for _, f in r["log"] if f[0] == 0x580 + NODE] for r in (got, clean)]
    assert len(sdo[1]) == 3 and sdo[0] == [sdo[1][0], sdo[1][2]]  # the answer sent while bus-off is lost
    assert got["sent"] < clean["sent"]


def test_an_emulated_bus_is_served_on_the_record_path_unless_it_changes_recv_or_send():
    clock = VirtualClock()
    medium = Medium("batch-which", 1_000_000, clock=clock)

    class Logged(EmulatedBus):  # a bus that does something of its own on send: python-can path
        def send(self, msg: can.Message, timeout: float | None = None) -> None:
            super().send(msg, timeout)

    plain, logged = EmulatedBus(medium_=medium, name="plain"), Logged(medium_=medium, name="logged")
    try:
        assert batch_endpoint(plain) == (medium, plain.endpoint) and batch_endpoint(logged) is None
        a = FirmwareBoard(1, plain, None, threaded=False, clock=clock)
        b = FirmwareBoard(2, logged, None, threaded=False, clock=clock)
        assert a.batched and not b.batched
        with pytest.raises(ConfigError, match="batched = True needs an emulated bus"):
            FirmwareBoard(3, logged, None, threaded=False, clock=clock, batched=True)
        for x in (a, b):
            x.close()
    finally:
        plain.shutdown()
        logged.shutdown()


@pytest.mark.parametrize(("rig", "scenario", "ticks"), [("legs_canfd", "track", 60), ("single_joint", "fault:bus_off", 300)])
def test_a_rig_runs_bit_for_bit_the_same_on_both_paths(monkeypatch, rig, scenario, ticks):
    """A whole lockstep rig (the boards on the record path, as rigs run them) against the same rig
    with every board's bus a python-can path: the same telemetry and bus traffic digests. Two
    CAN FD buses of three C boards each, and one joint through its bus-off fault."""
    from cerebellum_rt.hil_tests import lockstep, session
    from cerebellum_rt.tools.hil_run import run_scenario

    paths: list[bool] = []

    class Recording(lockstep.World):
        def add_board(self, board, bus) -> None:
            paths.append(board.batched)
            super().add_board(board, bus)

    class MessageBus(EmulatedBus):  # does what EmulatedBus.send does, so the boards use python-can
        def send(self, msg: can.Message, timeout: float | None = None) -> None:
            super().send(msg, timeout)

    class MessageWorld(Recording):
        def board_bus(self, medium, name):
            return MessageBus(medium.name, int(medium.bitrate), medium.fd, medium_=medium, name=name)

    docs = []
    for world in (Recording, MessageWorld):
        monkeypatch.setattr(session, "World", world)
        docs.append(run_scenario(rig, scenario, seed=5, ticks=ticks))
    boards = len(paths) // 2
    assert boards >= 1 and paths == [True] * boards + [False] * boards
    keys = ("telemetry_sha256", "traffic_sha256", "frames", "lost", "passed")
    assert {k: docs[0][k] for k in keys} == {k: docs[1][k] for k in keys}
