"""`cbl emulate [RIG.toml]`: start emulated boards, one process per bus, each behind an SLCAN pty.

With no rig file: one bus, six joint boards at node ids 1-6. Prints where to connect (with
``--json``: one line ``{"buses": [{"interface": "slcan", "channel": "/dev/pts/N", "bitrate":
1000000, "nodes": [1, ...], "state_dir": ...}]}``), then runs until SIGINT/SIGTERM and exits
cleanly.

Firmware: every board runs its C image (host build through cffi) unless the rig's ``firmware``
key or ``--firmware`` says otherwise (``python``: drivers/board, the executable specification;
``qemu``: the Cortex-M4F image).

Storage: every board keeps the parameters saved by 0x1010 in its own file, written atomically (a
kill -9 at any point leaves the old or the new set): ``STATE_DIR/<bus>/node<N>.json`` for the
Python board, ``node<N>.flash`` (the image's raw parameter flash) for the C image. A board starts
with the set saved last, whichever firmware saved it: when the other firmware's file is the newer
(or its own is missing), the saved set is carried across
(:func:`cerebellum_rt.hil_tests.emulator.carry_saved_parameters`; the other file is left as it was;
a value the target refuses stops the start with one line). ``--state-dir`` names the directory;
the default is per user and per rig, ``$XDG_STATE_HOME/cerebellum/emulate/<rig>``
(``~/.local/state/...`` without XDG_STATE_HOME), so a restart of the same rig finds its boards'
saved parameters again.

Program download (``cbl flash``): with ``--image-key`` every board runs the Python board, which
trusts that Ed25519 public key (none: every image is refused) and keeps its image slots beside its
parameters (``node<N>.slots``); the C image takes images only behind its bootloader
(:mod:`cerebellum_rt.drivers.board.cboot`), so ``--image-key`` with ``--firmware c|qemu`` is refused.
With ``--ethercat`` the same key for the slaves' bootloader (FoE, ``cbl flash -i ethercat``), their
files in ``ethercat/slave<N>.json`` / ``.slots``.

Every argument is checked before any process starts (rig, presets, interface: emulate serves
``slcan`` buses only, fault figures, ``--report-s``); an emulator that exits before it is up
is reported at once with its exit code.

Several tools on one bus: each bus has one master pty (``channel``: its client commands the
boards) and ``--monitors`` read-only ptys (``monitor_channels``): a console, a scan or a candump
there sees every frame and may read by SDO (uploads); whatever else it sends (NMT, SYNC, PDOs, SDO
downloads) is refused by the emulator, so only one master commands.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

START_TIMEOUT_S = 120.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rig", nargs="?", help="RIG.toml (default: one bus with six joint boards, nodes 1-6)")
    p.add_argument("--json", action="store_true", help="first stdout line: one JSON object with the endpoints")
    p.add_argument("--boards-per-process", type=int, default=None,
                   help="split each bus's boards over processes of at most N boards (each is its own segment)")
    p.add_argument("--report-s", type=float, default=5.0,
                   help="seconds between sustained-rate reports, [0, 3600] (0: none)")
    p.add_argument("--state-dir", default=None,
                   help="directory of the boards' saved parameters (default: per user and rig, see the doc)")
    p.add_argument("--monitors", type=int, default=2,
                   help="read-only ptys per bus beside the master pty, [0, 8] (default 2): a console or a scan "
                        "watches and reads by SDO while another tool commands (see the doc)")
    p.add_argument("--ideal-bus", action="store_true",
                   help="frames take no wire time: shows what the pty + emulator chain alone sustains")
    p.add_argument("--drop", type=float, default=0.0, help="fault: probability a frame is lost")
    p.add_argument("--corrupt", type=float, default=0.0, help="fault: probability of a bit error (retransmitted)")
    p.add_argument("--delay-us", type=float, default=0.0, help="fault: extra delivery latency, µs")
    p.add_argument("--babble-id", type=lambda s: int(s, 0), default=None, help="fault: a babbling node's CAN id")
    p.add_argument("--firmware", choices=("c", "python", "qemu"), default=None,
                   help="every board runs this firmware: c (the board's C image as a host library), python "
                        "(drivers/board, the executable specification) or qemu (its Cortex-M4F image under QEMU); "
                        "default: the rig's per-board choice, whose default is c")
    p.add_argument("--image-key", metavar="PUB", default=None,
                   help="the Ed25519 public key the boards trust for cbl flash (default: none, every image refused)")
    p.add_argument("--ethercat", action="store_true",
                   help="all boards as one emulated EtherCAT line behind a veth pair (root); prints the interface")
    p.add_argument("--slot-size", type=int, metavar="BYTES", default=None,
                   help="with --ethercat: bytes of each slave's image slot (a multiple of 4096; default 65536)")


def _split(rig: Any, per_process: int | None) -> list[tuple[Any, str]]:
    """(process's bus spec, the rig's bus name its state files live under) per process."""
    out = []
    for bus in rig.buses:
        n = per_process if per_process is not None else bus.boards_per_process
        if not bus.boards:
            raise ConfigError(f"rig {rig.source}: bus '{bus.name}' has no boards to emulate")
        if bus.interface != "slcan":
            raise ConfigError(f"rig {rig.source}: bus '{bus.name}' interface = {bus.interface!r}: "
                              "cbl emulate serves 'slcan' buses only (on pseudo-terminals)")
        if not n or n >= len(bus.boards):
            out.append((bus, bus.name))
            continue
        for k in range(0, len(bus.boards), n):
            out.append((replace(bus, name=f"{bus.name}.{k // n}", boards=bus.boards[k : k + n]), bus.name))
    return out


def _with_firmware(rig: Any, firmware: str) -> Any:
    """``rig`` with every board on ``firmware`` (checked as the rig file's key is)."""
    from cerebellum_rt.hil_tests.rig import check_firmware

    buses = []
    for bus in rig.buses:
        for b in bus.boards:
            check_firmware(firmware, bus.fd, lambda limit, b=b, bus=bus: ConfigError(
                f"--firmware = {firmware!r} for board {b.node} ({b.type}) on bus '{bus.name}' {limit}"))
        buses.append(replace(bus, boards=tuple(replace(b, firmware=firmware) for b in bus.boards)))
    return replace(rig, buses=tuple(buses))




def default_state_dir(rig_source: str) -> Path:
    """Per user and per rig: $XDG_STATE_HOME (or ~/.local/state)/cerebellum/emulate/<rig>."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    name = "default" if rig_source.startswith("<") else Path(rig_source).stem
    return Path(base) / "cerebellum" / "emulate" / name


def _state_dir(args: argparse.Namespace, rig: Any) -> Path:
    d = Path(args.state_dir) if args.state_dir else default_state_dir(rig.source)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--state-dir {d}: cannot create ({exc.strerror})") from exc
    if not d.is_dir() or not os.access(d, os.W_OK | os.X_OK):
        raise ConfigError(f"--state-dir {d}: is not a writable directory")
    return d


def _start(spec: Any, state_bus: str, args: argparse.Namespace, faults: dict, state_dir: Path) -> subprocess.Popen:
    from cerebellum_rt.hil_tests.emulator import bus_to_json

    cmd = [sys.executable, "-m", "cerebellum_rt.hil_tests.emulator", "--bus", bus_to_json(spec), "--report-s",
           str(args.report_s), "--faults", json.dumps(faults), "--state-dir", str(state_dir),
           "--state-bus", state_bus, "--monitors", str(args.monitors)] + (["--ideal-bus"] if args.ideal_bus else []) + (
               ["--image-key", str(Path(args.image_key).resolve())] if args.image_key else [])
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)


def _first_line(proc: subprocess.Popen, name: str) -> dict:
    box: dict[str, str] = {}
    reader = threading.Thread(target=lambda: box.setdefault("line", proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    line = box.get("line", "")
    if not line:
        if reader.is_alive():
            raise DeviceError(f"emulator for bus '{name}' did not start within {START_TIMEOUT_S:.0f} s")
        try:
            code = proc.wait(5.0)
        except subprocess.TimeoutExpired:
            code = None
        raise DeviceError(f"emulator for bus '{name}' exited with code {code} before it started "
                          "(its error is on stderr above)")
    return json.loads(line)


def _describe(info: dict, rate_hz: float) -> str:
    nodes = info["nodes"]
    span = f"{nodes[0]}-{nodes[-1]}" if nodes == list(range(nodes[0], nodes[-1] + 1)) else ",".join(map(str, nodes))
    fd = f", CAN-FD data {info['data_bitrate']} bit/s" if info.get("fd") else ""
    limit = info["max_rate_hz"]
    verdict = "fits" if limit >= rate_hz else f"does NOT fit {rate_hz:.0f} Hz: the bus, not the host, is the limit"
    return (f"{info['name']}: {info['interface']} on {info['channel']} at {info['bitrate']} bit/s{fd}, nodes {span}\n"
            f"  one cycle's PDO traffic + SYNC takes {info['cycle_wire_time_us'] / 1000:.2f} ms on the wire -> at most "
            f"{limit} Hz ({verdict}); the SLCAN pty adds its own round trip (measured rate is reported below)\n"
            f"  connect: cbl scan -i slcan -c {info['channel']}"
            + "".join(f"\n  monitor (sees all, reads by SDO, never commands): {m}" for m in info.get("monitor_channels", [])))


def run(args: argparse.Namespace) -> int:
    if args.image_key:
        from cerebellum_rt.drivers.flash.image import load_public_key

        load_public_key(args.image_key)  # a bad key is refused before any process starts
    if args.slot_size is not None and not args.ethercat:
        raise ConfigError(f"--slot-size {args.slot_size}: only for the slaves of --ethercat (a CAN board's slot "
                          "size is its firmware layout's)")
    if args.ethercat:
        from cerebellum_rt.drivers.ethercat.cli import emulate

        return emulate(args, _state_dir)
    from cerebellum_rt.hil_tests.rig import default_rig, load_rig
    from cerebellum_rt.rtcore.errors import check_range

    check_range("--drop", args.drop, 0.0, 1.0)
    check_range("--corrupt", args.corrupt, 0.0, 1.0)
    check_range("--delay-us", args.delay_us, 0.0, 1e7, "µs")
    check_range("--report-s", args.report_s, 0.0, 3600.0, "s")
    if args.boards_per_process is not None:
        check_range("--boards-per-process", args.boards_per_process, 1, 127)
    check_range("--monitors", args.monitors, 0, 8)
    faults = {"drop": args.drop, "corrupt": args.corrupt, "delay_s": args.delay_us * 1e-6}
    if args.babble_id is not None:
        check_range("--babble-id", args.babble_id, 0, 0x7FF)
        faults["babble_id"] = args.babble_id
    rig = load_rig(args.rig) if args.rig else default_rig()
    if args.image_key and args.firmware not in (None, "python"):
        raise ConfigError(f"--image-key with --firmware {args.firmware}: program download is served by the Python "
                          "board only (the C image takes images behind its bootloader, which cbl emulate does not "
                          "run yet); use --firmware python or leave --firmware out")
    if args.image_key and any(b.firmware != "python" for bus in rig.buses for b in bus.boards):
        # the one board that takes an image without a bootloader: an explicit choice, said once
        print("cbl emulate: --image-key: every board runs firmware = 'python' (the specification), the board that "
              "takes program download; the C image takes images only behind its bootloader", file=sys.stderr,
              flush=True)
        rig = _with_firmware(rig, "python")
    elif args.firmware is not None:
        rig = _with_firmware(rig, args.firmware)
    specs = _split(rig, args.boards_per_process)
    state_dir = _state_dir(args, rig)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    procs: list[subprocess.Popen] = []
    try:
        for spec, state_bus in specs:
            procs.append(_start(spec, state_bus, args, faults, state_dir))
        infos = [_first_line(p, s.name) for p, (s, _) in zip(procs, specs)]
        for info in infos:
            info["state_dir"] = str(state_dir)
        if args.json:
            print(json.dumps({"buses": infos}), flush=True)
        else:
            for info in infos:
                print(_describe(info, rig.rate_hz), flush=True)
            print("emulating; Ctrl-C to stop", flush=True)
        while not stop.wait(0.2):
            for p, (s, _) in zip(procs, specs):
                if p.poll() is not None:
                    raise DeviceError(f"emulator for bus '{s.name}' exited with code {p.returncode}")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
