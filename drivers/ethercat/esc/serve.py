"""The emulated line as a process: ``python -m cerebellum_rt.drivers.ethercat.esc.serve``.

Run inside the emulator's network namespace (``ip netns exec NS ...``; see
:class:`cerebellum_rt.drivers.ethercat.emulated.EmulatedLine`), bound to ``--iface``. A process of
its own because SOEM holds the GIL in most of its calls: master and slaves must not share one.
The slaves' applications run in ``--workers`` forked processes (default one per CPU; -1: in this
process, beside the engine, as before they had their own) so that the frame engine
(``--engine-priority``: SCHED_FIFO) only moves bytes; ``--state-dir`` keeps each slave's
parameters (0x1010) and image slots (written over FoE) in ``STATE_DIR/ethercat/slave<N>.json`` and
``.slots``; ``--image-key`` is the Ed25519 public key the slaves' bootloader trusts (as
``cbl emulate --image-key`` for CAN boards; without it every image is refused); ``--slot-size`` the
bytes of each image slot (0x5F50:2; default the firmware layout's 64 KiB).

Prints one JSON line ``{"ready": true, ...}`` and then answers JSON commands, one per stdin line:
``{"cmd": "status"}`` (per slave: AL state and code, CiA 402 state, power stage, position;
line counters), ``{"cmd": "reach", "n": K}`` (frames pass only the first K slaves),
``{"cmd": "mangle", "mode": "none|truncate|garbage|length|datagram", "p": P, "seed": S}``
(fault: damage replies with probability P), ``{"cmd": "cut", "after": N, "seconds": S}`` (fault:
the line goes dead after N more frames, for S seconds, or until the next ``cut`` with ``after``
-1 when S is null; frames are lost both ways, as on a pulled cable), ``{"cmd": "quit"}``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import socket
import sys
from pathlib import Path
from typing import Any

ETH_P_ECAT = 0x88A4
R_INIT, R_OP = 0x01, 0x08


def parse_slaves(text: str) -> list[tuple[str, str | None]]:
    """``joint:knee,joint,hand`` -> [("joint", "knee"), ("joint", None), ("hand", None)]."""
    out = []
    for item in filter(None, text.split(",")):
        kind, _, preset = item.partition(":")
        out.append((kind, preset or None))
    return out


def mangler(mode: str, p: float, seed: int) -> Any:
    rng = random.Random(seed)

    def mangle(frame: bytearray) -> bytearray | bytes | None:
        if mode == "none" or rng.random() >= p:
            return frame
        if mode == "truncate":
            return frame[: rng.randrange(14, max(15, len(frame)))]
        if mode == "garbage":
            out = bytearray(frame)
            for _ in range(rng.randrange(1, 8)):
                out[rng.randrange(14, len(out))] = rng.randrange(256)
            return out
        if mode == "length":  # EtherCAT or datagram length fields that lie
            out = bytearray(frame)
            k = rng.choice((14, 15, 22, 23))
            out[k] = rng.randrange(256)
            return out
        if mode == "datagram":  # command, index or working counter changed
            out = bytearray(frame)
            out[rng.choice((16, 17, len(out) - 2, len(out) - 1))] ^= 1 << rng.randrange(8)
            return out
        return frame

    return mangle


def status(line: Any) -> dict[str, Any]:
    from cerebellum_rt.drivers.ethercat.esc import regs as R

    apps = line.pdi.status() if line.pdi is not None else None
    out = []
    for k, s in enumerate(line.slaves):
        with line.lock:
            esc = {"al_state": R.STATE_NAMES.get(s.al_state, hex(s.al_state)), "al_code": s.al_code,
                   "al_error": bool(s.mem[R.AL_STATUS] & R.AL_ERROR), "watchdog_expired": not s.mem[R.WD_STATUS_PD] & 1,
                   "events": s.al_events[-8:], "system_offset_ns": s.system_offset_ns(),
                   "clock_offset_ns": s.clock_offset_ns}
            if apps is None:
                esc.update(s.app.status())
        if apps is not None:
            esc.update(apps.get(k, {}))
        out.append(esc)
    return {"slaves": out, "stats": line.stats_dict(), "errors": [repr(e) for e in line.errors[:5]],
            "reach": line.reach, "engine_us": line.engine_times_us()}


def main(argv: list[str] | None = None) -> int:
    from cerebellum_rt.drivers.ethercat.emulated import check_slot_size
    from cerebellum_rt.drivers.ethercat.esc.line import Line
    from cerebellum_rt.drivers.ethercat.esc.pdi import WorkerPool
    from cerebellum_rt.drivers.ethercat.esc.slave import EscSlave
    from cerebellum_rt.drivers.ethercat.layout import slave_layout
    from cerebellum_rt.drivers.ethercat.slave_app import make_app

    ap = argparse.ArgumentParser(prog="cerebellum_rt.drivers.ethercat.esc.serve")
    ap.add_argument("--iface", required=True)
    ap.add_argument("--slaves", required=True, help="joint[:preset],hand[:preset],...")
    ap.add_argument("--watchdog-ms", type=float, default=100.0)
    ap.add_argument("--workers", type=int, default=0,
                    help="processes running the slaves' applications (0: one per CPU; -1: in the ESC's process)")
    ap.add_argument("--engine", choices=("c", "python"), default="c",
                    help="the datagram engine: compiled (default) or the Python specification")
    ap.add_argument("--engine-priority", type=int, default=0, help="SCHED_FIFO priority of the frame engine (0: keep)")
    ap.add_argument("--state-dir", default=None,
                    help="keep each slave's parameters and image slots in STATE_DIR/ethercat/slave<N>.json/.slots")
    ap.add_argument("--image-key", default=None, help="the Ed25519 public key (PEM) the slaves' bootloader trusts")
    ap.add_argument("--slot-size", type=int, default=None, help="bytes of each image slot of every slave "
                    "(a multiple of the 4096-byte sector; default: the firmware layout's)")
    args = ap.parse_args(argv)
    check_slot_size(args.slot_size)
    sys.setswitchinterval(0.0001)  # the engine thread must not wait 5 ms behind another thread
    specs = parse_slaves(args.slaves)
    storage = [str(Path(args.state_dir) / "ethercat" / f"slave{k + 1}.json") if args.state_dir else None
               for k in range(len(specs))]
    for kind, preset in set(specs):  # compile the law and the plant's paths before the master comes
        warm = make_app(kind, 1, preset)  # (a first compile inside OP would outlast the watchdog)
        warm.set_al_state(R_OP)
        for _ in range(3):
            warm.cycle(bytes(warm.layout.out_bytes))
        warm.set_al_state(R_INIT)
        warm.service()
    pool = None
    if args.workers >= 0:
        workers = args.workers or (os.cpu_count() or 1)
        pool = WorkerPool([(kind, preset, k + 1, storage[k], args.image_key, args.slot_size)
                           for k, (kind, preset) in enumerate(specs)],
                          [slave_layout(kind) for kind, _ in specs], workers)
        apps: list[Any] = pool.apps
    else:
        apps = [make_app(kind, k + 1, preset, storage[k], args.image_key, args.slot_size)
                for k, (kind, preset) in enumerate(specs)]
    slaves = [EscSlave(app, serial=k + 1, watchdog_ms=args.watchdog_ms, clock_offset_ns=k * 1_000_003)
              for k, app in enumerate(apps)]
    line = Line(slaves, pdi=pool, engine=args.engine)
    if pool is not None:
        pool.start(line.post_replies)  # forks: before this process starts any thread of its own
    gc.collect()
    gc.freeze()  # what exists now is never scanned again: no multi-millisecond collector pauses
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ECAT))
    sock.bind((args.iface, ETH_P_ECAT))
    line.serve_socket(sock, args.engine_priority)
    print(json.dumps({"ready": True, "iface": args.iface, "slaves": [k for k, _ in specs],
                      "workers": pool.n_workers if pool is not None else 0}), flush=True)
    try:
        for raw in sys.stdin:
            try:
                cmd = json.loads(raw)
            except ValueError:
                print(json.dumps({"error": "not JSON"}), flush=True)
                continue
            what = cmd.get("cmd")
            if what == "quit":
                break
            if what == "status":
                print(json.dumps(status(line)), flush=True)
            elif what == "reach":
                line.set_reach(int(cmd["n"]))
                print(json.dumps({"reach": line.reach}), flush=True)
            elif what == "cut":
                seconds = cmd.get("seconds")
                line.cut(int(cmd.get("after", 0)), None if seconds is None else float(seconds))
                print(json.dumps({"cut": int(cmd.get("after", 0))}), flush=True)
            elif what == "mangle":
                mode = str(cmd.get("mode", "none"))
                line.mangle = None if mode == "none" else mangler(mode, float(cmd.get("p", 1.0)), int(cmd.get("seed", 0)))
                print(json.dumps({"mangle": mode}), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {what!r}"}), flush=True)
    finally:
        line.close()
        if pool is not None:
            pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
