"""The C bootloader (host build) and the C firmware's program download, end to end in lockstep:
a signed image downloaded by SDO block transfer into the inactive slot, verified at start,
test-booted, confirmed; a reset before the confirm reverts; the board runs what it booted."""

from __future__ import annotations

import struct

import can

from cerebellum_rt.actuators.joint import JointModule, load_preset
from cerebellum_rt.drivers.board.cboot import BootBoard, blank_flash
from cerebellum_rt.drivers.firmware import layout
from cerebellum_rt.hil_tests.flash_lockstep import NODE, TEST_BOOT, image_version


def test_update_test_boot_confirm_and_parameters_survive(keys, images, rig):
    board, host = rig(blank_flash(keys.raw, {0: images["v1"]}))
    assert (board.slot, board.test_boot) == (0, False)
    assert host.read(0x1F56) == image_version(images["v1"]) == 0x01000000
    assert host.read(0x5F50, 2) == layout.SLOT_BYTES and host.read(0x5F50, 3) == 0x4A4E5431
    host.write(0x2010, 1, struct.unpack("<I", struct.pack("<f", 77.0))[0], 4)  # a parameter, stored
    host.write(0x1010, 1, 0x65766173, 4)
    host.update(images["v2"])
    assert (board.slot, board.test_boot) == (1, False)
    assert host.read(0x1F56) == 0x02000000
    assert host.read(0x1F57) & (0xFE | TEST_BOOT) == 0 and host.read(0x1F57) & 0x10000  # ok, slot B
    flash = bytes(board.flash)
    again, host2 = rig(flash)  # power cycle: the confirmed image stays
    assert (again.slot, again.test_boot) == (1, False)
    assert struct.unpack("<f", struct.pack("<I", host2.read(0x2010, 1)))[0] == 77.0  # 0x1010 store untouched


def test_reset_before_confirm_reverts_to_the_old_image(keys, images, rig):
    board, host = rig(blank_flash(keys.raw, {0: images["v1"]}))
    host.write(0x1F51, 1, 3, 1)
    host.download(images["v2"])
    assert host.read(0x5F50, 1) == len(images["v2"]) + (-len(images["v2"]) % 8)
    host.write(0x1F51, 1, 1, 1)
    assert (board.slot, board.test_boot) == (1, True) and host.read(0x1F57) & TEST_BOOT
    host.write(0x1F51, 1, 2, 1)  # reset without a confirm
    assert (board.slot, board.test_boot) == (0, False)
    assert host.read(0x1F56) == 0x01000000
    assert board.boots == [(0, False), (1, True), (0, False)]


def _step_response(board: BootBoard, host) -> tuple[int, int]:
    """Enable in CST and command the rated torque (0x6071 = 1000 per mille) for 15 cycles; the
    measured torque (0x6077, per mille) and position (counts) then."""
    client = host.client

    def cycle(cw: int, torque: int) -> None:
        client.send(can.Message(arbitration_id=0x200 + NODE, data=struct.pack("<HbI", cw, 10, 0),
                                is_extended_id=False))
        client.send(can.Message(arbitration_id=0x300 + NODE, data=struct.pack("<ihh", 0, 0, torque),
                                is_extended_id=False))
        host.clock[0] += 0.001
        client.send(can.Message(arbitration_id=0x080, data=b"", is_extended_id=False))
        board.poll()

    client.send(can.Message(arbitration_id=0, data=bytes([1, NODE]), is_extended_id=False))
    for cw in (0x06, 0x07, 0x0F):
        cycle(cw, 0)
    for _ in range(15):
        cycle(0x0F, 1000)
    assert board.fw is not None and board.fw.state == "operation_enabled"
    last = None
    while (m := client.recv(timeout=0.0)) is not None:
        if m.arbitration_id == 0x180 + NODE:
            last = bytes(m.data)
    assert last is not None
    torque = struct.unpack("<h", host.read(0x6077, 0).to_bytes(2, "little"))[0]
    return torque, struct.unpack_from("<i", last, 3)[0]


def test_flashing_a_changed_law_changes_the_measured_behaviour(keys, images, rig):
    """v1 and v2 differ only in the rated torque their law scales torque demands with (the preset's,
    and half of it): the same command, on the same plant, moves the joint less once v2 runs."""
    b1, h1 = rig(blank_flash(keys.raw, {0: images["v1"]}), module=module())
    before = _step_response(b1, h1)
    b2, h2 = rig(blank_flash(keys.raw, {0: images["v1"]}), module=module())
    h2.update(images["v2"])
    assert b2.slot == 1
    after = _step_response(b2, h2)
    print(f"\nrated torque commanded for 15 ms: v1 measures {before[0]} per mille and moves {before[1]} counts, "
          f"v2 {after[0]} per mille, {after[1]} counts")
    assert before[1] > 0 and after[1] > 0
    assert after[1] < 0.8 * before[1]  # v2's 1000 per mille is half the torque


def module() -> JointModule:
    return JointModule(load_preset("knee"), seed=3)


def test_the_image_cbl_build_signs_for_the_host_target_boots(keys, rig, tmp_path):
    """`cbl build firmware --target host --image --key` (the host tool's signing) makes an image the
    C bootloader accepts: the board runs it and reports its version and the key it trusts."""
    import subprocess
    import sys

    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "build", "firmware", "--board", "joint",
                        "--target", "host", "--image", "--key", keys.path, "--version", "3.2.1", "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    image = (out / "cbl-joint-host.img").read_bytes()
    board, host = rig(blank_flash(keys.raw, {0: image}))
    assert (board.slot, board.test_boot) == (0, False)
    from cerebellum_rt.drivers.flash.image import key_id, load_public_key

    assert host.read(0x1F56) == 0x03020001 and host.read(0x5F50, 5) == key_id(load_public_key(keys.path))


def test_a_test_boot_confirms_itself_after_its_self_test(keys, images, rig):
    """No 0x80 from the host: the test-booted firmware confirms itself once it has run 10 s with an
    empty error register, so a reset after that keeps the new image (before it, one reverts)."""
    board, host = rig(blank_flash(keys.raw, {0: images["v1"]}))
    host.write(0x1F51, 1, 3, 1)
    host.download(images["v2"])
    host.write(0x1F51, 1, 1, 1)
    assert (board.slot, board.test_boot) == (1, True)
    for _ in range(9):
        host.clock[0] += 1.0
        board.poll()
    assert board.test_boot  # 9 s: not yet
    for _ in range(2):
        host.clock[0] += 1.0
        board.poll()
    assert not board.test_boot and not host.read(0x1F57) & TEST_BOOT
    host.write(0x1F51, 1, 2, 1)  # reset: the confirmed image stays
    assert (board.slot, board.test_boot) == (1, False) and host.read(0x1F56) == 0x02000000
