"""FoE and the BOOT state: the slave's firmware image written and read back, by the FoE server
alone (every opcode and error) and through SOEM (pysoem) on the emulated line in a netns."""

from __future__ import annotations

import struct

import pytest

from cerebellum_rt.drivers.ethercat import foe
from cerebellum_rt.drivers.ethercat.emulated import EmulatedLine
from cerebellum_rt.drivers.ethercat.esc import foe as F
from cerebellum_rt.rtcore.errors import DeviceError

needs_netns = pytest.mark.needs("ip", root="network namespaces and raw sockets")
PREOP = 0x02
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


@pytest.mark.parametrize("size", [0, 1, ROOM - 1, ROOM, 3 * ROOM, 1000])
def test_write_then_read_back_every_size(size: int, tmp_path) -> None:
    data = bytes((7 * k) & 0xFF for k in range(size))
    s = F.FoeServer(128, tmp_path / "slave1.fw")
    acks = write(s, b"app.bin", data)
    assert acks == [(F.ACK, k) for k in range(len(acks))]  # WRQ acked with 0, each packet with its number
    assert (s.name, s.image, s.writes) == ("app.bin", data, 1)
    assert (tmp_path / "slave1.fw").read_bytes() == data
    assert F.FoeServer(128, tmp_path / "slave1.fw").image == data  # kept across a restart
    op, number, chunk = reply(s.handle(mbx(F.RRQ, 0, b"app.bin"), PREOP))
    got = bytearray()
    while True:
        assert op == F.DATA
        got += chunk
        answer = s.handle(mbx(F.ACK, number), PREOP)
        if len(chunk) < ROOM:
            assert answer == []  # the short (possibly empty) packet was the last
            break
        op, number, chunk = reply(answer)
    assert bytes(got) == data


def test_errors_leave_the_image_as_it_was() -> None:
    s = F.FoeServer(128)
    write(s, b"good.bin", b"A" * 300)
    assert reply(s.handle(mbx(F.WRQ, F.FOE_PASSWORD, b"x"), PREOP))[:2] == (F.ERR, F.ERR_NOT_IN_BOOTSTRAP)
    assert reply(s.handle(mbx(F.WRQ, F.FOE_PASSWORD + 1, b"x"), F.BOOT))[:2] == (F.ERR, F.ERR_NO_RIGHTS)
    assert reply(s.handle(mbx(F.RRQ, 0, b"other.bin"), F.BOOT))[:2] == (F.ERR, F.ERR_NOT_FOUND)
    assert reply(s.handle(mbx(F.DATA, 1, b"zz"), F.BOOT))[:2] == (F.ERR, F.ERR_ILLEGAL)  # no write open
    s.handle(mbx(F.WRQ, F.FOE_PASSWORD, b"new.bin"), F.BOOT)
    assert reply(s.handle(mbx(F.DATA, 2, b"B" * ROOM), F.BOOT))[:2] == (F.ERR, F.ERR_PACKET_NUMBER)
    s.handle(mbx(F.WRQ, F.FOE_PASSWORD, b"big.bin"), F.BOOT)
    answers = [reply(s.handle(mbx(F.DATA, k + 1, b"C" * ROOM), F.BOOT))[:2]
               for k in range(F.FOE_MAX_BYTES // ROOM + 1)]
    assert answers[-1] == (F.ERR, F.ERR_DISK_FULL) and answers[-2] == (F.ACK, len(answers) - 1)
    assert (s.name, s.image, s.writes) == ("good.bin", b"A" * 300, 1)
    assert s.handle(b"\x03\x00", F.BOOT)[0][6] == F.ERR  # truncated mailbox: an error answer, no exception


@needs_netns
def test_soem_writes_and_reads_the_firmware_in_boot(tmp_path) -> None:
    import pysoem  # the ethercat extra; only this test talks to SOEM directly

    image = bytes(range(256)) * 23 + b"tail"  # 5892 bytes: 51 packets, the last one short
    with EmulatedLine(["joint", "joint"], state_dir=tmp_path) as line:
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
            with pytest.raises(DeviceError, match="FoE write"):
                foe.foe_write(m, 0, "app.bin", image, password=0x1234)
            assert line.status()["slaves"][0]["firmware"]["last_error"] == F.ERR_NO_RIGHTS
            with pytest.raises(DeviceError, match="FoE write"):
                foe.foe_write(m, 0, "big.bin", bytes(F.FOE_MAX_BYTES + 1))
            assert line.status()["slaves"][0]["firmware"]["last_error"] == F.ERR_DISK_FULL
            foe.foe_write(m, 0, "app.bin", image)
            assert foe.foe_read(m, 0, "app.bin") == image
            with pytest.raises(DeviceError, match=r"FoE read of 'other\.bin'"):
                foe.foe_read(m, 0, "other.bin")
            exact = bytes(ROOM * 4)  # a multiple of the packet size: SOEM ends with an empty packet
            foe.foe_write(m, 0, "app.bin", exact)
            assert foe.foe_read(m, 0, "app.bin") == exact
            foe.foe_write(m, 0, "app.bin", image)
            foe.leave_boot(m, 0)
            with pytest.raises(DeviceError, match=r"BOOT refused.*0x0011"):
                m.slaves[1].state = PREOP
                m.slaves[1].write_state()
                m.slaves[1].state_check(PREOP, 500_000)
                foe._request(m.slaves[1], 1, foe.BOOT, 200_000)  # BOOT only from INIT
            fw = line.status()["slaves"]
            assert fw[0]["al_state"] == "INIT" and fw[0]["firmware"]["writes"] == 3
        finally:
            m.close()
    assert (tmp_path / "ethercat" / "slave1.fw").read_bytes() == image
    assert not (tmp_path / "ethercat" / "slave2.fw").exists()  # negative control: the other slave
