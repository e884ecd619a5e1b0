"""Fixtures of the EtherCAT tests: signing keys (imgtool) and signed images for the FoE / flash tests."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from imgtool import keys as imgtool_keys

from cerebellum_rt.drivers.flash import image as img
from cerebellum_rt.drivers.od import build_table

JOINT_TYPE = int(build_table("joint").entry(0x1018, 2).default)
HAND_TYPE = int(build_table("hand").entry(0x1018, 2).default)
IMAGE_OVERHEAD = 676  # header (0x200) + protected TLVs + SHA-256, KEYHASH, ED25519 TLVs of make_image


class ImageKeys:
    """A trusted key (``good``, public half in ``good.pem.pub``) and another one, and images signed by them."""

    def __init__(self, d: Path) -> None:
        for name in ("good", "other"):
            imgtool_keys.Ed25519.generate().export_private(str(d / f"{name}.pem"))
        self.good, self.other = d / "good.pem", d / "other.pem"
        self.good_pub = d / "good.pem.pub"
        imgtool_keys.load(str(self.good)).export_public(str(self.good_pub))

    def image(self, version: str = "1.0.0", counter: int = 1, board: int = JOINT_TYPE, key: Path | None = None,
              size: int = 3000, seed: int = 0) -> bytes:
        """A signed image of ``size`` payload bytes (total ``size + IMAGE_OVERHEAD``)."""
        payload = random.Random(seed).randbytes(size)
        return img.make_image(payload, key or self.good, version=version, board_type=board, security_counter=counter)


@pytest.fixture(scope="session")
def image_keys(tmp_path_factory) -> ImageKeys:
    return ImageKeys(tmp_path_factory.mktemp("ecat-keys"))
