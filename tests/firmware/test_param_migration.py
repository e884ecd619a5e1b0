"""Saved parameters carried between the Python board's file and the C image's flash on the first
start of the other firmware (hil_tests.emulator.carry_saved_parameters, drivers.board.migrate):
read back over SDO, the source file untouched, a refused value named and nothing written."""

from __future__ import annotations

import struct
from pathlib import Path

import can
import pytest

from cerebellum_rt.drivers.board import migrate
from cerebellum_rt.hil_tests.emulator import make_board
from cerebellum_rt.hil_tests.rig import BoardSpec
from cerebellum_rt.rtcore.errors import DeviceError

NODE = 3
SAVE = (0x1010, 1, b"save")
# watchdog 250 ms, TPDO1 remapped to the statusword alone with a 20 ms event timer (CiA 301 order)
JOINT_WRITES = [(0x2031, 0, struct.pack("<H", 250)), (0x1800, 1, struct.pack("<I", 0x80000183)),
                (0x1A00, 0, b"\0"), (0x1A00, 1, struct.pack("<I", 0x60410010)), (0x1A00, 0, b"\1"),
                (0x1800, 5, struct.pack("<H", 20)), (0x1800, 1, struct.pack("<I", 0x183))]
READS = {(0x2031, 0): struct.pack("<H", 250), (0x1800, 1): struct.pack("<I", 0x183),
         (0x1800, 5): struct.pack("<H", 20), (0x1A00, 0): b"\1", (0x1A00, 1): struct.pack("<I", 0x60410010)}


class Session:
    """One start of board NODE on ``storage`` with ``firmware``, an SDO client beside it."""

    def __init__(self, firmware: str, storage: Path, board_type: str = "joint") -> None:
        self.board_bus, self.host = migrate.private_pair()
        preset = "knee" if board_type == "joint" else None
        self.board = make_board(BoardSpec(NODE, board_type, preset, firmware), self.board_bus, threaded=False,
                                storage_path=storage, clock=lambda: 0.0, plant=board_type == "joint")
        self.sdo = migrate.SdoPeer(self.board, self.host, NODE)
        self.sdo.drain()

    def read(self, index: int, sub: int) -> bytes:
        self.host.send(can.Message(arbitration_id=0x600 + NODE, data=struct.pack("<BHB4x", 0x40, index, sub),
                                   is_extended_id=False))
        self.board.poll()
        while (m := self.host.recv(0.0)) is not None:
            if m.arbitration_id == 0x580 + NODE:
                assert m.data[0] & 0xF3 == 0x43, f"0x{index:04X}sub{sub}: {bytes(m.data).hex()}"
                return bytes(m.data[4 : 8 - ((m.data[0] >> 2) & 3)])
        raise AssertionError("no SDO reply")

    def close(self) -> None:
        self.board.close()
        self.board_bus.shutdown()
        self.host.shutdown()


def _save(firmware: str, storage: Path, writes: list, board_type: str = "joint") -> None:
    s = Session(firmware, storage, board_type)
    try:
        for w in [*writes, SAVE]:
            assert s.sdo.write(*w) == 0, w
    finally:
        s.close()


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir()}


@pytest.mark.parametrize("source,target", [("python", "c"), ("c", "python")])
def test_saved_set_is_carried_and_reads_back_over_sdo(tmp_path, source, target):
    storage = tmp_path / "bus0" / f"node{NODE}.json"
    _save(source, storage, JOINT_WRITES)
    before = _files(storage.parent)
    for _ in range(2):  # migrated on the first start; the second start reads the target's own file
        s = Session(target, storage)
        try:
            assert {k: s.read(*k) for k in READS} == READS
        finally:
            s.close()
    after = _files(storage.parent)
    assert {n: after[n] for n in before} == before  # the source file is untouched
    assert (storage if target == "python" else storage.with_suffix(".flash")).name in after
    assert not [n for n in after if n.startswith(".migrate")]


def test_hand_board_saved_set_is_carried_into_the_c_image(tmp_path):
    storage = tmp_path / f"node{NODE}.json"
    _save("python", storage, JOINT_WRITES[1:], "hand")
    s = Session("c", storage, "hand")
    try:
        assert {k: s.read(*k) for k in READS if k[0] != 0x2031} == {k: v for k, v in READS.items() if k[0] != 0x2031}
    finally:
        s.close()


def test_a_refused_value_stops_the_migration_and_writes_nothing(tmp_path):
    """The C image refuses an abort-connection option code outside its value list: the start fails
    with one line naming object, value, abort code and file; no target file appears."""
    storage = tmp_path / f"node{NODE}.json"
    target = migrate.c_flash_path(storage)

    def build(firmware, path, bus, clock):
        return make_board(BoardSpec(NODE, "joint", "knee", firmware), bus, threaded=False, storage_path=path,
                          clock=clock)

    with pytest.raises(DeviceError, match=r"0x6007sub0 = 0x0900 from .* is refused by the c firmware "
                                          r"\(SDO abort 0x0609003[01]\)"):
        migrate.carry({(0x6007, 0): b"\x09\x00"}, "c", target, migrate.c_flash_path, build, NODE, storage)
    assert list(tmp_path.iterdir()) == []


def test_pdo_remap_order_is_what_makes_the_board_accept_it(tmp_path):
    """Negative control for write_order: the mapping written while TPDO1 is valid is refused."""
    s = Session("c", None)
    try:
        assert s.sdo.write(0x1A00, 1, struct.pack("<I", 0x60410010)) != 0
        order = migrate.write_order({k: v for k, v in READS.items() if k[0] != 0x2031},
                                    lambda i, sub: migrate.current(s.board, i, sub))
        assert order[0][:2] == order[-1][:2] == (0x1800, 1)  # invalid first, the saved COB-ID last
        assert int.from_bytes(order[0][2], "little") & migrate.COB_INVALID
        assert all(s.sdo.write(*w) == 0 for w in order)
    finally:
        s.close()


def test_the_set_saved_last_wins_whichever_firmware_saved_it(tmp_path):
    """python saves 250, c starts (carried) and saves 300, python starts (carried back: 300) and
    saves 400, c starts again: 400. A start that saves nothing rewrites no file."""
    storage = tmp_path / f"node{NODE}.json"
    watchdog = (0x2031, 0)
    for firmware, expect, value in (("python", None, 250), ("c", 250, 300), ("python", 300, 400), ("c", 400, None)):
        s = Session(firmware, storage)
        try:
            if expect is not None:
                assert s.read(*watchdog) == struct.pack("<H", expect), firmware
            files = {f.name: f.stat().st_mtime_ns for f in tmp_path.iterdir()}
            if value is not None:
                assert s.sdo.write(*watchdog, struct.pack("<H", value)) == 0 and s.sdo.write(*SAVE) == 0
        finally:
            s.close()
    s = Session("c", storage)  # nothing newer anywhere: nothing carried, nothing rewritten
    s.close()
    assert {f.name: f.stat().st_mtime_ns for f in tmp_path.iterdir()} == files


@pytest.mark.parametrize("firmware", ["c", "python"])
def test_after_a_restart_the_plant_runs_the_saved_gains(tmp_path, firmware):
    """Boot pushes the gains the dictionary holds (0x2010 sub 1-3, saved set) into the joint
    module's cascade, on the C image as on the specification (a fresh module starts from the
    preset's design gains)."""
    storage = tmp_path / f"node{NODE}.json"
    _save(firmware, storage, [(0x2010, 2, struct.pack("<f", 9.5))])
    s = Session(firmware, storage)
    try:
        assert s.board.module.law_records["cascade_config"][0]["kp_vel"] == pytest.approx(9.5)
    finally:
        s.close()
