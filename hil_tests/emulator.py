"""Emulated boards on emulated buses: one process per bus behind an SLCAN pty, or in-process.

``python -m cerebellum_rt.hil_tests.emulator --bus JSON`` is one emulator process (``cbl emulate`` starts
one per bus, or per ``boards_per_process`` boards): an emulated :class:`~drivers.can.emulated.Medium`
in wall-clock time (every frame costs its exact bit time, lowest id wins arbitration, faults
optional), the boards (``cerebellum_rt.drivers.board``, ``threaded=False``, polled by this loop) and an
:class:`~drivers.can.slcan_server.SlcanServer` bridging the medium to a pseudo-terminal. Its
first stdout line is a JSON object describing the endpoint; then, every ``--report-s``
seconds, a line on stderr with the SYNC rate it sustained. SIGINT/SIGTERM end it cleanly.

:class:`InProcessRig` runs the same boards in this process on ``virtual`` or ``emulated``
buses (threaded boards), for tests and single-process demos.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import time
from typing import Any

import can

from cerebellum_rt.drivers.can import timing
from cerebellum_rt.hil_tests.rig import BoardSpec, BusSpec
from cerebellum_rt.rtcore.errors import CblError, ConfigError

TIMER_PERIOD_S = 0.005  # boards without frames still run their timers (heartbeat, timeouts) this often


def make_board(spec: BoardSpec, bus: can.BusABC, fd: bool = False, threaded: bool = True,
               module: Any | None = None) -> Any:
    """An emulated board for ``spec`` on ``bus`` (joint: ``module``, else the preset's module when
    given)."""
    from cerebellum_rt.drivers import board as boards

    if spec.type == "joint":
        if module is None and spec.preset:
            from cerebellum_rt.actuators.joint import JointModule, load_preset

            module = JointModule(load_preset(spec.preset), seed=spec.node)
        return boards.JointBoard(spec.node, bus, module, fd=fd, threaded=threaded, serial_number=spec.node)
    from cerebellum_rt.actuators.hand import HandSim

    hand = HandSim(spec.preset or "hand_prs6")
    return boards.HandBoard(spec.node, bus, hand, fd=fd, threaded=threaded, serial_number=spec.node)


def cycle_wire_time(spec: BusSpec) -> tuple[float, float]:
    """(typical, worst-case) seconds one cycle's PDO traffic + SYNC occupies the bus (no heartbeats):
    typical = exact stuffing of zero payloads, worst = the closed forms of drivers.can.timing."""
    from cerebellum_rt.hil_tests.plan import pdo_sizes

    fd, br, dbr = spec.fd, spec.bitrate, spec.data_bitrate
    typ = timing.frame_time(0x080, b"", br, fd, dbr)
    worst = timing.frame_time_worst(0, br, fd, dbr)
    for b in spec.boards:
        for size in pdo_sizes(b.type, spec.pdo_packing, spec.pdo_compact):
            typ += timing.frame_time(0x181, bytes(size), br, fd, dbr)
            worst += timing.frame_time_worst(size, br, fd, dbr)
    return typ, worst


def endpoint_info(spec: BusSpec, channel: str) -> dict[str, Any]:
    typ, worst = cycle_wire_time(spec)
    info: dict[str, Any] = {"interface": "slcan", "channel": channel, "bitrate": spec.bitrate, "nodes": spec.nodes,
                            "name": spec.name, "fd": spec.fd}
    if spec.fd:
        info["data_bitrate"] = spec.data_bitrate or spec.bitrate
        info["pdo_packing"] = spec.pdo_packing
    if spec.pdo_compact:
        info["pdo_compact"] = True
    info["cycle_wire_time_us"] = round(typ * 1e6, 1)
    info["cycle_wire_time_worst_us"] = round(worst * 1e6, 1)
    info["max_rate_hz"] = int(1.0 / typ) if typ > 0 else 0
    return info


def serve(spec: BusSpec, report_s: float = 5.0, faults: dict | None = None, timed: bool = True) -> int:
    """Run one emulator process's loop until SIGINT/SIGTERM (see module doc)."""
    from cerebellum_rt.drivers.can.emulated import EmulatedBus, Faults, Medium
    from cerebellum_rt.drivers.can.slcan_server import SlcanServer

    stop = {"flag": False}

    def _stop(signum: int, frame: Any) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    medium = Medium(spec.name, spec.bitrate, spec.fd, spec.data_bitrate, Faults(**(faults or {})), timed=timed)
    buses = [EmulatedBus(medium_=medium, name=f"node{b.node}") for b in spec.boards]
    boards = [make_board(b, bus, spec.fd, threaded=False) for b, bus in zip(spec.boards, buses)]
    server = SlcanServer(medium)
    info = endpoint_info(spec, server.path)
    if not timed:
        info["ideal_bus"] = True
    print(json.dumps(info), flush=True)
    last_t, last_syncs, last_busy, last_rate = time.monotonic(), 0, 0.0, 0.0
    try:
        next_timers = 0.0
        parent = os.getppid()
        while not stop["flag"] and os.getppid() == parent:  # also end when the parent died
            server.service()
            now = medium.clock()
            timers = now >= next_timers
            if timers:
                next_timers = now + TIMER_PERIOD_S
            for b, bus in zip(boards, buses):
                if timers or medium.has_rx(bus.endpoint):  # boards with frames, or timers due
                    b.poll()
            server.service()
            nxt = medium.next_event_time()
            now = medium.clock()
            wait = max(0.0, min(next_timers, nxt if nxt is not None else next_timers) - now)
            select.select([server.fileno()], [], [], wait)
            if report_s > 0 and now - last_t >= report_s:
                rate = (server.syncs - last_syncs) / (now - last_t)
                load = (medium.stats.busy_s - last_busy) / (now - last_t)
                if rate > 0 or last_rate > 0:  # quiet while nobody drives the bus
                    print(f"emulate {spec.name}: sustained {rate:.0f} SYNC/s over the last {now - last_t:.0f} s, "
                          f"bus load {load * 100:.0f} %", file=sys.stderr, flush=True)
                last_t, last_syncs, last_busy, last_rate = now, server.syncs, medium.stats.busy_s, rate
    finally:
        for b in boards:
            b.close()
        server.close()
        for bus in buses:
            bus.shutdown()
    return 0


class InProcessRig:
    """The boards of ``spec`` on in-process buses ('virtual' or 'emulated'), threaded; a context manager.
    ``modules``: joint modules by node id, for plants that a rig builds itself (e.g. coupled to MuJoCo).

    ``host_bus()`` opens another endpoint of the same channel for the host.
    """

    def __init__(self, spec: BusSpec, interface: str = "virtual", channel: str | None = None,
                 modules: dict[int, Any] | None = None) -> None:
        from cerebellum_rt.drivers.can import open_bus

        if interface not in ("virtual", "emulated"):
            raise ConfigError(f"in-process rig interface '{interface}' is not one of 'virtual', 'emulated'")
        self.interface = interface
        self.channel = channel or f"rig-{spec.name}-{id(self)}"
        self.spec = spec
        self._open = lambda: open_bus(interface, self.channel, bitrate=spec.bitrate, fd=spec.fd,
                                      data_bitrate=spec.data_bitrate)
        self._buses: list[can.BusABC] = []
        self.boards: list[Any] = []
        try:
            for b in spec.boards:
                bus = self._open()
                self._buses.append(bus)
                self.boards.append(make_board(b, bus, spec.fd, module=(modules or {}).get(b.node)))
        except BaseException:
            self.close()
            raise

    def host_bus(self) -> can.BusABC:
        bus = self._open()
        self._buses.append(bus)
        return bus

    def close(self) -> None:
        for b in self.boards:
            b.close()
        self.boards = []
        for bus in self._buses:
            bus.shutdown()
        self._buses = []

    def __enter__(self) -> InProcessRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bus_from_json(text: str) -> BusSpec:
    d = json.loads(text)
    boards = tuple(BoardSpec(int(b["node"]), b.get("type", "joint"), b.get("preset")) for b in d["boards"])
    return BusSpec(d["name"], "slcan", "", int(d["bitrate"]), bool(d.get("fd", False)),
                   d.get("data_bitrate"), boards, pdo_packing=bool(d.get("pdo_packing", False)),
                   pdo_compact=bool(d.get("pdo_compact", False)))


def bus_to_json(spec: BusSpec) -> str:
    return json.dumps({
        "name": spec.name, "bitrate": spec.bitrate, "fd": spec.fd, "data_bitrate": spec.data_bitrate,
        "pdo_packing": spec.pdo_packing, "pdo_compact": spec.pdo_compact,
        "boards": [{"node": b.node, "type": b.type, "preset": b.preset} for b in spec.boards],
    })


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cerebellum_rt.hil_tests.emulator", description=__doc__.splitlines()[0])
    p.add_argument("--bus", required=True, help="the bus as JSON (name, bitrate, fd, data_bitrate, boards)")
    p.add_argument("--report-s", type=float, default=5.0, help="seconds between rate reports on stderr (0: none)")
    p.add_argument("--faults", default="{}", help="fault injection as JSON (drop, corrupt, delay_s, babble_id)")
    p.add_argument("--ideal-bus", action="store_true", help="frames take no wire time (measure the rest of the chain)")
    args = p.parse_args(argv)
    try:
        return serve(bus_from_json(args.bus), args.report_s, json.loads(args.faults), timed=not args.ideal_bus)
    except CblError as exc:
        print(f"emulator: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
