"""`cbl flash -i ethercat`: signed images onto the slaves of an emulated line (3 slaves behind veth in
a netns) over CoE and FoE through SOEM, with the board-side checks of CAN: the new version read
back in test boot and confirmed, a reset before the confirm reverts, parameters saved by 0x1010
survive, bad images refused naming the check with the old image still running, a cut transfer
resumed from the board's offset or reported at the byte acknowledged."""

from __future__ import annotations

import json
import random
import re
import struct

import pytest

from cerebellum_rt.drivers.ethercat import foe
from cerebellum_rt.drivers.ethercat.emulated import EmulatedLine
from cerebellum_rt.drivers.ethercat.flash import flash_line
from cerebellum_rt.drivers.flash import image as img
from cerebellum_rt.drivers.flash.procedure import BoardResult, Options
from cerebellum_rt.drivers.od import STORE_SIGNATURE
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.tools import cli

from .conftest import HAND_TYPE

pytestmark = pytest.mark.needs("ip", root="network namespaces and raw sockets")


@pytest.fixture(scope="module")
def built(tmp_path_factory, image_keys) -> bytes:
    """The joint firmware built and signed by `cbl build firmware --image --key` (1.4.2, counter 3)."""
    out = tmp_path_factory.mktemp("fw")
    assert cli.main(["build", "firmware", "--board", "joint", "--target", "host", "-o", str(out), "--image",
                     "--key", str(image_keys.good), "--version", "1.4.2", "--security-counter", "3", "--json"]) == 0
    return next(out.glob("*.img")).read_bytes()


@pytest.fixture(scope="module")
def line(tmp_path_factory, image_keys):
    with EmulatedLine(["joint", "joint", "joint"], state_dir=tmp_path_factory.mktemp("state"),
                      image_key=image_keys.good_pub_file) as ln:
        yield ln


class Coe:
    """A pysoem master on the line for the test's own CoE reads and writes (positions 1..n)."""

    def __init__(self, iface: str) -> None:
        import pysoem

        self.m = pysoem.Master()
        self.m.open(iface)
        assert self.m.config_init() > 0

    def u32(self, pos: int, index: int, sub: int) -> int:
        return int.from_bytes(self.m.slaves[pos - 1].sdo_read(index, sub, 4), "little")

    def write(self, pos: int, index: int, sub: int, data: bytes) -> None:
        self.m.slaves[pos - 1].sdo_write(index, sub, data)

    def __enter__(self) -> Coe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.m.close()


def fw(line: EmulatedLine, pos: int) -> dict:
    return line.status()["slaves"][pos - 1]["firmware"]


def flash(line: EmulatedLine, pos: int, data: bytes, progress: list | None = None, **opts) -> BoardResult:
    rows = flash_line(line.iface, [pos], data, img.parse(data), Options(**opts),
                      lambda _p: None if progress is None else (lambda done, _total: progress.append(done)))
    return rows[0]


def cbl_json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = cli.main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_cli_flashes_the_line_reads_back_confirms_and_keeps_saved_parameters(line, built, image_keys, tmp_path,
                                                                             capsys) -> None:
    image, hand = tmp_path / "joint.img", tmp_path / "hand.img"
    image.write_bytes(built)
    hand.write_bytes(image_keys.image("9.0.0", counter=9, board=HAND_TYPE))
    with Coe(line.iface) as coe:
        coe.write(1, 0x6065, 0, struct.pack("<I", 12345))  # saved below: must survive the update
        coe.write(1, 0x1010, 1, struct.pack("<I", STORE_SIGNATURE))
        coe.write(1, 0x6072, 0, struct.pack("<H", 1234))  # not saved: the reset brings the default back
        default_torque = 3000
    bus = ["-i", "ethercat", "-c", line.iface]
    code, dry = cbl_json(capsys, ["flash", str(image), *bus, "--all", "--dry-run", "--json"])
    assert code == 0 and [(b["node"], b["status"], b["old_version"]) for b in dry["boards"]] == [
        (1, "compatible", "0.0.0"), (2, "compatible", "0.0.0"), (3, "compatible", "0.0.0")]
    assert all(b["checks"] == {"board_type": True, "size": True, "security_counter": True, "key": True}
               for b in dry["boards"])
    code, done = cbl_json(capsys, ["flash", str(image), *bus, "--node", "1-2", "--json"])
    assert code == 0 and done["ok"] and done["version"] == "1.4.2", done
    assert [set(b) for b in done["boards"]] == [set(BoardResult(1).as_dict())] * 2  # the CAN path's keys
    assert [(b["node"], b["status"], b["new_version"], b["test_boot"], b["acked"]) for b in done["boards"]] == [
        (1, "ok", "1.4.2", False, len(built)), (2, "ok", "1.4.2", False, len(built))]
    assert [(fw(line, p)["version"], fw(line, p)["test_boot"]) for p in (1, 2, 3)] == [
        ("1.4.2", False), ("1.4.2", False), ("0.0.0", False)]
    with Coe(line.iface) as coe:
        assert img.version_u32_text(coe.u32(1, 0x1F56, 1)) == "1.4.2"
        assert coe.u32(1, 0x6065, 0) == 12345 and coe.u32(1, 0x6072, 0) & 0xFFFF == default_torque
    assert cli.main(["flash", str(hand), *bus, "--node", "3"]) == 1  # the table and one error line per failure
    out = capsys.readouterr().out
    assert (f"cbl flash: error: ethercat:{line.iface} slave 3: wrong board type: image is for 0x48414E31 (hand), "
            "board is 0x4A4E5431 (joint) (stage compatibility)") in out
    assert cli.main(["flash", str(image), *bus]) == 2  # no --node / --all
    assert "--node N" in capsys.readouterr().err


def test_a_reset_before_the_confirm_reverts_and_a_confirmed_image_stays(line, built, image_keys) -> None:
    assert flash(line, 2, built).status == "ok"
    new = image_keys.image("1.5.0", counter=3, size=5000, seed=5)
    res = flash(line, 2, new, confirm=False)
    assert (res.status, res.new_version, res.test_boot) == ("ok", "1.5.0", True)
    again = flash(line, 2, new)  # the test image holds the only confirmed one's place: no download now
    assert again.error.startswith("slave 2: the board refused the FoE write while it runs an image in test boot")
    with Coe(line.iface) as coe:
        assert coe.u32(2, 0x1F57, 1) & (1 << 17)
        coe.write(2, 0x1F51, 1, b"\x02")  # reset before the confirm
        assert img.version_u32_text(coe.u32(2, 0x1F56, 1)) == "1.4.2"
        assert not coe.u32(2, 0x1F57, 1) & (1 << 17)
    assert flash(line, 2, new).status == "ok"
    with Coe(line.iface) as coe:
        coe.write(2, 0x1F51, 1, b"\x02")
        assert img.version_u32_text(coe.u32(2, 0x1F56, 1)) == "1.5.0"


def test_bad_images_are_refused_naming_the_check_and_the_old_image_runs(line, built, image_keys) -> None:
    assert flash(line, 1, built).status == "ok"
    flipped = bytearray(image_keys.image("1.6.0", counter=3, size=4000, seed=6))
    flipped[0x200 + 1234] ^= 0x10  # a payload byte: only the board's hash check can see it
    res = flash(line, 1, bytes(flipped))
    assert (res.status, res.stage) == ("failed", "download")
    assert res.error == "slave 1: the board refused the image: hash mismatch (0x1F57 error 12; FoE ERR)"
    assert fw(line, 1)["last_error_text"].startswith("hash mismatch (error 12): image hash check failed")
    res = flash(line, 1, image_keys.image("1.6.0", counter=3, key=image_keys.other))
    assert res.stage == "compatibility" and "signed by a key the board does not trust" in res.error
    # the same images past the host's checks: written over FoE directly, the board refuses each
    cases = [(image_keys.image("1.6.0", counter=3, key=image_keys.other), 8,
              "signature invalid (error 8): image signature check failed: signed by another key"),
             (image_keys.image("1.6.0", counter=3, board=HAND_TYPE), 9,
              "wrong board type (error 9): image board type check failed"),
             (image_keys.image("1.6.0", counter=2), 10,
              "security counter lower than installed (error 10): image security counter check failed")]
    with Coe(line.iface) as coe:
        for data, code, text in cases:
            foe.enter_boot(coe.m, 0)
            with pytest.raises(foe.FoeTransferError) as err:
                foe.foe_write(coe.m, 0, "app.bin", data)
            assert err.value.refused
            assert fw(line, 1)["last_error_text"].startswith(text)
            foe.enter_preop(coe.m, 0)
            assert (coe.u32(1, 0x1F57, 1) >> 1) & 0x7F == code
            assert img.version_u32_text(coe.u32(1, 0x1F56, 1)) == "1.4.2"  # the old image still runs
    assert (fw(line, 1)["version"], fw(line, 1)["test_boot"]) == ("1.4.2", False)


def test_a_cut_transfer_resumes_or_stops_at_the_byte_acknowledged(line, image_keys) -> None:
    base = image_keys.image("2.0.0", counter=3, size=30_000, seed=20)
    before = line.status()["stats"]["frames"]
    assert flash(line, 1, base).status == "ok"
    frames = line.status()["stats"]["frames"] - before  # one whole update; most of it is the FoE transfer
    rng = random.Random(18)
    points = [rng.randrange(frames * 3 // 10, frames * 8 // 10) for _ in range(2)]
    for k, point in enumerate(points):  # a cut longer than SOEM's timeout: resumed from the board's 0x5F50:1
        line.cut(point, 0.8)
        data = image_keys.image(f"2.{k + 1}.0", counter=3, size=30_000, seed=21 + k)
        res = flash(line, 1, data, sdo_timeout_s=0.2, resume_wait_s=3.0)
        assert (res.status, res.new_version, res.acked) == ("ok", f"2.{k + 1}.0", len(data)), (point, res)
        assert res.resumes >= 1 and fw(line, 1)["version"] == f"2.{k + 1}.0"
    point = rng.randrange(frames * 3 // 10, frames * 8 // 10)
    line.cut(point, None)  # a lasting cut: the tool stops, naming the byte acknowledged
    data = image_keys.image("2.9.0", counter=3, size=30_000, seed=29)
    res = flash(line, 1, data, sdo_timeout_s=0.2, resume_wait_s=0.5)
    m = re.fullmatch(rf"slave 1: line cut: stopped at byte (\d+) of {len(data)} \(acknowledged by the slave\); "
                     "run again with --resume to continue", res.error)
    assert m and res.stage == "download" and 0 < int(m.group(1)) == res.acked < len(data), res
    stopped = res.acked
    line.cut(-1)  # mended
    with Coe(line.iface) as coe:
        programmed = coe.u32(1, 0x5F50, 1)  # the board's own count: at least what the tool saw acknowledged
        assert img.version_u32_text(coe.u32(1, 0x1F56, 1)) == "2.2.0"  # the board stays usable, old image
    assert res.acked <= programmed < len(data)
    progress: list[int] = []
    res = flash(line, 1, data, progress, resume=True)
    assert res.status == "ok" and progress[0] == programmed - programmed % 8 > 0, (programmed, progress[:3])
    assert fw(line, 1)["version"] == "2.9.0"
    line.cut(rng.randrange(frames * 3 // 10, frames * 8 // 10), None)
    assert flash(line, 1, image_keys.image("3.0.0", counter=3, size=30_000, seed=30), sdo_timeout_s=0.2,
                 resume_wait_s=0.5).stage == "download"
    line.cut(-1)
    other = image_keys.image("3.0.1", counter=3, size=30_000, seed=31)  # --resume onto another image's prefix:
    res = flash(line, 1, other, resume=True)  # the board's hash check refuses it, the tool starts from byte 0
    assert (res.status, res.resumes, fw(line, 1)["version"]) == ("ok", 1, "3.0.1"), res
    print(f"\nEtherCAT line cuts after frames {points} (of {frames}): resumed; lasting cut at frame {point}: stopped at "
          f"byte {stopped}, the board had {programmed}, --resume continued from {progress[0]}")


def test_bench_flash_ethercat_keys() -> None:
    from cerebellum_rt.tools.bench.flash_ethercat import measure_json

    out = measure_json(16 * 1024)
    assert out["ethercat_image_bytes"] == 16 * 1024 and out["ethercat_mailbox_exchanges"] > 16 * 1024 // 116
    assert out["ethercat_s"] > out["ethercat_theoretical_s"] > 0 and out["ethercat_update_s"] >= out["ethercat_s"]


def test_a_configured_slot_size_takes_an_image_the_default_slot_refuses(line, image_keys) -> None:
    big = image_keys.image("4.0.0", counter=3, size=80_000, seed=40)  # > the default 64 KiB slot
    res = flash(line, 2, big)
    assert (res.status, res.stage, res.error) == ("failed", "compatibility", f"slave 2: image {len(big)} bytes > the board's slot 65536 bytes")
    with pytest.raises(ConfigError, match="slot size 5000 bytes"):
        EmulatedLine(["joint"], slot_size=5000)
    with EmulatedLine(["joint"], slot_size=128 * 1024, image_key=image_keys.good_pub_file) as wide:
        with Coe(wide.iface) as coe:
            assert coe.u32(1, 0x5F50, 2) == 128 * 1024  # what the master's compatibility check reads
        res = flash(wide, 1, big)
        assert (res.status, res.new_version, res.acked) == ("ok", "4.0.0", len(big)), res
        assert fw(wide, 1)["version"] == "4.0.0"

