"""Power cut after EVERY flash erase / program operation of a whole update (v1 -> v2: clear, block
download, start, test boot, confirm), and inside operations at random byte offsets: after the
supply comes back the board runs the old or the new valid image, never neither, and the update
resumed from there completes. Host build of the C bootloader and firmware, lockstep."""

from __future__ import annotations

import hashlib
import random

from cerebellum_rt.drivers.board.cboot import PowerCut, blank_flash
from cerebellum_rt.hil_tests.flash_lockstep import image_version


def _cut_and_recover(rig, flash0, images, payloads, cut_at, cut_bytes=1 << 30):
    board, host = rig(flash0, cut_at=cut_at, cut_bytes=cut_bytes)
    try:
        host.update(images["v2"])
        cut = False
    except PowerCut:
        cut = True
    again, host2 = rig(bytes(board.flash))  # the supply is back: boot from what the flash holds
    assert again.slot is not None, f"cut at operation {cut_at} ({cut_bytes} bytes): no bootable image"
    running = again.fw.mod.sha256
    assert running in {hashlib.sha256(payloads[v]).hexdigest() for v in ("v1", "v2")}
    assert host2.read(0x1F56) in (image_version(images["v1"]), image_version(images["v2"]))
    host2.update(images["v2"])
    assert host2.read(0x1F56) == image_version(images["v2"]) and not again.test_boot
    final, _ = rig(bytes(again.flash))
    assert (final.slot, final.test_boot) == (again.slot, False)
    assert final.fw.mod.sha256 == hashlib.sha256(payloads["v2"]).hexdigest()
    return cut, host2.resumed_at


def test_power_cut_after_every_flash_operation_and_inside_some(keys, images, payloads, rig):
    flash0 = blank_flash(keys.raw, {0: images["v1"]})
    ref, host = rig(flash0)
    host.update(images["v2"])
    total = ref.flash_ops
    assert total > len(images["v2"]) // 889  # one program operation per acknowledged sub-block at least
    resumed = 0
    for n in range(1, total + 1):  # the cut right after operation n: every operation of the update
        cut, at = _cut_and_recover(rig, flash0, images, payloads, n)
        assert cut
        resumed += at > 0
    rng = random.Random(15)
    torn = [(rng.randint(1, total), rng.choice([0, 1, 3, 7, 8, 9, 15, 100, 500, 4096, 8191])) for _ in range(24)]
    for n, nbytes in torn:  # torn: only the first nbytes of operation n land
        cut, at = _cut_and_recover(rig, flash0, images, payloads, n, nbytes)
        resumed += at > 0
    print(f"\npower cuts: {total} after every operation of the update + {len(torn)} inside operations "
          f"= {total + len(torn)} cut points, old or new image booted at every one; {resumed} updates resumed "
          "the download mid-way")
    assert resumed > total // 2  # the download is most of the operations: most cuts resume, not restart
