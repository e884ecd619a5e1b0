"""`cbl image inspect FILE [--key PUB] [--board joint|hand] [--json]`: what a board image holds.

Prints the MCUboot header (sizes, flags, version), every TLV, the SHA-256 check, the signature
state (valid / invalid / other key / unsigned / not checked without ``--key``), the board type
(TLV 0xA0) and the security counter. A failed check prints its one-line reason and exits 2
(with ``--json``: the object, with ``error`` and ``check``, exit 2).
"""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("inspect",), help="inspect: header, TLVs, hash, signature")
    p.add_argument("file", metavar="FILE", help="the image (MCUboot format, from cbl build firmware --image)")
    p.add_argument("--key", metavar="PUB", default=None, help="check the signature with this public (or private) key")
    p.add_argument("--board", choices=("joint", "hand"), default=None,
                   help="also check the image's board type against this board type's product code")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cerebellum_rt.drivers import od
    from cerebellum_rt.drivers.flash import image
    from cerebellum_rt.rtcore.errors import ConfigError

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"image {args.file}: {exc.strerror}") from exc
    key = image.load_public_key(args.key) if args.key else None
    board_type = int(od.build_table(args.board).entry(0x1018, 2).default) if args.board else None
    error = check = None
    try:
        info = image.verify(data, key, board_type=board_type)
    except image.ImageError as exc:
        error, check = str(exc), exc.check
        info = _partial(image, data, key, exc)
    out = {"file": args.file, "bytes": len(data), **(info.as_dict() if info else {}),
           "error": error, "check": check}
    if args.json:
        print(json.dumps(out))
        return 2 if error else 0
    if info is not None:
        print(f"{args.file}: MCUboot image, {len(data)} bytes")
        print(f"  header: {info.header_size} B, payload {info.image_size} B, protected TLVs {info.protected_tlv_size} B, "
              f"load address 0x{info.load_addr:08X}, flags {out['flags'] or 'none'}")
        print(f"  version {info.version_text} (0x1F56 = 0x{info.version_u32:08X}), security counter "
              f"{info.security_counter if info.security_counter is not None else 'none'}, board type "
              + (f"0x{info.board_type:08X}" if info.board_type is not None else "none"))
        for t in out["tlvs"]:
            val = t["value"] if len(t["value"]) <= 32 else t["value"][:32] + "..."
            print(f"  TLV {t['name']:<10} {'protected' if t['protected'] else 'unprotected':<11} {t['length']:>3} B  {val}")
        sha = {True: "ok", False: "MISMATCH", None: "not checked"}[info.sha256_ok]
        print(f"  SHA-256: {sha}; signature: {info.signature}")
    if error:
        raise ConfigError(f"{args.file}: {error}")
    return 0


def _partial(image, data: bytes, key, exc):
    """What can still be shown of an image that failed ``exc``: every check before the failing one."""
    if exc.check in ("board type", "security counter"):
        return image.verify(data, key)  # hash and signature passed
    try:
        info = image.parse(data)
    except image.ImageError:
        return None
    if exc.check == "signature":
        info.sha256_ok = True
        info.signature = ("unsigned" if "unsigned" in str(exc) else
                          "other key" if "another key" in str(exc) else "invalid")
    elif exc.check == "hash":
        info.sha256_ok, info.signature = False, "not checked (hash failed)"
    return info
