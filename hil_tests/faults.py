"""Fault injection on a rig session and the documented reaction to each fault.

Every fault acts through a small hook of the emulated side: the bus medium's :class:`Faults`
(loss, corruption, delay, a babbling node, a dropped command stream), its bus-off switch, a board's
power cycle, the :class:`~cerebellum_rt.hil_tests.session.PlantTap` between a joint module and its
board (encoder, torque sensor, temperature), or the host loop itself (a stall).

:func:`run_fault` runs one lockstep scenario on one joint of a rig: track a sine
(:func:`~cerebellum_rt.hil_tests.scenarios.track`), inject at ``inject_s``, clear at
``clear_s``, run on to recover, and returns a :class:`FaultReport`. :data:`CATALOGUE` says per
fault what the reaction must be (:class:`Expect`); :func:`check` lists what a report breaks,
each line naming the quantity, its value, the limit and the unit.

The reactions (README "Safety"; host side: :mod:`cerebellum_rt.hil_tests.scenarios`):

==================  ========================================================================
frame_loss          1 %: tolerated; every lost sample counted, no rung of the ladder unless
                    chance loses MISSED_LIMIT samples in a row: then the host's quick stop
corruption          error frames and retransmission (a reply may miss its tick: counted), no
                    rung (the same exception as frame_loss)
delay               replies later than the tick: the host detects missed samples (3 ticks),
                    quick-stops the board (quick stop -> switch-on disabled)
bus_off             the host's controller bus-off: the board's command watchdog (0x2031,
                    100 ms) raises EMCY 0x8100, 0x6007 quick stop -> switch-on disabled
babbling_node       id 0x001 floods the bus: as bus_off (no SYNC reaches the board)
board_reset         the board restarts: boot-up frame, power stage off at once; the host
                    brings it up again (0x1006, NMT start) and re-enables it
encoder_glitch      one 0.3 rad spike: the host's plausibility check, quick stop
encoder_loss        the output encoder freezes: the plausibility check, quick stop
torque_saturation   the torque sensor pinned at full scale: sensor / demand mismatch, quick stop
torque_bias         the torque sensor off by half its rated torque: as saturation
over_temperature    winding above 0x2020:3: EMCY 0x4310, fault reaction -> fault; recovery by
                    fault reset once the temperature is back
host_stall          the host sends nothing for 150 ms: the watchdog (EMCY 0x8100) and ladder;
                    the host notices its own stall when it resumes
command_timeout     the board's RPDO1 stops (SYNC goes on): the RPDO deadline 0x1400:5
                    (set to 20 ms) raises EMCY 0x8250, quick stop -> switch-on disabled
==================  ========================================================================

Recovery, for every fault: once cleared, the board is back in operation enabled and tracks
within ``TRACK_TOL_RAD`` over the last 100 ms of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cerebellum_rt.hil_tests import scenarios as sc
from cerebellum_rt.hil_tests.session import RigSession
from cerebellum_rt.rtcore.errors import ConfigError

TRACK_TOL_RAD = 0.02
LADDER = ("quick_stop_active", "switch_on_disabled")
FAULT_LADDER = ("fault",)  # fault reaction (0x605E) may take one cycle or more; the drive ends in fault


@dataclass(frozen=True)
class Expect:
    """The documented reaction: host detection within ``detect_ms`` (None: not needed), the
    board's rungs in order (subsequence of its states), the EMCY code the host must receive,
    samples lost or not."""

    detect_ms: float | None
    ladder: tuple[str, ...] = ()
    emcy: int | None = None
    lost: str = "any"  # "none" | "some" | "any"
    board_ms: float | None = None  # the board leaves operation enabled within this time


@dataclass
class Fault:
    name: str
    apply: Callable[[RigSession, tuple[str, int]], None]
    clear: Callable[[RigSession, tuple[str, int]], None]
    expect: Expect
    doc: str
    prepare: Callable[[RigSession, tuple[str, int]], None] | None = None
    stall: bool = False
    one_tick: bool = False


def _medium(s: RigSession, key: tuple[str, int]) -> Any:
    return s.world.media[key[0]]


def _tap(s: RigSession, key: tuple[str, int]) -> Any:
    tap = s.taps.get(key)
    if tap is None:
        raise ConfigError(f"fault on {key[0]}/node{key[1]}: the board has no joint module to fault")
    return tap


def _set(attr: str, value: Any) -> Callable[[RigSession, tuple[str, int]], None]:
    def f(s: RigSession, key: tuple[str, int]) -> None:
        setattr(_medium(s, key).faults, attr, value)

    return f


def _tap_set(**values: Any) -> Callable[[RigSession, tuple[str, int]], None]:
    def f(s: RigSession, key: tuple[str, int]) -> None:
        tap = _tap(s, key)
        for k, v in values.items():
            setattr(tap, k, v(s, key) if callable(v) else v)

    return f


def _tap_clear(s: RigSession, key: tuple[str, int]) -> None:
    _tap(s, key).clear()


def _bus_off(on: bool) -> Callable[[RigSession, tuple[str, int]], None]:
    def f(s: RigSession, key: tuple[str, int]) -> None:
        host = s.bus(key[0]).host
        host.medium.force_bus_off(host.endpoint, on)

    return f


def _reset_board(s: RigSession, key: tuple[str, int]) -> None:
    board = s.board(*key)
    if not hasattr(board, "power_cycle"):
        raise ConfigError(f"board_reset on {key[0]}/node{key[1]}: needs a board with a power-cycle hook "
                          f"(firmware = 'c', 'qemu' or 'python'); {type(board).__name__} has none")
    board.power_cycle()  # everything from defaults and the saved parameters, boot-up frame


def _rated(s: RigSession, key: tuple[str, int]) -> float:
    return s.bus(key[0]).sdo.read(key[1], 0x6076) / 1000.0  # rated torque 0x6076, mN m


def _rpdo_deadline(s: RigSession, key: tuple[str, int]) -> None:
    s.bus(key[0]).sdo.write(key[1], 0x1400, 5, 20)


def _nothing(s: RigSession, key: tuple[str, int]) -> None:
    pass


CATALOGUE: dict[str, Fault] = {f.name: f for f in (
    Fault("frame_loss", _set("drop", 0.01), _set("drop", 0.0), Expect(None, lost="some"),
          "1 % of the frames on the bus lost"),
    Fault("corruption", _set("corrupt", 0.05), _set("corrupt", 0.0), Expect(None),
          "5 % of the frames hit by a bit error (error frame, retransmission)"),
    Fault("delay", _set("delay_s", 0.003), _set("delay_s", 0.0), Expect(5.0, LADDER, lost="some"),
          "every frame delivered 3 ms late"),
    Fault("bus_off", _bus_off(True), _bus_off(False), Expect(5.0, LADDER, 0x8100, "some", 102.0),
          "the host's CAN controller bus-off"),
    Fault("babbling_node", _set("babble_id", 0x001), _set("babble_id", None), Expect(5.0, LADDER, 0x8100, "some", 102.0),
          "a node sending id 0x001 back to back"),
    Fault("board_reset", _reset_board, _nothing, Expect(3.0, ("switch_on_disabled",), lost="some"),
          "the board restarts (power cycle) mid-run", one_tick=True),
    Fault("encoder_glitch", _tap_set(position_offset_rad=0.3), _tap_clear, Expect(3.0, LADDER),
          "the output encoder reads 0.3 rad off for one tick", one_tick=True),
    Fault("encoder_loss", _tap_set(position_frozen=True), _tap_clear, Expect(100.0, LADDER),
          "the output encoder freezes"),
    Fault("torque_saturation", _tap_set(torque_stuck_nm=lambda s, k: _rated(s, k)),
          _tap_clear, Expect(15.0, LADDER), "the torque sensor pinned at full scale (its rated torque)"),
    Fault("torque_bias", _tap_set(torque_bias_nm=lambda s, k: 0.5 * _rated(s, k)), _tap_clear, Expect(15.0, LADDER),
          "the torque sensor off by half its rated torque"),
    Fault("over_temperature", _tap_set(temperature_c=200.0), _tap_clear,
          Expect(3.0, FAULT_LADDER, 0x4310, board_ms=3.0), "the winding temperature reads 200 °C"),
    Fault("host_stall", _nothing, _nothing, Expect(None, LADDER, 0x8100, "some", 102.0),
          "the host loop sends nothing for 150 ms", stall=True),
    Fault("command_timeout", _set("drop_ids", None), _set("drop_ids", frozenset()),
          Expect(25.0, LADDER, 0x8250, board_ms=22.0), "the board's RPDO1 lost (SYNC goes on); deadline 20 ms",
          prepare=_rpdo_deadline),
)}


def _cut_rpdo1(s: RigSession, key: tuple[str, int]) -> None:
    _medium(s, key).faults.drop_ids = frozenset({0x200 + key[1]})


CATALOGUE["command_timeout"].apply = _cut_rpdo1


@dataclass
class FaultReport:
    fault: str
    target: str
    seed: int
    inject_s: float
    clear_s: float
    host_detect_ms: float | None
    board_react_ms: float | None
    ladder: list[str]
    emcy: list[int]
    recovered: bool
    final_error_rad: float
    received: int
    lost: int
    ticks: int
    bus: dict[str, int] = field(default_factory=dict)
    detections: list[str] = field(default_factory=list)
    cycle_observed: bool = True  # the board reports every cycle (on_cycle: Python board, C image, QEMU); else its polls only

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_fault(session: RigSession, name: str, target: tuple[str, int] | None = None, ticks: int = 600,
              inject_tick: int = 150, clear_tick: int = 300, result: list | None = None) -> FaultReport:
    """Run fault ``name`` (a key of :data:`CATALOGUE`) on ``target`` (bus, node; default the
    session's first joint) in a tracking run; ``session`` must be set up (:meth:`RigSession.setup`).
    ``result``: if given, the :class:`~scenarios.TrackResult` is appended (for plots)."""
    if name not in CATALOGUE:
        raise ConfigError(f"fault '{name}' is not one of {sorted(CATALOGUE)}")
    f = CATALOGUE[name]
    sup_nodes = [k for k in session.nodes if k in session.taps or name not in ("encoder_glitch",)]
    key = target or sup_nodes[0]
    if f.prepare is not None:
        f.prepare(session, key)
    clear_at = inject_tick + 1 if f.one_tick else clear_tick
    events = {inject_tick: lambda s: f.apply(s, key), clear_at: lambda s: f.clear(s, key)}
    stall = (inject_tick, clear_tick - 1) if f.stall else None
    session.injected.append({"fault": name, "target": f"{key[0]}/node{key[1]}", "doc": f.doc,
                             "inject_tick": inject_tick, "clear_tick": clear_at})
    n_ev = len(session.events)
    r = sc.track(session, ticks, events=events, stall=stall)
    if result is not None:
        result.append(r)
    j = session.nodes.index(key)
    t_inj = float(r.t_s[inject_tick])
    t_clr = float(r.t_s[clear_at])
    det = [d for d in r.detections if d.node == key and d.t_s >= t_inj]
    t_end = float(r.t_s[ticks - 100])
    log = session.world.state_log.get(id(session.board(*key)), [])
    cycles = sorted(session.world.cycle_log.get(id(session.board(*key)), []) + log, key=lambda e: e[0])
    during = [st for t, st in cycles if t_inj <= t < t_end]
    before = [st for t, st in cycles if t < t_inj]
    rungs = ([before[-1]] if before else []) + during
    react = next((t for t, st in log if t >= t_inj and st != "operation_enabled"), None)
    tail = slice(ticks - 100, ticks)
    err = r.error_rad(session, j, tail.start, None)
    recovered = all(h[j] == "operation_enabled" for h in r.host_states[tail]) and bool(len(err))
    medium = session.world.media[key[0]]
    return FaultReport(
        name, f"{key[0]}/node{key[1]}", session.seed, t_inj, t_clr,
        (det[0].t_s - t_inj) * 1e3 if det else None,
        (react - t_inj) * 1e3 if react is not None else None,
        sc.state_runs(rungs),
        [ev[3] for ev in session.events[n_ev:] if ev[2] == 0x80 + key[1] and ev[3]],
        recovered, float(np.max(np.abs(err))) if len(err) else float("nan"),
        int(session.received[j]), int(session.lost[j]), session.k,
        {"frames": medium.stats.frames, "error_frames": medium.stats.error_frames, "dropped": medium.stats.dropped,
         "bus_off_events": medium.stats.bus_off_events},
        [f"{(d.t_s - t_inj) * 1e3:+.0f} ms {d.node[0]}/node{d.node[1]}: {d.cause}" for d in r.detections],
        hasattr(session.board(*key), "on_cycle"),
    )


def _subsequence(want: tuple[str, ...], got: list[str]) -> bool:
    it = iter(got)
    return all(any(g == w for g in it) for w in want)


def check(rep: FaultReport) -> list[str]:
    """What ``rep`` breaks of its fault's :class:`Expect` (empty: the documented reaction)."""
    e = CATALOGUE[rep.fault].expect
    bad = []
    if e.detect_ms is not None:
        if rep.host_detect_ms is None:
            bad.append(f"{rep.fault}: host detection = none, limit {e.detect_ms} ms")
        elif rep.host_detect_ms > e.detect_ms:
            bad.append(f"{rep.fault}: host detection = {rep.host_detect_ms:.1f} ms, limit {e.detect_ms} ms")
    if e.board_ms is not None and (rep.board_react_ms is None or rep.board_react_ms > e.board_ms):
        bad.append(f"{rep.fault}: board reaction = {rep.board_react_ms} ms, limit {e.board_ms} ms")
    # A board seen at its polls only (the C image) may run a whole rung inside one catch-up: its
    # last rung is required then, the full ladder where every cycle is observed.
    ladder = e.ladder if rep.cycle_observed else e.ladder[-1:]
    if ladder and not _subsequence(ladder, rep.ladder):
        bad.append(f"{rep.fault}: board states = {rep.ladder}, required in order {list(ladder)}")
    if not e.ladder and rep.host_detect_ms is None and rep.ladder != ["operation_enabled"]:
        bad.append(f"{rep.fault}: board states = {rep.ladder}, limit ['operation_enabled'] (tolerated fault)")
    if not e.ladder and rep.host_detect_ms is not None and not _subsequence(LADDER if rep.cycle_observed else LADDER[-1:],
                                                                            rep.ladder):
        bad.append(f"{rep.fault}: board states = {rep.ladder} after a host detection, required in order {list(LADDER)}")
    if e.emcy is not None and e.emcy not in rep.emcy:
        bad.append(f"{rep.fault}: EMCY codes on the host = {[hex(c) for c in rep.emcy]}, required 0x{e.emcy:04X}")
    if rep.received + rep.lost != rep.ticks:
        bad.append(f"{rep.fault}: samples received {rep.received} + counted lost {rep.lost} = "
                   f"{rep.received + rep.lost}, limit {rep.ticks} ticks (a sample vanished uncounted)")
    if e.lost == "none" and rep.lost:
        bad.append(f"{rep.fault}: samples lost = {rep.lost}, limit 0")
    if e.lost == "some" and not rep.lost:
        bad.append(f"{rep.fault}: samples lost = 0, the fault must cost samples (was it injected?)")
    if not rep.recovered:
        bad.append(f"{rep.fault}: not back in operation enabled over the last 100 ms after the fault cleared")
    elif not rep.final_error_rad <= TRACK_TOL_RAD:
        bad.append(f"{rep.fault}: tracking error after recovery = {rep.final_error_rad:.4f} rad, "
                   f"limit {TRACK_TOL_RAD} rad")
    return bad
