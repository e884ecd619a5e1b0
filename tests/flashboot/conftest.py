"""Shared by the bootloader tests: keys, payloads and signed images (imgtool), and lockstep rigs
(a BootBoard and a host, cerebellum_rt.hil_tests.flash_lockstep)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import can
import pytest
from cryptography.hazmat.primitives import serialization

from cerebellum_rt.actuators.joint import JointModule, load_preset
from cerebellum_rt.drivers.board.cboot import BootBoard
from cerebellum_rt.drivers.firmware.payload import build_payload
from cerebellum_rt.drivers.flash.image import load_public_key, make_image
from cerebellum_rt.drivers.flash.keys import new_key
from cerebellum_rt.drivers.od import JointRatings, build_table
from cerebellum_rt.hil_tests.flash_lockstep import JOINT, NODE, LockstepHost


def payload_for(rated_scale: float) -> bytes:
    """The joint firmware of the knee preset with its rated torque (0x6076, the unit of every torque
    object: 0x6071 = 1000 per mille is the rated torque) built as ``rated_scale`` x the preset's."""
    preset = JointModule(load_preset("knee"), seed=3).preset
    ratings = JointRatings.from_preset(preset, rated_torque_nm=preset.rated_torque_nm * rated_scale)
    return build_payload(build_table("joint", ratings=ratings))


@dataclass
class Keys:
    path: str
    raw: bytes
    other_path: str


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    new_key(d / "k.pem")
    new_key(d / "other.pem")
    raw = load_public_key(d / "k.pem").public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Keys(str(d / "k.pem"), raw, str(d / "other.pem"))


@pytest.fixture(scope="session")
def payloads() -> dict[str, bytes]:
    return {"v1": payload_for(1.0), "v2": payload_for(0.5)}


@pytest.fixture(scope="session")
def images(keys, payloads) -> dict[str, bytes]:
    return {"v1": make_image(payloads["v1"], keys.path, version="1.0.0", board_type=JOINT, security_counter=1),
            "v2": make_image(payloads["v2"], keys.path, version="2.0.0", board_type=JOINT, security_counter=1)}


@pytest.fixture
def rig():
    """make(flash, **kw) -> (board, host); the buses and boards are closed at the end."""
    made: list = []

    def make(flash: bytes, **kw: Any) -> tuple[BootBoard, LockstepHost]:
        channel = f"flashboot-{id(made)}-{len(made)}"
        bus = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
        client = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
        clock = [0.0]
        made.extend([bus, client])
        board = BootBoard(NODE, bus, kw.pop("module", None), flash=flash, clock=lambda: clock[0], **kw)
        made.append(board)
        while client.recv(timeout=0.0) is not None:  # the boot-up frame
            pass
        return board, LockstepHost(board, client, clock)

    yield make
    for thing in reversed(made):
        (thing.close if isinstance(thing, BootBoard) else thing.shutdown)()


