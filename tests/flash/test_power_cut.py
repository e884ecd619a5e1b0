"""Power cuts during a full update on the Python board (lockstep, no threads): the flash's hook
cuts the power before every erase and every 8-byte program of the update, one cut point per run,
every one of them; and torn programs (part of a unit written) at random points. After each cut
the board powers on and must run the old or the new image, each verified (never neither); then a
resumed update completes."""

from __future__ import annotations

import random

from cerebellum_rt.drivers.board.slots import PowerCut
from cerebellum_rt.drivers.flash import image as img


class Cutter:
    """The flash hook: counts operations, cuts the power before operation number ``at``."""

    def __init__(self, at: int | None = None, keep: int = 0) -> None:
        self.at, self.keep, self.ops = at, keep, 0
        self.kinds: dict[str, int] = {}

    def __call__(self, op: str, addr: int, length: int) -> None:
        if self.at is not None and self.ops == self.at:
            raise PowerCut(self.keep if op == "program" else 0)
        self.ops += 1
        self.kinds[op] = self.kinds.get(op, 0) + 1


def _setup(keys, kit, channel, tmp_path):
    """A board with v0 in one slot and v1 (confirmed, running) in the other: the update to v2
    erases v0's sectors and programs v2 there. Returns (flash file bytes, images)."""
    images = {v: keys.image(f"{v}.0.0", counter=v, size=1800, seed=v) for v in (0, 1, 2)}
    bus, host = kit.virtual_bus(channel), kit.virtual_bus(channel)
    board = kit.make_board("joint", 1, bus, tmp_path / "node1.json", keys.good_pub, lockstep=True)
    try:
        for v in (0, 1):
            assert kit.lockstep_flash(host, board, 1, images[v])[1] is None
    finally:
        board.close()
        bus.shutdown()
        host.shutdown()
    return (tmp_path / "node1.slots").read_bytes(), images


def _power_on_and_check(keys, kit, channel, tmp_path, images) -> str:
    """Power on after a cut: the running image must verify and be v1 or v2. Returns its version."""
    bus = kit.virtual_bus(channel)
    board = kit.make_board("joint", 1, bus, tmp_path / "node1.json", keys.good_pub, lockstep=True)
    try:
        prog = board.program
        assert prog.running is not None, "no valid image after the cut"
        data = prog.flash.slot(prog.running)
        info = img.verify(data, keys.good_pub, board_type=kit.JOINT_TYPE, slot_size=prog.flash.slot_size)
        assert data[: info.total_size] in (images[1], images[2])
        assert board.store.get(0x1F56, 1) == info.version_u32
        return info.version_text
    finally:
        board.close()
        bus.shutdown()


def _resume_completes(keys, kit, channel, tmp_path, images) -> None:
    bus, host = kit.virtual_bus(channel), kit.virtual_bus(channel)
    board = kit.make_board("joint", 1, bus, tmp_path / "node1.json", keys.good_pub, lockstep=True)
    try:
        _, err = kit.lockstep_flash(host, board, 1, images[2], resume=True)
        assert err is None, err
        assert img.version_u32_text(board.store.get(0x1F56, 1)) == "2.0.0"
    finally:
        board.close()
        bus.shutdown()
        host.shutdown()


def _update_with_cut(keys, kit, channel, tmp_path, pre: bytes, images, cutter: Cutter) -> bool:
    """Restore the pre-update flash, run the update with ``cutter``; True when the power was cut."""
    (tmp_path / "node1.slots").write_bytes(pre)
    bus, host = kit.virtual_bus(channel), kit.virtual_bus(channel)
    board = kit.make_board("joint", 1, bus, tmp_path / "node1.json", keys.good_pub, lockstep=True, hook=cutter)
    try:
        _, err = kit.lockstep_flash(host, board, 1, images[2])
        assert err is None, err
        return False
    except PowerCut:
        return True
    finally:
        board.close()
        bus.shutdown()
        host.shutdown()


def test_a_power_cut_before_any_flash_operation_leaves_old_or_new(keys, kit, channel, tmp_path):
    pre, images = _setup(keys, kit, channel, tmp_path)
    full = Cutter()
    assert not _update_with_cut(keys, kit, channel, tmp_path, pre, images, full)
    total = full.ops
    # every unit of the image that is not all 0xFF (the header padding is), plus the journal records
    assert full.kinds["erase"] >= 1 and full.kinds["program"] > (len(images[2]) - img.HEADER_SIZE_DEFAULT) // 8
    seen: dict[str, int] = {}
    for at in range(total):
        assert _update_with_cut(keys, kit, channel, tmp_path, pre, images, Cutter(at)), at
        version = _power_on_and_check(keys, kit, channel, tmp_path, images)
        seen[version] = seen.get(version, 0) + 1
        _resume_completes(keys, kit, channel, tmp_path, images)
    print(f"\npower cut before each of the {total} flash operations of the update ({full.kinds}): "
          f"ran after the cut {seen}; every resumed update completed")
    assert set(seen) == {"1.0.0", "2.0.0"}  # both outcomes occur: cuts before and after the switch


def test_torn_programs_at_random_points_leave_old_or_new(keys, kit, channel, tmp_path):
    pre, images = _setup(keys, kit, channel, tmp_path)
    full = Cutter()
    _update_with_cut(keys, kit, channel, tmp_path, pre, images, full)
    rng = random.Random(7)
    torn = 0
    for at in rng.sample(range(full.ops), 40):
        cutter = Cutter(at, keep=rng.randint(1, 7))
        assert _update_with_cut(keys, kit, channel, tmp_path, pre, images, cutter)
        _power_on_and_check(keys, kit, channel, tmp_path, images)
        _resume_completes(keys, kit, channel, tmp_path, images)
        torn += 1
    print(f"\ntorn programs (1-7 of 8 bytes written) at {torn} random operations of {full.ops}: old or new ran, "
          "every resumed update completed")
