"""Emulated boards on emulated buses: one process per bus behind an SLCAN pty, or in-process.

``python -m cerebellum_rt.hil_tests.emulator --bus JSON`` is one emulator process (``cbl emulate`` starts
one per bus, or per ``boards_per_process`` boards): an emulated :class:`~drivers.can.emulated.Medium`
in wall-clock time (every frame costs its exact bit time, lowest id wins arbitration, faults
optional), the boards (``cerebellum_rt.drivers.board``, ``threaded=False``, polled by this loop) and an
:class:`~drivers.can.slcan_server.SlcanServer` bridging the medium to a pseudo-terminal. With ``--state-dir`` every board keeps
the parameters saved by 0x1010 in its own file, written atomically, so they survive a kill and a
restart: ``STATE_DIR/<bus>/node<N>.json`` for the Python board (:mod:`cerebellum_rt.drivers.board.store`),
``node<N>.flash`` for the C image (its raw parameter flash); a board started on one firmware with
only the other's file present gets the saved set carried across (:func:`carry_saved_parameters`). Its
first stdout line is a JSON object describing the endpoint (``channel``: the master port;
``monitor_channels``: ``--monitors`` more ptys on the same bus for tools that watch and read but
never command, see :mod:`~drivers.can.slcan_server`); then, every ``--report-s``
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
from pathlib import Path
from typing import Any

import can

from cerebellum_rt.drivers.board.migrate import c_flash_path
from cerebellum_rt.drivers.can import timing
from cerebellum_rt.hil_tests.rig import DEFAULT_FIRMWARE, BoardSpec, BusSpec
from cerebellum_rt.rtcore.errors import CblError, ConfigError, check_range

TIMER_PERIOD_S = 0.005  # boards without frames still run their timers (heartbeat, timeouts) this often
MAX_MONITORS = 8


def storage_file(state_dir: str | os.PathLike, bus_name: str, node: int) -> Path:
    """The flash file of board ``node`` on bus ``bus_name`` under ``state_dir`` (0x1010 saves)."""
    return Path(state_dir) / bus_name / f"node{node}.json"


def make_board(spec: BoardSpec, bus: can.BusABC, fd: bool = False, threaded: bool = True,
               storage_path: str | os.PathLike | None = None, module: Any | None = None,
               image_key: str | os.PathLike | None = None, clock: Any = None, plant: bool = True,
               slot_size: int | None = None) -> Any:
    """An emulated board for ``spec`` on ``bus``, running ``spec.firmware`` ("python": the
    specification, drivers/board; "c": the board's C image through cffi; "qemu": its Cortex-M4F
    image under QEMU). Joint: ``module``, else the preset's module when the spec names one.
    ``storage_path``: the board's flash file (parameters saved by 0x1010), None = in memory; the
    C images keep their raw flash beside it, with the suffix ``.flash`` (another format than the
    Python board's). ``image_key``: the Ed25519 public key the Python board trusts for program
    download (None: it refuses every image); its image slots live beside the parameter file
    (``.slots``). ``clock``: the boards' time source (default ``time.monotonic``; a lockstep
    world passes its virtual clock). ``plant=False``: a hand board without its HandSim (a board
    only read and written by SDO, e.g. to carry saved parameters; a joint board keeps its module,
    whose preset gives its table's ratings). ``slot_size``: bytes of each image slot of the Python
    board (None: the firmware layout's, 0x5F50:2 reads it)."""
    from cerebellum_rt.drivers import board as boards
    from cerebellum_rt.drivers.board.flashing import FlashOptions
    from cerebellum_rt.drivers.flash.image import load_public_key
    from cerebellum_rt.hil_tests.rig import load_board_preset

    preset = load_board_preset(spec.type, spec.preset)
    if image_key is not None and spec.firmware != "python":
        raise ConfigError(f"board {spec.node}: an image key (program download) needs firmware = 'python'; the "
                          f"{spec.firmware} image takes images only behind its bootloader (drivers/board/cboot.py)")
    flash = FlashOptions(key=load_public_key(image_key) if image_key else None,
                         **({} if slot_size is None else {"slot_size": slot_size}))
    kw: dict[str, Any] = {} if clock is None else {"clock": clock}
    image_flash = None if storage_path is None else c_flash_path(storage_path)
    if storage_path is not None:
        Path(storage_path).parent.mkdir(parents=True, exist_ok=True)
        carry_saved_parameters(spec, Path(storage_path), fd)
    if spec.type == "joint":
        if module is None and preset is not None:
            from cerebellum_rt.actuators.joint import JointModule

            module = JointModule(preset, seed=spec.node)
        if spec.firmware == "c":  # the board's C image (drivers/firmware) instead of the specification
            from cerebellum_rt.drivers.board.cfirmware import FirmwareBoard

            return FirmwareBoard(spec.node, bus, module, fd=fd, threaded=threaded, serial_number=spec.node, **kw,
                                 storage_path=image_flash)
        if spec.firmware == "qemu":  # the Cortex-M4F image under QEMU, bridged to the bus
            from cerebellum_rt.drivers.board.qemu import QemuBoard

            return QemuBoard(spec.node, bus, module, fd=fd, threaded=threaded, serial_number=spec.node, **kw,
                             storage_path=image_flash)
        return boards.JointBoard(spec.node, bus, module, fd=fd, threaded=threaded, serial_number=spec.node, **kw,
                                 storage_path=storage_path, flash=flash)
    from cerebellum_rt.actuators.hand import HandSim

    hand = HandSim(preset) if plant else None
    if spec.firmware == "c":
        from cerebellum_rt.drivers.board.cfirmware import FirmwareBoard

        return FirmwareBoard(spec.node, bus, hand, fd=fd, threaded=threaded, serial_number=spec.node, **kw, board="hand",
                             storage_path=image_flash)
    if spec.firmware == "qemu":
        from cerebellum_rt.drivers.board.qemu import QemuBoard

        return QemuBoard(spec.node, bus, hand, fd=fd, threaded=threaded, serial_number=spec.node, **kw, board="hand",
                         storage_path=image_flash)
    return boards.HandBoard(spec.node, bus, hand, fd=fd, threaded=threaded, serial_number=spec.node, **kw,
                            storage_path=storage_path, flash=flash)


def carry_saved_parameters(spec: BoardSpec, storage_path: Path, fd: bool = False) -> list[tuple[int, int]]:
    """Before board ``spec`` starts on ``storage_path``: the set saved last is the one it starts
    with, whichever firmware saved it. When the other firmware's parameter file exists and its own
    is missing or older (saved under ``firmware = "python"``, now started on the C image, or the
    reverse), the saved set is carried across (:mod:`cerebellum_rt.drivers.board.migrate`) into
    this firmware's file; the other file stays as it was. Returns the migrated (index, sub-index)
    keys ([] if nothing to do). The qemu image's flash is not migrated (its board-support package
    sizes its flash itself): a saved Python set is named on stderr as not applied."""
    from cerebellum_rt.drivers.board import migrate

    json_file, flash_file = storage_path, c_flash_path(storage_path)
    if spec.firmware == "qemu" and not flash_file.exists() and json_file.exists():
        print(f"board {spec.node}: the parameters saved in {json_file} (firmware = 'python') are not carried into "
              "the qemu image: it starts from its defaults", file=sys.stderr, flush=True)
        return []
    if spec.firmware == "python":
        source, target = flash_file, json_file
    elif spec.firmware == "c":
        source, target = json_file, flash_file
    else:
        return []
    if not source.exists() or (target.exists() and target.stat().st_mtime_ns >= source.stat().st_mtime_ns):
        return []

    def build(firmware: str, storage: Path | None, bus: can.BusABC, clock: Any) -> Any:
        return make_board(BoardSpec(spec.node, spec.type, spec.preset, firmware), bus, fd, threaded=False,
                          storage_path=storage, clock=clock, plant=False)

    if spec.firmware == "python":
        values = migrate.c_saved(build, flash_file, spec.node)
        target_storage = lambda p: p  # noqa: E731  (the Python board writes its file itself)
    else:
        board_bus, peer = migrate.private_pair()
        try:
            probe = build("c", None, board_bus, lambda: 0.0)  # the table the C board serves
            table = probe.table
            probe.close()
        finally:
            board_bus.shutdown()
            peer.shutdown()
        values = migrate.python_saved(table, spec.node, json_file)
        target_storage = c_flash_path
    if not values:
        return []
    keys = migrate.carry(values, spec.firmware, target, target_storage, build, spec.node, source)
    print(f"board {spec.node}: {len(keys)} saved parameters carried from {source.name} into {target.name} "
          f"({spec.firmware} firmware); {source.name} is unchanged", file=sys.stderr, flush=True)
    return keys


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


def serve(spec: BusSpec, report_s: float = 5.0, faults: dict | None = None, timed: bool = True,
          state_dir: str | None = None, state_bus: str | None = None, monitors: int = 0,
          image_key: str | None = None) -> int:
    """Run one emulator process's loop until SIGINT/SIGTERM (see module doc). With ``state_dir``
    every board keeps its saved parameters in :func:`storage_file` (``state_bus``: the bus name
    the files are kept under, default ``spec.name``)."""
    from cerebellum_rt.drivers.can.emulated import EmulatedBus, Faults, Medium
    from cerebellum_rt.drivers.can.slcan_server import SlcanServer

    stop = {"flag": False}

    def _stop(signum: int, frame: Any) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    medium = Medium(spec.name, spec.bitrate, spec.fd, spec.data_bitrate, Faults(**(faults or {})), timed=timed)
    buses = [EmulatedBus(medium_=medium, name=f"node{b.node}") for b in spec.boards]
    boards = [make_board(b, bus, spec.fd, threaded=False,
                         storage_path=storage_file(state_dir, state_bus or spec.name, b.node) if state_dir else None,
                         image_key=image_key)
              for b, bus in zip(spec.boards, buses)]
    server = SlcanServer(medium)
    servers = [server] + [SlcanServer(medium, monitor=True) for _ in range(monitors)]
    info = endpoint_info(spec, server.path)
    info["monitor_channels"] = [m.path for m in servers[1:]]
    if not timed:
        info["ideal_bus"] = True
    print(json.dumps(info), flush=True)
    last_t, last_syncs, last_busy, last_rate = time.monotonic(), 0, 0.0, 0.0
    try:
        next_timers = 0.0
        parent = os.getppid()
        while not stop["flag"] and os.getppid() == parent:  # also end when the parent died
            for s in servers:
                s.service()
            now = medium.clock()
            timers = now >= next_timers
            if timers:
                next_timers = now + TIMER_PERIOD_S
            for b, bus in zip(boards, buses):
                if timers or medium.has_rx(bus.endpoint):  # boards with frames, or timers due
                    b.poll()
            for s in servers:
                s.service()
            nxt = medium.next_event_time()
            now = medium.clock()
            wait = max(0.0, min(next_timers, nxt if nxt is not None else next_timers) - now)
            select.select([s.fileno() for s in servers], [], [], wait)
            if report_s > 0 and now - last_t >= report_s:
                rate = (server.syncs - last_syncs) / (now - last_t)
                load = (medium.stats.busy_s - last_busy) / (now - last_t)
                if rate > 0 or last_rate > 0:  # quiet while nobody drives the bus
                    drops = server.dropped_in + server.dropped_out
                    dropped = (f", dropped {server.dropped_in} frames from the client (queue full) and "
                               f"{server.dropped_out} to it (not read)") if drops else ""
                    print(f"emulate {spec.name}: sustained {rate:.0f} SYNC/s over the last {now - last_t:.0f} s, "
                          f"bus load {load * 100:.0f} %{dropped}", file=sys.stderr, flush=True)
                last_t, last_syncs, last_busy, last_rate = now, server.syncs, medium.stats.busy_s, rate
    finally:
        for b in boards:
            b.close()
        for s in servers:
            s.close()
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
    boards = tuple(BoardSpec(int(b["node"]), b.get("type", "joint"), b.get("preset"), b.get("firmware", DEFAULT_FIRMWARE))
                   for b in d["boards"])
    return BusSpec(d["name"], "slcan", "", int(d["bitrate"]), bool(d.get("fd", False)),
                   d.get("data_bitrate"), boards, pdo_packing=bool(d.get("pdo_packing", False)),
                   pdo_compact=bool(d.get("pdo_compact", False)))


def bus_to_json(spec: BusSpec) -> str:
    return json.dumps({
        "name": spec.name, "bitrate": spec.bitrate, "fd": spec.fd, "data_bitrate": spec.data_bitrate,
        "pdo_packing": spec.pdo_packing, "pdo_compact": spec.pdo_compact,
        "boards": [{"node": b.node, "type": b.type, "preset": b.preset, "firmware": b.firmware} for b in spec.boards],
    })


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cerebellum_rt.hil_tests.emulator", description=__doc__.splitlines()[0])
    p.add_argument("--bus", required=True, help="the bus as JSON (name, bitrate, fd, data_bitrate, boards)")
    p.add_argument("--report-s", type=float, default=5.0, help="seconds between rate reports on stderr (0: none)")
    p.add_argument("--faults", default="{}", help="fault injection as JSON (drop, corrupt, delay_s, babble_id)")
    p.add_argument("--ideal-bus", action="store_true", help="frames take no wire time (measure the rest of the chain)")
    p.add_argument("--state-dir", default=None, help="keep each board's saved parameters under this directory")
    p.add_argument("--state-bus", default=None, help="bus name for the state files (default: the bus's name)")
    p.add_argument("--monitors", type=int, default=0, help="monitor ptys beside the master pty (read-only clients)")
    p.add_argument("--image-key", default=None, help="the public key the boards trust for program download")
    args = p.parse_args(argv)
    try:
        check_range("--report-s", args.report_s, 0.0, 3600.0, "s")
        check_range("--monitors", args.monitors, 0, MAX_MONITORS)
        return serve(bus_from_json(args.bus), args.report_s, json.loads(args.faults), timed=not args.ideal_bus,
                     state_dir=args.state_dir, state_bus=args.state_bus, monitors=args.monitors,
                     image_key=args.image_key)
    except CblError as exc:
        print(f"emulator: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
