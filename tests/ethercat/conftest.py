"""Fixtures of the EtherCAT tests: signing keys (imgtool) and signed images for the FoE / flash tests."""

from __future__ import annotations

import pytest

from cerebellum_rt.drivers.od import build_table

HAND_TYPE = int(build_table("hand").entry(0x1018, 2).default)
IMAGE_OVERHEAD = 676  # header (0x200) + protected TLVs + SHA-256, KEYHASH, ED25519 TLVs of make_image


@pytest.fixture(scope="session")
def image_keys(signing_keys):
    """The shared signing keys (tests/conftest.py): ``image_keys.good_pub_file`` is the trusted key's file."""
    return signing_keys
