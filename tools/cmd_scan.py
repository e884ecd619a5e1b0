"""`cbl scan -i INTERFACE -c CHANNEL`: list the CANopen boards on a bus (node, identity, firmware, state).

No answer: a one-line error on stderr, exit 2 (with --json: the object with an empty list, exit 1).
An SLCAN adapter that refuses the bit rate (``-b``) is an error before the scan (open_bus).
`-i ethercat -c IFACE`: the EtherCAT slaves on a network interface (SOEM).
"""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cerebellum_rt.drivers.can.bus import add_bus_arguments

    add_bus_arguments(p)
    p.add_argument("--timeout", type=float, default=0.5, help="seconds to wait for answers")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    if args.interface == "ethercat":  # -c names the network interface; SOEM scans the line
        from cerebellum_rt.drivers.ethercat.cli import scan

        return scan(args)
    from cerebellum_rt.drivers.can.bus import bus_from_args
    from cerebellum_rt.drivers.can.scan import scan_bus
    from cerebellum_rt.rtcore.errors import DeviceError, check_range

    check_range("--timeout", args.timeout, 0.05, 60.0, "s")
    bus = bus_from_args(args)
    try:
        boards = scan_bus(bus, args.timeout)
    finally:
        bus.shutdown()
    where = f"{args.interface} channel {args.channel} at {args.bitrate} bit/s"
    if args.json:
        print(json.dumps({"interface": args.interface, "channel": args.channel, "bitrate": args.bitrate,
                          "boards": [b.as_dict() for b in boards]}))
        return 0 if boards else 1
    if not boards:
        raise DeviceError(f"no CANopen board answered on {where} within {args.timeout} s")
    print(f"{len(boards)} board(s) on {where}:")
    print(f"{'node':>4}  {'product':>10}  {'rev':>8}  {'serial':>6}  {'NMT':<15}  {'drive':<20}  device / firmware")
    for b in boards:
        if b.error:
            print(f"{b.node:>4}  {b.error}")
            continue
        rev = f"{b.revision >> 16}.{b.revision & 0xFFFF}" if b.revision is not None else "?"
        print(f"{b.node:>4}  0x{b.product_code:08X}  {rev:>8}  {b.serial!s:>6}  {b.nmt_state:<15}  "
              f"{b.drive_state or '-':<20}  {b.device_name} / {b.firmware}")
    return 0
