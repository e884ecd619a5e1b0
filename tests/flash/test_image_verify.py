"""Images: made by imgtool (library and CLI agree), verified by our checker with imgtool's own
verifier as the oracle, and every tampered, truncated, unsigned, foreign-key, wrong-board or
lower-counter image refused with the check named."""

from __future__ import annotations

import random
import struct
import subprocess
import sys

import pytest
from imgtool.image import Image, VerifyResult
from imgtool.keys import load as imgtool_load

from cerebellum_rt.drivers.flash import image as img


def test_our_images_pass_imgtools_verifier_and_the_cli_image_passes_ours(keys, kit, tmp_path):
    data = keys.image("2.3.4", counter=7)
    f = tmp_path / "a.img"
    f.write_bytes(data)
    result, version, _, _ = Image.verify(str(f), imgtool_load(str(keys.good)))
    assert result == VerifyResult.OK and tuple(version[:3]) == (2, 3, 4)
    info = img.verify(data, keys.good_pub, board_type=kit.JOINT_TYPE, min_security_counter=7)
    assert (info.signature, info.sha256_ok, info.security_counter) == ("valid", True, 7)
    assert info.version_u32 == (2 << 24) | (3 << 16) | 4 and info.board_type == kit.JOINT_TYPE
    assert img.verify(data, None).signature == "not checked (no key)"
    # `imgtool sign` on the command line, board type as --custom-tlv 0xa0 <little-endian bytes>
    (tmp_path / "p.bin").write_bytes(bytes(range(256)) * 4)
    le = struct.pack("<I", kit.JOINT_TYPE).hex()
    subprocess.run([sys.executable, "-m", "imgtool.main", "sign", "-k", str(keys.good), "-v", "1.2.3", "-H", "0x200",
                    "--pad-header", "-S", "0x10000", "-s", "5", "--custom-tlv", "0xa0", f"0x{le}",
                    str(tmp_path / "p.bin"), str(tmp_path / "s.img")], check=True, capture_output=True)
    info = img.verify((tmp_path / "s.img").read_bytes(), keys.good_pub, board_type=kit.JOINT_TYPE)
    assert info.version_text == "1.2.3" and info.security_counter == 5


def _check(data: bytes, keys, kit, counter: int = 1) -> str:
    try:
        img.verify(data, keys.good_pub, board_type=kit.JOINT_TYPE, min_security_counter=counter, slot_size=65536)
    except img.ImageError as exc:
        return exc.check
    return "accepted"


def test_every_single_byte_flip_of_header_tlvs_and_signature_is_refused(keys, kit):
    """All bytes of the header (with its padding) and of both TLV areas, each flipped (xor 0xFF,
    then a one-bit flip), plus 200 random payload bytes; the untouched image is the control."""
    data = keys.image(size=2000)
    info = img.parse(data)
    payload_end = info.header_size + info.image_size
    assert _check(data, keys, kit) == "accepted"  # negative control: the check passes a good image
    offsets = list(range(info.header_size)) + list(range(payload_end, len(data)))
    rng = random.Random(3)
    offsets += rng.sample(range(info.header_size, payload_end), 200)
    outcomes: dict[str, int] = {}
    tried = 0
    for off in offsets:
        for mask in (0xFF, 1 << rng.randrange(8)):
            bad = bytearray(data)
            bad[off] ^= mask
            check = _check(bytes(bad), keys, kit)
            assert check != "accepted", f"flip 0x{mask:02X} at byte {off} accepted"
            outcomes[check] = outcomes.get(check, 0) + 1
            tried += 1
    print(f"\nsingle-byte flips tried: {tried} (header {info.header_size} B, TLV areas {len(data) - payload_end} B, "
          f"200 payload bytes; two flips each), refused by: {outcomes}")
    assert tried == 2 * len(offsets) and sum(outcomes.values()) == tried
    assert {"hash", "signature", "header", "tlv"} <= set(outcomes)


@pytest.mark.parametrize("case,check,code", [
    ("unsigned", "signature", img.ERR_SIGNATURE),
    ("other key", "signature", img.ERR_SIGNATURE),
    ("hand board", "board type", img.ERR_BOARD_TYPE),
    ("counter 1 < 2", "security counter", img.ERR_COUNTER),
    ("too large", "size", img.ERR_TOO_LARGE),
    ("not an image", "header", img.ERR_HEADER),
])
def test_each_wrong_image_names_its_check(keys, kit, case, check, code):
    if case == "unsigned":
        data = _unsigned(keys)
    elif case == "other key":
        data = keys.image(key=keys.other)
    elif case == "hand board":
        data = keys.image(board=kit.HAND_TYPE)
    elif case == "too large":
        data = keys.image(size=70_000)
    elif case == "not an image":
        data = bytes(64)
    else:
        data = keys.image(counter=1)
    with pytest.raises(img.ImageError) as exc:
        img.verify(data, keys.good_pub, board_type=kit.JOINT_TYPE, min_security_counter=2, slot_size=65536)
    assert exc.value.check == check and exc.value.code == code
    assert str(exc.value).startswith(f"image {check} check failed: ")


def _unsigned(keys) -> bytes:
    """An image made by imgtool without a key (SHA-256 TLV only)."""
    from imgtool import version

    im = Image(version=version.decode_version("1.0.0"), header_size=img.HEADER_SIZE_DEFAULT, pad_header=True,
               security_counter=1)
    im.payload = bytes([0xFF] * img.HEADER_SIZE_DEFAULT) + bytes(500)
    im.image_size = 500
    im.create(None, "hash", None, custom_tlvs={img.TLV_BOARD_TYPE: struct.pack("<I", 0x4A4E5431)})
    return bytes(im.payload)


def test_every_truncation_is_refused(keys, kit):
    data = keys.image(size=600)
    refused = {}
    for n in range(len(data)):
        check = _check(data[:n], keys, kit)
        assert check != "accepted", f"image cut to {n} of {len(data)} bytes accepted"
        refused[check] = refused.get(check, 0) + 1
    print(f"\ntruncations tried: {len(data)}, refused by: {refused}")
