"""A lockstep host for boards with the C bootloader (:class:`~cerebellum_rt.drivers.board.cboot.BootBoard`):
it runs the flash tool's SDO exchanges (:mod:`cerebellum_rt.drivers.flash.sdo`) frame by frame, the
board polled between them at a virtual clock. Used by the bootloader's power-cut and update tests."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import can

from cerebellum_rt.drivers.board.cboot import BootBoard
from cerebellum_rt.drivers.flash import sdo
from cerebellum_rt.drivers.od import build_table

NODE = 5
JOINT = build_table("joint").entry(0x1018, 2).default  # the joint board's product code
TEST_BOOT = 0x20000  # 0x1F57 bit 17


def image_version(image: bytes) -> int:
    """An MCUboot image's version as 0x1F56 reports it."""
    return image[20] << 24 | image[21] << 16 | int.from_bytes(image[22:24], "little")


class LockstepHost:
    """Runs a transfer generator against one lockstep board: frames out, poll, the reply back."""

    def __init__(self, board: BootBoard, client: can.BusABC, clock: list[float]) -> None:
        self.board, self.client, self.clock = board, client, clock
        self.resumed_at = 0  # where the last update() resumed the download (0: from the start)

    def run(self, transfer: Generator) -> Any:
        reply = None
        try:
            step = next(transfer)
            while True:
                for cob, data in step.frames:
                    self.client.send(can.Message(arbitration_id=cob, data=data, is_extended_id=False))
                self.clock[0] += 0.001
                self.board.poll()
                reply = None
                while (m := self.client.recv(timeout=0.0)) is not None:
                    if step.expect_id is not None and m.arbitration_id == step.expect_id and reply is None:
                        reply = bytes(m.data)
                step = transfer.send(reply)
        except StopIteration as stop:
            return stop.value

    def read(self, index: int, sub: int = 1) -> int:
        return self.run(sdo.upload_u32(NODE, index, sub, 0.1))

    def write(self, index: int, sub: int, value: int, size: int) -> None:
        self.run(sdo.download_int(NODE, index, sub, value, size, 0.1))

    def download(self, data: bytes) -> None:
        self.run(sdo.block_download(NODE, 0x1F50, 1, data, 0.1))

    def update(self, image: bytes) -> None:
        """A whole update from whatever state the board is in: resume where it stopped when it can,
        else clear and download everything; start; confirm the test boot."""
        if self.read(0x1F56) == image_version(image):
            if self.read(0x1F57) & TEST_BOOT:
                self.write(0x1F51, 1, 0x80, 1)
            return
        offset = self.read(0x5F50, 1)
        self.resumed_at = 0
        try:
            if offset == 0:
                raise sdo.SdoAbortError(NODE, 0x1F50, 1, 0, "nothing to resume")
            self.write(0x5F50, 1, offset, 4)
            self.download(image[offset:])
            self.resumed_at = offset
        except sdo.SdoAbortError:
            self.write(0x1F51, 1, 3, 1)
            self.download(image)
        self.write(0x1F51, 1, 1, 1)  # start: verified, then the board resets into the test boot
        assert self.board.test_boot, "start accepted but the board did not test-boot the new image"
        self.write(0x1F51, 1, 0x80, 1)
