"""Suite-wide: the ``needs`` marker.

``@pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm", root="why")``: the test needs these
executables (and root, for the reason given). Under ``CI=true`` a missing one fails the test
naming it; elsewhere it skips with that reason (:mod:`cerebellum_rt.hil_tests.prereq`)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cerebellum_rt.hil_tests.prereq import require_root, require_tools


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*tools, root=None): executables (and root) the test needs; "
                                       "fails under CI=true when missing, skips elsewhere")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        require_tools(*mark.args)
        if mark.kwargs.get("root"):
            require_root(mark.kwargs["root"])


class SigningKeys:
    """Two Ed25519 signing keys made by imgtool (``good``, trusted by the boards under test, and
    ``other``), the good key's public half as a file (``good_pub_file``) and as a key object
    (``good_pub``), and images signed by them (the flashing and EtherCAT tests)."""

    def __init__(self, d: Path) -> None:
        from imgtool import keys as imgtool_keys

        from cerebellum_rt.drivers.flash import image as img

        for name in ("good", "other"):
            imgtool_keys.Ed25519.generate().export_private(str(d / f"{name}.pem"))
        self.good, self.other = d / "good.pem", d / "other.pem"
        self.good_pub_file = d / "good.pem.pub"
        imgtool_keys.load(str(self.good)).export_public(str(self.good_pub_file))
        self.good_pub = img.load_public_key(self.good)

    def image(self, version: str = "1.0.0", counter: int = 1, board: int | None = None, key: Path | None = None,
              size: int = 3000, seed: int = 0) -> bytes:
        """A signed image of ``size`` random payload bytes; ``board``: product code (default joint)."""
        from cerebellum_rt.drivers.flash import image as img
        from cerebellum_rt.drivers.od import build_table

        if board is None:
            board = int(build_table("joint").entry(0x1018, 2).default)
        payload = random.Random(seed).randbytes(size)
        return img.make_image(payload, key or self.good, version=version, board_type=board, security_counter=counter)


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory) -> SigningKeys:
    return SigningKeys(tmp_path_factory.mktemp("signing-keys"))
