"""The C bootloader's image check (cbl_image.c, host build) against images made by imgtool: every
single-byte change of the header, the TLV areas and the signature, random payload changes,
truncation, an unsigned image, another key, another board type and a lower security counter are
all refused, each with the failing check named (the 0x1F57 error code); and through the board:
start refuses such an image before any boot, and the bootloader never boots one."""

from __future__ import annotations

import contextlib
import io
import random
import struct
from collections import Counter

import pytest

from cerebellum_rt.drivers.board.cboot import blank_flash
from cerebellum_rt.drivers.firmware import layout
from cerebellum_rt.drivers.firmware.bootloader import check_image
from cerebellum_rt.drivers.flash import sdo
from cerebellum_rt.drivers.flash.image import make_image
from cerebellum_rt.hil_tests.flash_lockstep import JOINT, NODE, TEST_BOOT, image_version

SIG, BOARD, SECCNT, HASH, FORMAT, HEADER, TOO_LARGE = 8, 9, 10, 12, 3, 13, 11


@pytest.fixture(scope="module")
def small(keys):
    """A signed image of a 700-byte payload (every byte flip of it is checked)."""
    payload = random.Random(1).randbytes(700)
    return make_image(payload, keys.path, version="1.2.3", board_type=JOINT, security_counter=4)


def test_good_images_pass_and_carry_their_facts(keys, small, images):
    assert check_image(small, keys.raw, JOINT, 4) == (0, "ok")
    assert check_image(images["v2"], keys.raw, JOINT, 1) == (0, "ok")


def test_every_byte_flip_outside_the_payload_and_random_payload_flips_are_refused(keys, small, images):
    hdr = struct.unpack_from("<H", small, 8)[0]
    size = struct.unpack_from("<I", small, 12)[0]
    outside = [*range(hdr), *range(hdr + size, len(small))]  # header (+ its padding), both TLV areas
    rng = random.Random(7)
    inside = [hdr + rng.randrange(size) for _ in range(300)]
    seen: Counter = Counter()
    for pos in outside + inside:
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(small)
            bad[pos] ^= mask
            code, name = check_image(bytes(bad), keys.raw, JOINT, 0)
            assert code != 0, f"byte {pos} ^ 0x{mask:02X} accepted"
            seen[name] += 1
    big = images["v2"]
    for _ in range(100):  # the real firmware image: random payload bytes
        bad = bytearray(big)
        bad[512 + rng.randrange(len(big) - 1024)] ^= 1 << rng.randrange(8)
        assert check_image(bytes(bad), keys.raw, JOINT, 0)[0] == HASH
    print(f"\n{3 * len(outside + inside) + 100} single-byte changes refused, by check: {dict(seen)}")
    assert seen["hash mismatch"] and seen["signature invalid"] and seen["header invalid"]


def test_truncated_unsigned_foreign_and_downgraded_images_are_refused(keys, small):
    for n in (0, 16, 31, 40, len(small) // 2, len(small) - 80, len(small) - 1):
        code, name = check_image(small[:n], keys.raw, JOINT, 0)
        assert code in (HEADER, TOO_LARGE, FORMAT), (n, name)
    from imgtool import image as imgtool_image
    from imgtool import version as imgtool_version

    img = imgtool_image.Image(version=imgtool_version.decode_version("1.0.0"), header_size=0x200, pad_header=True,
                              security_counter=4)
    img.payload = bytes([img.erased_val] * 0x200) + b"x" * 64
    img.infile_data, img.image_size = b"x" * 64, 64
    with contextlib.redirect_stdout(io.StringIO()):
        img.create(None, "hash", None, custom_tlvs={0xA0: struct.pack("<I", JOINT)})
    assert check_image(bytes(img.payload), keys.raw, JOINT, 0) == (SIG, "signature invalid")  # unsigned
    other = make_image(b"y" * 64, keys.other_path, version="1.0.0", board_type=JOINT, security_counter=4)
    assert check_image(other, keys.raw, JOINT, 0) == (SIG, "signature invalid")
    hand = make_image(b"y" * 64, keys.path, version="1.0.0", board_type=JOINT + 1, security_counter=4)
    assert check_image(hand, keys.raw, JOINT, 0) == (BOARD, "wrong board type")
    assert check_image(small, keys.raw, JOINT, 5) == (SECCNT, "security counter lower than installed")


def test_the_board_refuses_a_bad_image_at_start_and_the_bootloader_never_boots_one(keys, images, rig):
    board, host = rig(blank_flash(keys.raw, {0: images["v1"]}))
    bad = bytearray(images["v2"])
    bad[-10] ^= 0x40  # inside the signature
    host.write(0x1F51, 1, 3, 1)
    host.download(bytes(bad))
    with pytest.raises(sdo.SdoAbortError) as exc:
        host.write(0x1F51, 1, 1, 1)
    assert exc.value.code == 0x08000024
    assert (host.read(0x1F57) >> 1) & 0x7F == SIG and board.slot == 0 and board.boots == [(0, False)]
    # the same image put into slot B as a pending test image behind the firmware's back: never booted
    flash = bytearray(board.flash)
    rec = struct.pack("<IIII", 0xCB1B0001, 5, ~5 & 0xFFFFFFFF, ~0xCB1B0001 & 0xFFFFFFFF)  # PENDING, seq 5
    off = layout.STATE_OFF[1] + 16
    flash[off : off + 16] = rec
    again, host2 = rig(bytes(flash))
    assert (again.slot, again.test_boot) == (0, False) and host2.read(0x1F56) == image_version(images["v1"])
    assert not host2.read(0x1F57) & TEST_BOOT and NODE
