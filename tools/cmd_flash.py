"""`cbl flash IMAGE -i IFACE -c CHANNEL --node N|--all` or `cbl flash IMAGE --rig RIG.toml`: update boards.

CiA 302-3 program download of a signed MCUboot image (cbl build firmware --image) to every board
named, several buses at once (one thread per bus, the boards of a bus interleaved), with a
progress bar per board and a summary table (``--json``: one object with a row per board). Each
board: compatibility from its own objects (board type 0x5F50:3, slot size :2, installed security
counter :4, trusted key id :5), clear, block download (resumed from the board's acknowledged
offset after a bus cut), start (the board verifies hash, signature, board type and counter),
boot-up, read-back of 0x1F56 (the new version, in test boot), confirm.

EtherCAT (``-i ethercat -c IFNAME``, SOEM): the same update over CoE and FoE in BOOT
(:mod:`cerebellum_rt.drivers.ethercat.flash`); ``--node`` names slave positions on the line (1 =
the first after the master), ``--all`` every slave found; the slaves are updated one after the
other, and the rows and ``--json`` keys are the CAN ones.

``--dry-run`` checks compatibility only. ``--resume`` continues an interrupted download from the
board's offset instead of clearing the slot. ``--all``: the boards whose heartbeat is heard within
``--discover-s``. Exit 0 when every board is updated (or compatible, with ``--dry-run``), 1 when
any failed (each failure is one line naming the board, the stage and the values), 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cerebellum_rt.drivers.can.bus import add_bus_arguments

    p.add_argument("image", metavar="IMAGE", help="the signed image (cbl build firmware --image)")
    add_bus_arguments(p, channel_required=False)
    p.add_argument("--node", default=None,
                   help="node-IDs: N, N,M or N-M (-i ethercat: slave positions on the line, 1 = first)")
    p.add_argument("--all", action="store_true", help="every board whose heartbeat is heard on the bus")
    p.add_argument("--rig", metavar="RIG.toml", default=None, help="every board of a rig, on all its buses at once")
    p.add_argument("--dry-run", action="store_true", help="compatibility only: board type, size, counter, key")
    p.add_argument("--resume", action="store_true", help="continue an interrupted download at the board's offset")
    p.add_argument("--no-confirm", action="store_true", help="leave the new image in test boot (a reset reverts it)")
    p.add_argument("--timeout", type=float, default=0.5, help="seconds to wait for each SDO answer")
    p.add_argument("--boot-timeout", type=float, default=5.0, help="seconds to wait for the boot-up after start")
    p.add_argument("--resume-wait", type=float, default=3.0,
                   help="seconds a board that went silent mid-download is waited for before giving up")
    p.add_argument("--discover-s", type=float, default=0.5, help="--all: seconds to listen for heartbeats")
    p.add_argument("--json", action="store_true", help="print one JSON object (no progress bars)")


def parse_nodes(text: str) -> list[int]:
    """'3', '1,4', '1-6' -> node-IDs in 1..127."""
    from cerebellum_rt.rtcore.errors import ConfigError

    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            out += range(int(lo), int(hi or lo) + 1)
    except ValueError as exc:
        raise ConfigError(f"--node {text!r}: not N, N,M or N-M") from exc
    bad = [n for n in out if not 1 <= n <= 127]
    if not out or bad:
        raise ConfigError(f"--node {text!r}: node-IDs must be in [1, 127]")
    return sorted(set(out))


def _heard(bus, seconds: float) -> list[int]:
    """Nodes whose heartbeat or boot-up (0x700 + n) arrives within ``seconds``."""
    nodes: set[int] = set()
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        msg = bus.recv(timeout=left)
        if msg is not None and 0x701 <= msg.arbitration_id <= 0x77F and len(msg.data) == 1:
            nodes.add(msg.arbitration_id - 0x700)
    return sorted(nodes)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cerebellum_rt.drivers.can.bus import open_bus
    from cerebellum_rt.drivers.flash import image as img
    from cerebellum_rt.drivers.flash.procedure import BoardResult, Options, flash_board
    from cerebellum_rt.drivers.flash.runner import flash_buses
    from cerebellum_rt.rtcore.errors import ConfigError, DeviceError, check_range

    check_range("--timeout", args.timeout, 0.01, 60.0, "s")
    check_range("--boot-timeout", args.boot_timeout, 0.1, 600.0, "s")
    check_range("--resume-wait", args.resume_wait, 0.0, 3600.0, "s")
    check_range("--discover-s", args.discover_s, 0.05, 60.0, "s")
    try:
        data = Path(args.image).read_bytes()
    except OSError as exc:
        raise ConfigError(f"image {args.image}: {exc.strerror}") from exc
    try:
        info = img.verify(data, None)  # layout and hash; the board checks the signature with its key
    except img.ImageError as exc:
        raise ConfigError(f"image {args.image}: {exc}") from exc
    opts = Options(sdo_timeout_s=args.timeout, boot_timeout_s=args.boot_timeout, resume_wait_s=args.resume_wait,
                   dry_run=args.dry_run, resume=args.resume, confirm=not args.no_confirm)
    if args.interface == "ethercat":
        rows = _ethercat(args, data, info, opts)
        return _report(args, rows, info, len(data))
    # (bus name, interface, channel, bitrate, fd, data bitrate, nodes or None for --all)
    targets: list[tuple[str, str, str, int, bool, int | None, list[int] | None]] = []
    if args.rig:
        from cerebellum_rt.hil_tests.rig import load_rig

        if args.node or args.all:
            raise ConfigError("--rig names the boards: leave out --node and --all")
        for b in load_rig(args.rig).buses:
            targets.append((b.name, b.interface, b.channel, b.bitrate, b.fd, b.data_bitrate,
                            [s.node for s in b.boards]))
    else:
        if not args.channel and args.interface not in ("virtual", "emulated"):
            raise ConfigError(f"-c/--channel is needed for interface '{args.interface}' (or use --rig)")
        if bool(args.node) == bool(args.all):
            raise ConfigError("name the boards: --node N (N,M or N-M) or --all")
        nodes = parse_nodes(args.node) if args.node else None
        targets.append((f"{args.interface}:{args.channel}", args.interface, args.channel, args.bitrate, args.fd,
                        args.data_bitrate, nodes))
    buses = []
    try:
        plans, results = [], {}
        bars = _Bars(enabled=not args.json)
        for name, iface, channel, bitrate, fd, dbr, nodes in targets:
            bus = open_bus(iface, channel, bitrate=bitrate, fd=fd, data_bitrate=dbr)
            buses.append(bus)
            if nodes is None:
                nodes = _heard(bus, args.discover_s)
                if not nodes:
                    raise DeviceError(f"--all: no heartbeat heard on {name} within {args.discover_s} s")
            jobs = {}
            for n in nodes:
                res = results[(name, n)] = BoardResult(n, bus=name)
                jobs[(name, n)] = flash_board(n, data, info, opts, res, bars.add(name, n, len(data)))
            plans.append((bus, fd, jobs))
        with bars:
            outcome = flash_buses(plans)
        for key, (_, exc) in outcome.items():
            res = results[key]
            if exc is not None:
                res.status, res.error = "failed", str(exc)
    finally:
        for bus in buses:
            bus.shutdown()
    return _report(args, list(results.values()), info, len(data))


def _ethercat(args: argparse.Namespace, data: bytes, info, opts) -> list:
    """The slaves of the EtherCAT line on -c IFNAME, one after the other (drivers.ethercat.flash)."""
    from cerebellum_rt.drivers.ethercat.flash import flash_line
    from cerebellum_rt.rtcore.errors import ConfigError

    if args.rig:
        raise ConfigError("--rig names CAN buses: for EtherCAT give -c IFNAME and --node N or --all")
    if not args.channel:
        raise ConfigError("-c/--channel is needed for interface 'ethercat' (the network interface of the line)")
    if bool(args.node) == bool(args.all):
        raise ConfigError("name the slaves: --node N (N,M or N-M: positions on the line, 1 = first) or --all")
    positions = parse_nodes(args.node) if args.node else None
    bars = _Bars(enabled=not args.json)
    with bars:
        return flash_line(args.channel, positions, data, info, opts,
                          lambda pos: bars.add(f"ethercat:{args.channel}", pos, len(data), "slave"))


def _report(args: argparse.Namespace, rows: list, info, size: int) -> int:
    ok = all(r.status in ("ok", "compatible") for r in rows)
    if args.json:
        print(json.dumps({"image": args.image, "version": info.version_text, "bytes": size,
                          "dry_run": args.dry_run, "ok": ok, "boards": [r.as_dict() for r in rows]}))
        return 0 if ok else 1
    _summary(rows, info.version_text, args.dry_run)
    for r in rows:
        if r.status == "failed":
            print(f"cbl flash: error: {r.bus} {r.error} (stage {r.stage})")
    return 0 if ok else 1


class _Bars:
    """rich progress bars, one per board (nothing with --json)."""

    def __init__(self, enabled: bool) -> None:
        self.progress = None
        if enabled:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                     TransferSpeedColumn())

    def add(self, bus: str, node: int, total: int, what: str = "node"):
        if self.progress is None:
            return None
        task = self.progress.add_task(f"{bus} {what} {node}", total=total)
        return lambda done, _total: self.progress.update(task, completed=done)

    def __enter__(self) -> _Bars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _summary(rows: list, version: str, dry_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"cbl flash {'--dry-run ' if dry_run else ''}-> {version}")
    for col in ("bus", "node", "board type", "was", "now", "bytes", "resumes", "s", "status"):
        t.add_column(col)
    for r in rows:
        now = r.new_version if r.status == "ok" else "-"
        bt = f"0x{r.board_type:08X}" if r.board_type is not None else "?"
        t.add_row(r.bus, str(r.node), bt, r.old_version or "?", now, str(r.acked if not dry_run else r.bytes),
                  str(r.resumes), f"{r.seconds:.2f}", r.status if r.status != "failed" else f"failed ({r.stage})")
    Console().print(t)
