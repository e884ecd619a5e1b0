"""`cbl keys new KEY | show KEY`: Ed25519 signing keys for board images (imgtool's PEM format).

``new`` writes the private key with mode 0600 and its public half to ``KEY.pub`` (what
``cbl emulate --image-key`` and ``cbl image inspect --key`` take); an existing file is never
overwritten (exit 2). ``show`` prints the type, the MCUboot key hash and the public key, and
warns when a private key is readable by others.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("new", "show"), help="new: generate a key; show: describe a key file")
    p.add_argument("key", metavar="KEY", help="the key file (PEM)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.drivers.flash.keys import new_key, show_key

    info = new_key(args.key) if args.action == "new" else show_key(args.key)
    if args.json:
        print(json.dumps(info))
        return 0
    if args.action == "new":
        print(f"wrote {info['file']} (private, mode {info['mode']}) and {info['file']}.pub")
    print(f"{info['file']}: {info['type']} {'private' if info['private'] else 'public'} key, mode {info['mode']}")
    print(f"  key hash (MCUboot KEYHASH): {info['keyhash']}")
    if info["private"] and int(info["mode"], 8) & 0o077:
        print(f"  warning: the private key is readable by others (mode {info['mode']}); chmod 600 it")
    print(info["public_pem"].rstrip())
    return 0
