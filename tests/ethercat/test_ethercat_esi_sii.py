"""SII image and ESI XML from the OD table: identity consistent with 0x1018 and the EDS, the SII
checksum, categories walkable as SOEM walks them, PDOs equal to the table's default process data."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import pytest

from cerebellum_rt.drivers.eds import eds_text
from cerebellum_rt.drivers.ethercat.esi import esi_xml
from cerebellum_rt.drivers.ethercat.layout import slave_layout
from cerebellum_rt.drivers.ethercat.sii import crc8, sii_image
from cerebellum_rt.drivers.od import VENDOR_ID, build_table
from cerebellum_rt.tools.cli import main


def categories(image: bytes) -> dict[int, bytes]:
    out, pos = {}, 0x80
    while pos + 4 <= len(image):
        kind, words = struct.unpack_from("<HH", image, pos)
        if kind == 0xFFFF:
            return out
        out[kind] = image[pos + 4 : pos + 4 + 2 * words]
        pos += 4 + 2 * words
    raise AssertionError("no end category")


@pytest.mark.parametrize("board", ["joint", "hand"])
def test_identity_is_one_value_in_od_eds_esi_and_sii(board: str) -> None:
    table = build_table(board)
    ident = [int(table.entry(0x1018, k).default) for k in (1, 2, 3)]
    assert ident[0] == VENDOR_ID != 0
    image = sii_image(slave_layout(board), serial=7)
    assert list(struct.unpack_from("<IIII", image, 0x10)) == [*ident, 7]
    eds = eds_text(table)
    assert f"VendorNumber=0x{ident[0]:X}" in eds and f"ProductNumber=0x{ident[1]:X}" in eds
    root = ET.fromstring(esi_xml(slave_layout(board)))
    assert int(root.find("Vendor/Id").text[2:], 16) == ident[0]
    t = root.find("Descriptions/Devices/Device/Type").attrib
    assert [int(t["ProductCode"][2:], 16), int(t["RevisionNo"][2:], 16)] == ident[1:]
    assert bytes.fromhex(root.find(".//Eeprom/ConfigData").text) == image[:16]


def test_sii_checksum_and_categories() -> None:
    lay = slave_layout("joint")
    image = sii_image(lay)
    assert image[14] == crc8(image[:14])
    bad = bytearray(image)
    bad[2] ^= 1
    assert bad[14] != crc8(bytes(bad[:14]))  # negative control: the checksum sees a changed byte
    assert struct.unpack_from("<H", image, 0x38)[0] & 0x04  # CoE
    cats = categories(image)
    assert set(cats) >= {10, 30, 40, 41, 50, 51}
    sms = [struct.unpack_from("<HHBBBB", cats[41], 8 * k) for k in range(4)]
    assert [(s[0], s[1], s[5]) for s in sms] == [(0x1000, 128, 1), (0x1080, 128, 2), (0x1100, lay.out_bytes, 3),
                                                  (0x1180, lay.in_bytes, 4)]
    for kind, pdos in ((51, lay.rx), (50, lay.tx)):
        data, pos, seen = cats[kind], 0, []
        while pos < len(data) - 1:
            index, n = struct.unpack_from("<HB", data, pos)
            entries = [struct.unpack_from("<HBBBB", data, pos + 8 + 8 * k) for k in range(n)]
            seen.append((index, [(e[0], e[1], e[4]) for e in entries]))
            pos += 8 + 8 * n
        assert seen == [(p.index, [(e.index, e.subindex, e.bits) for e in p.entries]) for p in pdos]
    strings = cats[10]
    assert strings[2 : 2 + strings[1]].decode() == lay.name  # SOEM names a slave by string 1


def test_cbl_esi_writes_xml_and_bin(tmp_path) -> None:
    out = tmp_path / "hand.xml"
    assert main(["esi", "--board", "hand", "-o", str(out)]) == 0
    assert out.with_suffix(".bin").read_bytes() == sii_image(slave_layout("hand"))
    ET.parse(out)
    assert main(["esi", "--board", "hand", "-o", str(tmp_path / "x.txt")]) == 2
