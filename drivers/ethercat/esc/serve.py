"""The emulated line as a process: ``python -m cerebellum_rt.drivers.ethercat.esc.serve``.

Run inside the emulator's network namespace (``ip netns exec NS ...``; see
:class:`cerebellum_rt.drivers.ethercat.emulated.EmulatedLine`), bound to ``--iface``. A process of
its own because SOEM holds the GIL in most of its calls: master and slaves must not share one.

Prints one JSON line ``{"ready": true, ...}`` and then answers JSON commands, one per stdin line:
``{"cmd": "status"}`` (per slave: AL state and code, CiA 402 state, power stage, position;
line counters), ``{"cmd": "reach", "n": K}`` (frames pass only the first K slaves),
``{"cmd": "mangle", "mode": "none|truncate|garbage|length|datagram", "p": P, "seed": S}``
(fault: damage replies with probability P), ``{"cmd": "quit"}``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import socket
import sys
from typing import Any

ETH_P_ECAT = 0x88A4


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

    out = []
    for s in line.slaves:
        b = s.app.board
        out.append({"al_state": R.STATE_NAMES.get(s.al_state, hex(s.al_state)), "al_code": s.al_code,
                    "al_error": bool(s.mem[R.AL_STATUS] & R.AL_ERROR), "drive_state": b.state,
                    "power": bool(b.out["power_enabled"]), "position": int(b.store.get(0x6064, 0)) if 0x6064 in b.table.objects else None,
                    "statusword": int(b.store.get(0x6041, 0)), "cycles": int(b.cycles),
                    "watchdog_expired": not s.mem[R.WD_STATUS_PD] & 1, "events": s.al_events[-8:],
                    "coe_errors": s.coe.errors, "crashes": len(b.crashes)})
    return {"slaves": out, "stats": line.stats.as_dict(), "errors": [repr(e) for e in line.errors[:5]],
            "reach": line.reach}


def main(argv: list[str] | None = None) -> int:
    from cerebellum_rt.drivers.ethercat.esc.line import Line
    from cerebellum_rt.drivers.ethercat.esc.slave import EscSlave
    from cerebellum_rt.drivers.ethercat.slave_app import make_app

    ap = argparse.ArgumentParser(prog="cerebellum_rt.drivers.ethercat.esc.serve")
    ap.add_argument("--iface", required=True)
    ap.add_argument("--slaves", required=True, help="joint[:preset],hand[:preset],...")
    ap.add_argument("--watchdog-ms", type=float, default=100.0)
    args = ap.parse_args(argv)
    sys.setswitchinterval(0.0001)  # the engine thread must not wait 5 ms behind a board's cycle
    specs = parse_slaves(args.slaves)
    slaves = [EscSlave(make_app(kind, k + 1, preset), serial=k + 1, watchdog_ms=args.watchdog_ms,
                       clock_offset_ns=k * 1_000_003) for k, (kind, preset) in enumerate(specs)]
    for kind, preset in set(specs):  # compile the law and the plant's paths before the master comes
        warm = make_app(kind, 1, preset)  # (a first compile inside OP would outlast the watchdog)
        warm.enter_op()
        for _ in range(3):
            warm.cycle(bytes(warm.layout.out_bytes))
        warm.leave_op()
        warm.service()
    gc.collect()
    gc.freeze()  # what exists now is never scanned again: no multi-millisecond collector pauses
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ECAT))
    sock.bind((args.iface, ETH_P_ECAT))
    line = Line(slaves)
    line.serve_socket(sock)
    print(json.dumps({"ready": True, "iface": args.iface, "slaves": [k for k, _ in specs]}), flush=True)
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
                with line.lock:
                    print(json.dumps(status(line)), flush=True)
            elif what == "reach":
                line.set_reach(int(cmd["n"]))
                print(json.dumps({"reach": line.reach}), flush=True)
            elif what == "mangle":
                mode = str(cmd.get("mode", "none"))
                line.mangle = None if mode == "none" else mangler(mode, float(cmd.get("p", 1.0)), int(cmd.get("seed", 0)))
                print(json.dumps({"mangle": mode}), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {what!r}"}), flush=True)
    finally:
        line.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
