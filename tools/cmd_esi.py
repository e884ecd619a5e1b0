"""`cbl esi --board joint|hand [-o FILE.xml]`: write the ETG.2000 ESI XML of a board type and,
beside it, the SII EEPROM image (FILE.bin) that the emulated slaves serve.

Both come from the object-dictionary table (drivers/od.py), like the EDS: identity (0x1018,
SII words 0x08-0x0D, ESI Vendor/Type) and the process data agree by construction.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cerebellum_rt.rtcore.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", choices=("joint", "hand"), default="joint", help="board type (default joint)")
    parser.add_argument("-o", "--output", metavar="FILE.xml",
                        help="write the ESI to FILE.xml and the SII image to FILE.bin; default: ESI on stdout")
    parser.add_argument("--serial", type=lambda s: int(s, 0), default=0, help="serial number in the SII image")


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.drivers.ethercat.esi import esi_xml
    from cerebellum_rt.drivers.ethercat.layout import slave_layout
    from cerebellum_rt.drivers.ethercat.sii import sii_image
    from cerebellum_rt.rtcore.errors import check_range

    check_range("--serial", args.serial, 0, 0xFFFFFFFF)
    layout = slave_layout(args.board)
    text = esi_xml(layout)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if out.suffix.lower() != ".xml":
        raise ConfigError(f"-o {args.output}: an ESI file name must end in .xml")
    image = sii_image(layout, args.serial)
    try:
        out.write_text(text, encoding="utf-8")
        out.with_suffix(".bin").write_bytes(image)
    except OSError as exc:
        raise ConfigError(f"-o {args.output}: cannot write ({exc.strerror})") from exc
    print(f"wrote {out} (ESI, {args.board} board, vendor 0x{layout.vendor_id:08X} product 0x{layout.product_code:08X} "
          f"revision 0x{layout.revision:08X}) and {out.with_suffix('.bin')} (SII, {len(image)} bytes)")
    return 0
