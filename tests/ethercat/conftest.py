"""Fixtures of the EtherCAT tests: signing keys (imgtool) and signed images for the FoE / flash tests."""

from __future__ import annotations

import struct

import pytest

from cerebellum_rt.drivers.od import build_table

HAND_TYPE = int(build_table("hand").entry(0x1018, 2).default)
IMAGE_OVERHEAD = 676  # header (0x200) + protected TLVs + SHA-256, KEYHASH, ED25519 TLVs of make_image


@pytest.fixture(scope="session")
def image_keys(signing_keys):
    """The shared signing keys (tests/conftest.py): ``image_keys.good_pub_file`` is the trusted key's file."""
    return signing_keys


def frame(*datagrams: tuple[int, int, int, bytes]) -> bytearray:
    """An EtherCAT frame (Ethernet header, EtherType 0x88A4) carrying these (command, ADP, ADO, data)
    datagrams, each with index k, the "more" bit on all but the last, and a zero working counter."""
    body = b""
    for k, (cmd, adp, ado, data) in enumerate(datagrams):
        more = 0x8000 if k < len(datagrams) - 1 else 0
        body += struct.pack("<BBHHHH", cmd, k, adp, ado, len(data) | more, 0) + data + b"\0\0"
    return bytearray(b"\x01" * 12 + b"\x88\xa4" + struct.pack("<H", len(body) | 0x1000) + body)
