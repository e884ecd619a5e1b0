"""FoE and the BOOT state: signed images written into a board's slot through its bootloader, by the
FoE server of a real board application (every opcode, error and packet boundary) and through
SOEM (pysoem) on the emulated line in a netns."""

from __future__ import annotations

import struct

import pytest

from cerebellum_rt.drivers.ethercat import foe
from cerebellum_rt.drivers.ethercat.emulated import EmulatedLine
from cerebellum_rt.drivers.ethercat.esc import foe as F
from cerebellum_rt.drivers.ethercat.slave_app import make_app
from cerebellum_rt.rtcore.errors import DeviceError

from .conftest import IMAGE_OVERHEAD

needs_netns = pytest.mark.needs("ip", root="network namespaces and raw sockets")
INIT, PREOP = 0x01, 0x02
ROOM = 128 - 12  # data bytes per FoE packet in a 128-byte mailbox


def mbx(op: int, word: int, payload: bytes = b"") -> bytes:
    body = struct.pack("<BBI", op, 0, word) + payload
    return (struct.pack("<HHBB", len(body), 0, 0, F.MBX_FOE | 1 << 4) + body).ljust(128, b"\0")


def reply(frames: list[bytes]) -> tuple[int, int, bytes]:
    assert len(frames) == 1
    length = struct.unpack_from("<H", frames[0])[0]
    op, _r, word = struct.unpack_from("<BBI", frames[0], 6)
    return op, word, frames[0][12 : 6 + length]


def write(server: F.FoeServer, name: bytes, data: bytes, state: int = F.BOOT) -> list[tuple[int, int]]:
    """A master's write; the (opcode, word) of every answer."""
    out = [reply(server.handle(mbx(F.WRQ, F.FOE_PASSWORD, name), state))[:2]]
    for k in range(len(data) // ROOM + 1):
        out.append(reply(server.handle(mbx(F.DATA, k + 1, data[k * ROOM : (k + 1) * ROOM]), state))[:2])
    return out


def read(server: F.FoeServer, name: bytes) -> bytes:
    op, number, chunk = reply(server.handle(mbx(F.RRQ, 0, name), PREOP))
    got = bytearray()
    while True:
        assert op == F.DATA
        got += chunk
        answer = server.handle(mbx(F.ACK, number), PREOP)
        if len(chunk) < ROOM:
            assert answer == []  # the short (possibly empty) packet was the last
            return bytes(got)
        op, number, chunk = reply(answer)


# image sizes on and around the packet boundaries (total = payload + IMAGE_OVERHEAD)
@pytest.mark.parametrize("total", [6 * ROOM, 6 * ROOM - 1, 6 * ROOM + 1, 30 * ROOM])
def test_an_image_of_every_boundary_size_boots_and_reads_back(total: int, tmp_path, image_keys) -> None:
    image = image_keys.image("2.1.0", size=total - IMAGE_OVERHEAD)
    assert len(image) == total
    app = make_app("joint", 1, None, tmp_path / "slave1.json", image_keys.good_pub_file)
    app.set_al_state(F.BOOT)
    acks = write(app.foe, b"app.bin", image)
    assert acks == [(F.ACK, k) for k in range(len(acks))]  # WRQ acked with 0, each packet with its number
    assert (app.foe.writes, app.firmware.status()["pending_boot"]) == (1, True)
    assert read(app.foe, b"download.bin")[:total] == image  # the inactive slot, before the boot
    app.set_al_state(INIT)  # out of BOOT: the board resets into the image's test boot
    st = app.firmware.status()
    assert (st["version"], st["test_boot"], st["slot"]) == ("2.1.0", True, 1)
    assert read(app.foe, b"running.bin") == image
    app.sdo_write(0x1F51, 1, b"\x80")  # confirm over CoE
    app.board.close()
    again = make_app("joint", 1, None, tmp_path / "slave1.json", image_keys.good_pub_file)  # a power cycle
    assert read(again.foe, b"running.bin") == image and not again.firmware.status()["test_boot"]
    again.board.close()


def test_errors_name_their_cause_and_leave_the_image_as_it_was(image_keys) -> None:
    app = make_app("joint", 1, None, None, image_keys.good_pub_file)
    s = app.foe
    app.set_al_state(F.BOOT)
    good = image_keys.image("1.0.0")
    write(s, b"good.bin", good)
    app.set_al_state(INIT)
    app.sdo_write(0x1F51, 1, b"\x80")
    assert reply(s.handle(mbx(F.WRQ, F.FOE_PASSWORD, b"x"), PREOP))[:2] == (F.ERR, F.ERR_NOT_IN_BOOTSTRAP)
    app.set_al_state(F.BOOT)
    assert reply(s.handle(mbx(F.WRQ, F.FOE_PASSWORD + 1, b"x"), F.BOOT))[:2] == (F.ERR, F.ERR_NO_RIGHTS)
    op, code, text = reply(s.handle(mbx(F.RRQ, 0, b"other.bin"), F.BOOT))
    assert (op, code) == (F.ERR, F.ERR_NOT_FOUND) and b"running.bin" in text
    assert reply(s.handle(mbx(F.DATA, 1, b"zz"), F.BOOT))[:2] == (F.ERR, F.ERR_ILLEGAL)  # no write open
    op, code, text = reply(s.handle(mbx(F.WRQ, F.FOE_PASSWORD, b"app.bin@12"), F.BOOT))
    assert (op, code) == (F.ERR, F.ERR_ILLEGAL) and text.startswith(b"resume offset 12")
    s.handle(mbx(F.WRQ, F.FOE_PASSWORD, b"new.bin"), F.BOOT)
    assert reply(s.handle(mbx(F.DATA, 2, b"B" * ROOM), F.BOOT))[:2] == (F.ERR, F.ERR_PACKET_NUMBER)
    s.handle(mbx(F.WRQ, F.FOE_PASSWORD, b"big.bin"), F.BOOT)
    answers = [reply(s.handle(mbx(F.DATA, k + 1, b"C" * ROOM), F.BOOT)) for k in range(65536 // ROOM + 2)]
    assert answers[-1][:2] == (F.ERR, F.ERR_DISK_FULL) and answers[-2][:2] == (F.ACK, len(answers) - 1)
    assert answers[-1][2].startswith(b"image larger than the slot (error 11)")
    assert s.handle(b"\x03\x00", F.BOOT)[0][6] == F.ERR  # truncated mailbox: an error answer, no exception
    app.set_al_state(INIT)
    st = app.firmware.status()
    assert (st["version"], st["test_boot"], s.writes, s.name) == ("1.0.0", False, 1, "good.bin")


@needs_netns
def test_soem_writes_an_image_in_boot_and_the_slave_boots_it(tmp_path, image_keys) -> None:
    import pysoem  # the ethercat extra; only this test talks to SOEM directly

    image = image_keys.image("3.2.1", size=5300)
    with EmulatedLine(["joint", "joint"], state_dir=tmp_path, image_key=image_keys.good_pub_file) as line:
        m = pysoem.Master()
        m.open(line.iface)
        try:
            assert m.config_init() == 2
            with pytest.raises(DeviceError, match="slave 0: FoE write"):
                foe.foe_write(m, 0, "app.bin", image)  # PRE-OP: the bootloader only writes in BOOT
            assert line.status()["slaves"][0]["firmware"]["last_error"] == F.ERR_NOT_IN_BOOTSTRAP
            foe.enter_boot(m, 0)
            st = line.status()["slaves"]
            assert (st[0]["al_state"], st[1]["al_state"]) == ("BOOT", "PRE-OP")
            with pytest.raises(foe.FoeTransferError, match="FoE write") as err:
                foe.foe_write(m, 0, "app.bin", image, password=0x1234)
            assert err.value.refused
            assert line.status()["slaves"][0]["firmware"]["last_error"] == F.ERR_NO_RIGHTS
            with pytest.raises(DeviceError, match="FoE write"):
                foe.foe_write(m, 0, "big.bin", bytes(65536 + 1))
            assert line.status()["slaves"][0]["firmware"]["last_error"] == F.ERR_DISK_FULL
            foe.foe_write(m, 0, "app.bin", image)
            assert foe.foe_read(m, 0, "download.bin")[: len(image)] == image
            with pytest.raises(DeviceError, match=r"FoE read of 'other\.bin'"):
                foe.foe_read(m, 0, "other.bin")
            fw = line.status()["slaves"][0]["firmware"]
            assert (fw["version"], fw["pending_boot"], fw["writes"]) == ("0.0.0", True, 1)
            foe.enter_preop(m, 0)  # out of BOOT: the slave resets into the new image
            fw = line.status()["slaves"][0]["firmware"]
            assert (fw["version"], fw["test_boot"]) == ("3.2.1", True)
            assert foe.foe_read(m, 0, "running.bin") == image
            with pytest.raises(DeviceError, match=r"BOOT refused.*0x0011"):
                foe._request(m.slaves[1], 1, foe.BOOT, 200_000)  # BOOT only from INIT
        finally:
            m.close()
    slots = (tmp_path / "ethercat" / "slave1.slots").read_bytes()
    assert image in slots  # the board's flash, beside its parameters
    assert image not in (tmp_path / "ethercat" / "slave2.slots").read_bytes()  # negative control
