"""One board's update, as a generator of SDO exchanges (the steps of the contract in the package doc).

:func:`flash_board` reads the board's identity and download state, checks compatibility
(board type, slot size, security counter, trusted key: the board's own 0x5F50 values), and
unless ``dry_run``: clears the inactive slot (or resumes at 0x5F50:1), block-downloads the image,
starts it, waits for the boot-up, reads 0x1F56/0x1F57 back and confirms the test boot.

A bus cut during the download (no sub-block ack): the board's acknowledged offset is read back
(0x5F50:1) as soon as it answers again, within ``resume_wait_s``; the download resumes there. If
the board stays silent, :class:`FlashError` names the last acknowledged byte; ``--resume`` in a
later run continues from the board's offset.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from cerebellum_rt.drivers.flash import image as img
from cerebellum_rt.drivers.flash.sdo import (
    ABORT_TIMEOUT,
    SDO_TX,
    Exchange,
    SdoAbortError,
    SdoTimeoutError,
    block_download,
    download_int,
    upload_u32,
)
from cerebellum_rt.drivers.od import (
    FLASH_PROGRAM_UNIT,
    PROGRAM_CONTROL_CLEAR,
    PROGRAM_CONTROL_CONFIRM,
    PROGRAM_CONTROL_START,
)
from cerebellum_rt.rtcore.errors import DeviceError

ABORT_NOT_STORED = 0x08000020  # the board could not program (CiA 302-3 error 4: flash not cleared)
# what a resumed download's slot may show when its prefix was not this image (or a unit was torn
# by a power cut): the tool then clears and downloads once more from byte 0
RESUME_DAMAGE = (img.ERR_HASH, img.ERR_SIGNATURE, img.ERR_FORMAT, img.ERR_HEADER)

BOARD_NAMES = {0x4A4E5431: "joint", 0x48414E31: "hand"}


class FlashError(DeviceError):
    """An update that stopped; ``stage`` names where, ``offset`` the bytes the board acknowledged."""

    def __init__(self, message: str, stage: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.offset = offset


@dataclass
class Options:
    sdo_timeout_s: float = 0.5
    boot_timeout_s: float = 5.0
    resume_wait_s: float = 3.0  # how long a silent board is waited for after a cut
    retry_period_s: float = 0.2
    dry_run: bool = False
    resume: bool = False
    confirm: bool = True


@dataclass
class BoardResult:
    """What happened to one board (the summary table's row, ``--json``'s entry)."""

    node: int
    bus: str = ""
    status: str = "pending"  # ok | compatible | failed
    stage: str = ""
    board_type: int | None = None
    old_version: str = ""
    new_version: str = ""
    bytes: int = 0
    acked: int = 0
    resumes: int = 0
    seconds: float = 0.0
    test_boot: bool | None = None
    error: str = ""
    checks: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _type_name(code: int | None) -> str:
    if code is None:
        return "none"
    return f"0x{code:08X} ({BOARD_NAMES[code]})" if code in BOARD_NAMES else f"0x{code:08X}"


def check_compatibility(label: str, info: img.ImageInfo, board_type: int, slot_size: int, counter: int,
                        key_id: int, checks: dict) -> None:
    """The dry run's checks against a board's own 0x5F50 values (board type :3, slot size :2,
    installed security counter :4, trusted key id :5), recorded in ``checks``; the first that
    fails raises :class:`FlashError` (stage ``compatibility``) naming both values. ``label``
    names the board ("node 3" on CAN, "slave 2" on EtherCAT)."""
    checks["board_type"] = info.board_type == board_type
    checks["size"] = info.total_size <= slot_size
    checks["security_counter"] = (info.security_counter or 0) >= counter
    kh = [v for t_, p, v in info.tlvs if t_ == img.TLV_KEYHASH and not p]
    checks["key"] = bool(kh) and key_id != 0 and int.from_bytes(kh[0][:4], "little") == key_id
    if not checks["board_type"]:
        raise FlashError(f"{label}: wrong board type: image is for {_type_name(info.board_type)}, "
                         f"board is {_type_name(board_type)}", "compatibility")
    if not checks["size"]:
        raise FlashError(f"{label}: image {info.total_size} bytes > the board's slot {slot_size} bytes",
                         "compatibility")
    if not checks["security_counter"]:
        raise FlashError(f"{label}: security counter too low: image {info.security_counter or 0} < installed "
                         f"{counter}", "compatibility")
    if not checks["key"]:
        have = f"0x{int.from_bytes(kh[0][:4], 'little'):08X}" if kh else "none (unsigned)"
        raise FlashError(f"{label}: signed by a key the board does not trust: image key id {have}, board "
                         f"key id 0x{key_id:08X}" + (" (no key configured)" if key_id == 0 else ""), "compatibility")


def check_test_boot(label: str, info: img.ImageInfo, version: int, status: int) -> bool:
    """The read-back after the boot: 0x1F56:1 must be the image's version and 0x1F57:1 must show
    the test boot (bit 17); else :class:`FlashError` (stage ``read-back``). Returns the test-boot bit."""
    test_boot = bool(status & (1 << 17))
    if version != info.version_u32 or not test_boot:
        raise FlashError(f"{label}: after the boot the board runs {img.version_u32_text(version)}"
                         f"{' in test boot' if test_boot else ''}, expected {info.version_text} in test boot "
                         "(the bootloader reverted)", "read-back")
    return test_boot


def refusal(code: int) -> str:
    """The name of 0x1F57's error ``code`` (the check the board's verification failed)."""
    return img.ERROR_TEXT.get(code, "error")


def flash_board(node: int, data: bytes, info: img.ImageInfo, opts: Options, result: BoardResult,
                progress: Callable[[int, int], None] | None = None,
                clock: Callable[[], float] = time.monotonic) -> Generator[Exchange, bytes | None, BoardResult]:
    """The update of one board (see module doc); fills and returns ``result``."""
    t = opts.sdo_timeout_s
    t0 = clock()
    result.bytes = len(data)
    result.new_version = info.version_text
    result.stage = "identify"
    # an abort first: a transfer left open by an earlier, cut run would take our requests for segments
    yield Exchange([(SDO_TX + node, struct.pack("<BHBI", 0x80, 0x1F50, 1, ABORT_TIMEOUT))], None, 0.0)
    try:
        product = yield from upload_u32(node, 0x1018, 2, t)
    except SdoTimeoutError as exc:
        raise FlashError(f"node {node}: board not answering (no SDO reply within {t} s)", "identify") from exc
    board_type = yield from upload_u32(node, 0x5F50, 3, t)
    slot_size = yield from upload_u32(node, 0x5F50, 2, t)
    counter = yield from upload_u32(node, 0x5F50, 4, t)
    key_id = yield from upload_u32(node, 0x5F50, 5, t)
    running = yield from upload_u32(node, 0x1F56, 1, t)
    result.board_type = product
    result.old_version = img.version_u32_text(running)
    result.stage = "compatibility"
    check_compatibility(f"node {node}", info, board_type, slot_size, counter, key_id, result.checks)
    if opts.dry_run:
        result.status, result.stage = "compatible", "dry-run"
        result.seconds = clock() - t0
        return result

    resume, retried = opts.resume, False
    while True:
        try:
            offset = yield from _download(node, data, opts, clock, result, progress, resume)
        except SdoAbortError as exc:
            if not (resume and exc.code == ABORT_NOT_STORED) or retried:
                raise
            resume, retried = False, True  # the slot was not cleared for this download: start over
            result.resumes += 1
            continue
        result.stage = "start"
        try:
            yield from download_int(node, 0x1F51, 1, PROGRAM_CONTROL_START, 1, t, "start (0x1F51 = 1)")
            break
        except SdoAbortError as exc:
            status = yield from upload_u32(node, 0x1F57, 1, t)
            code = (status >> 1) & 0x7F
            if not retried and (resume or result.resumes or offset) and code in RESUME_DAMAGE:
                resume, retried = False, True  # a resumed slot that does not verify: once more from a cleared slot
                result.resumes += 1
                continue
            raise FlashError(f"node {node}: the board refused the image: {refusal(code)} "
                             f"(0x1F57 error {code}; SDO abort 0x{exc.code:08X})", "start") from exc
    result.stage = "boot"
    boot = yield Exchange([], 0x700 + node, opts.boot_timeout_s, b"\x00")
    if boot is None:
        raise FlashError(f"node {node}: no boot-up within {opts.boot_timeout_s} s after start", "boot")
    result.stage = "read-back"
    version = yield from upload_u32(node, 0x1F56, 1, t)
    status = yield from upload_u32(node, 0x1F57, 1, t)
    result.test_boot = check_test_boot(f"node {node}", info, version, status)
    if opts.confirm:
        result.stage = "confirm"
        yield from download_int(node, 0x1F51, 1, PROGRAM_CONTROL_CONFIRM, 1, t, "confirm (0x1F51 = 0x80)")
        status = yield from upload_u32(node, 0x1F57, 1, t)
        result.test_boot = bool(status & (1 << 17))
        if result.test_boot:
            raise FlashError(f"node {node}: confirm did not end the test boot (0x1F57 = 0x{status:08X})", "confirm")
    result.status, result.stage = "ok", "done"
    result.seconds = clock() - t0
    return result


def _offset_after_cut(node: int, opts: Options, clock: Callable[[], float], result: BoardResult, total: int,
                      cause: Exception) -> Generator[Exchange, bytes | None, int]:
    """After a cut: wait for the board to answer, read its offset and write it back (the resume point)."""
    deadline = clock() + opts.resume_wait_s
    while True:
        # the abort first: a server still in the block transfer would take the next request for a segment
        yield Exchange([(SDO_TX + node, struct.pack("<BHBI", 0x80, 0x1F50, 1, ABORT_TIMEOUT))], None, 0.0)
        try:
            offset = yield from upload_u32(node, 0x5F50, 1, opts.sdo_timeout_s)
            offset -= offset % FLASH_PROGRAM_UNIT
            yield from download_int(node, 0x5F50, 1, offset, 4, opts.sdo_timeout_s, "resume offset")
            return offset
        except SdoTimeoutError:
            if clock() >= deadline:
                raise FlashError(f"node {node}: bus cut: stopped at byte {result.acked} of {total} (acknowledged "
                                 f"by the board); run again with --resume to continue", "download",
                                 result.acked) from cause
            yield Exchange([], None, opts.retry_period_s)


def _download(node: int, data: bytes, opts: Options, clock: Callable[[], float], result: BoardResult,
              progress: Callable[[int, int], None] | None, resume: bool) -> Generator[Exchange, bytes | None, int]:
    """Clear (or resume at the board's offset), then block-download with resume after cuts;
    returns the offset the last transfer began at."""
    t = opts.sdo_timeout_s
    if resume:
        result.stage = "resume"
        offset = yield from upload_u32(node, 0x5F50, 1, t)
        offset = min(offset - offset % FLASH_PROGRAM_UNIT, len(data) - len(data) % FLASH_PROGRAM_UNIT)
        yield from download_int(node, 0x5F50, 1, offset, 4, t, "resume offset")
    else:
        result.stage = "clear"
        yield from download_int(node, 0x1F51, 1, PROGRAM_CONTROL_CLEAR, 1, t, "clear (0x1F51 = 3)")
        offset = 0
    result.stage = "download"
    while True:
        base = offset
        result.acked = base

        def acked(n: int, base: int = base) -> None:
            result.acked = base + n
            if progress is not None:
                progress(base + n, len(data))

        if base >= len(data):
            return base
        try:
            yield from block_download(node, 0x1F50, 1, data[base:], t, acked)
            result.acked = len(data)
            return base
        except SdoTimeoutError as exc:
            offset = yield from _offset_after_cut(node, opts, clock, result, len(data), exc)
            result.resumes += 1
