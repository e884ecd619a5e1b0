"""`cbl eds --board joint|hand [--preset NAME] [--fd] [-o FILE] [--header FILE.h]`: write the
CiA 306 EDS of a board type (and, with --header, the firmware's C99 header).

Both are generated from the object-dictionary table in drivers/od.py (drivers/od_hand.py for the
hand). A joint board's limits (0x6071/0x6072/0x60B2 max torque, 0x6080 max speed, 0x607D
position range, 0x2010 gains) come from its actuator preset: ``--preset`` (a shipped name or a
.toml path) builds the table the emulated board of that preset serves
(:func:`cerebellum_rt.drivers.board.joint.joint_table`); without it the default ratings apply
(the board without a module). The hand board's table does not depend on its preset.
"""

from __future__ import annotations

import argparse
import sys

from cerebellum_rt.rtcore.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", choices=("joint", "hand"), default="joint", help="board type (default joint)")
    parser.add_argument("--preset", default=None,
                        help="actuator preset of the board (joint: sets its limits and gains; default: none)")
    parser.add_argument("--fd", action="store_true", help="CANopen FD variant (64 mapping entries per PDO)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (must end in .eds); default stdout")
    parser.add_argument("--header", metavar="FILE.h",
                        help="also write the firmware's C99 header (PDO structs, object table) to FILE.h")
    parser.add_argument("--check", action="store_true",
                        help="load the result with python canopen (import_od) and report the object count")


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.drivers.eds import eds_text, write_eds
    from cerebellum_rt.drivers.od import build_table
    from cerebellum_rt.hil_tests.rig import load_board_preset

    preset = load_board_preset(args.board, args.preset)
    if args.board == "joint":
        from cerebellum_rt.drivers.board.joint import joint_table

        table = joint_table(preset, fd=args.fd)
    else:
        table = build_table(args.board, fd=args.fd)
    if args.header:
        from cerebellum_rt.drivers.od_c import c_header

        try:
            with open(args.header, "w", encoding="ascii") as fh:
                fh.write(c_header(table))
        except OSError as exc:
            raise ConfigError(f"--header {args.header}: cannot write ({exc.strerror})") from exc
        print(f"wrote {args.header} (C99 header, {args.board} board)", file=sys.stderr)
    if args.output is None:
        if args.check:
            raise ConfigError("--check needs -o FILE (python canopen loads EDS files by name)")
        sys.stdout.write(eds_text(table))
        return 0
    if not args.output.lower().endswith(".eds"):
        raise ConfigError(f"-o {args.output}: an EDS file name must end in .eds (CiA 306; python canopen needs it)")
    try:
        path = write_eds(table, args.output)
    except OSError as exc:
        raise ConfigError(f"-o {args.output}: cannot write ({exc.strerror})") from exc
    what = f"{args.board} board" + (f", preset {args.preset}" if args.preset else "") + (", CANopen FD" if args.fd else "")
    msg = f"wrote {path} ({what}, {len(table.objects)} objects)"
    if args.check:
        import canopen

        od = canopen.import_od(str(path), 1)
        msg += f"; python canopen loads {len({o.index for o in od.values() if o.index >= 0x1000})} objects"
    print(msg)
    return 0
