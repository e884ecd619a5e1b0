"""The EtherCAT halves of `cbl scan` and `cbl emulate` (kept here so the verbs stay small).

* ``cbl scan -i ethercat -c IFACE [--json]``: SOEM scans the line on IFACE: per slave the
  position, board type, identity, AL state with its named status code.
* ``cbl emulate [RIG.toml] --ethercat [--json]``: every board of the rig (all buses, in order)
  becomes one slave of a single emulated EtherCAT line; the tool creates the veth pair and the
  namespace, prints the interface to give the master (``cbl scan -i ethercat -c IFACE``), runs
  until SIGINT/SIGTERM, then removes them. Each slave keeps its saved parameters and image slots
  (written over FoE, ``cbl flash -i ethercat``) under the rig's state directory (``--state-dir``),
  in ``ethercat/slave<N>.json`` / ``.slots``; its bootloader trusts ``--image-key PUB``;
  ``--slot-size BYTES``: the slaves' image slot size (0x5F50:2; default 64 KiB).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def scan(args: argparse.Namespace) -> int:
    from cerebellum_rt.drivers.ethercat.master import EtherCatTransport

    with EtherCatTransport(args.channel, check_identity=False) as t:
        states = t.states()
        rows = [{**s.as_dict(), "al_state": st["state"], "al_status_code": st["al_status_code"],
                 "al_status": st["al_status"]} for s, st in zip(t.slaves, states)]
    if args.json:
        print(json.dumps({"interface": "ethercat", "channel": args.channel, "slaves": rows}))
        return 0
    print(f"{len(rows)} slave(s) on EtherCAT interface {args.channel}:")
    print(f"{'pos':>3}  {'board':<6}  {'vendor':>10}  {'product':>10}  {'rev':>8}  {'AL state':<8}  status / name")
    for r in rows:
        print(f"{r['position']:>3}  {r['board']:<6}  0x{r['vendor_id']:08X}  0x{r['product_code']:08X}  "
              f"{r['revision'] >> 16}.{r['revision'] & 0xFFFF:<6}  {r['al_state']:<8}  {r['al_status']} / {r['name']}")
    return 0


def emulate(args: argparse.Namespace, state_dir: Callable[[argparse.Namespace, Any], Path] | None = None) -> int:
    """``state_dir(args, rig)``: the verb's state directory (None: images in memory only)."""
    from cerebellum_rt.drivers.ethercat.emulated import EmulatedLine
    from cerebellum_rt.hil_tests.rig import default_rig, load_rig

    rig = load_rig(args.rig) if args.rig else default_rig()
    specs = [f"{b.type}:{b.preset}" if b.preset else b.type for bus in rig.buses for b in bus.boards]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with EmulatedLine(specs, state_dir=state_dir(args, rig) if state_dir else None,
                      image_key=getattr(args, "image_key", None), slot_size=getattr(args, "slot_size", None)) as line:
        if args.json:
            print(json.dumps({"ethercat": {"interface": line.iface, "slaves": specs}}), flush=True)
        else:
            print(f"EtherCAT line of {len(specs)} slaves ({', '.join(specs)}) on interface {line.iface}\n"
                  f"  connect: cbl scan -i ethercat -c {line.iface}\nemulating; Ctrl-C to stop", flush=True)
        while not stop.wait(0.2):
            if not line.running:
                return 1
    return 0
