"""python canopen's RemoteNode as the master: expedited, segmented and block SDO transfers of a
large object, and PDO remapping through SDO (what ``PdoMap.save()`` does), then the remapped
PDOs on the bus with SYNC."""

from __future__ import annotations

import time

import canopen
import pytest
from canopen.sdo.exceptions import SdoAbortedError

from cerebellum_rt.drivers.od import DTYPES

BLOB = bytes((i * 37 + 11) & 0xFF for i in range(1500))


@pytest.fixture
def remote(master):
    board, net, node = master
    node.nmt.wait_for_heartbeat(1.0)
    return board, net, node


@pytest.mark.parametrize("how", ["segmented", "block"])
def test_large_object_round_trip(remote, how):
    board, _, node = remote
    block = how == "block"
    with node.sdo[0x2050].open("wb", size=len(BLOB), block_transfer=block) as f:
        f.write(BLOB)
    assert board.store.get(0x2050) == BLOB
    with node.sdo[0x2050].open("rb", block_transfer=block) as f:
        assert f.read() == BLOB
    assert node.sdo.upload(0x2050, 0) == BLOB


def test_block_upload_of_a_string_and_too_large_download(remote):
    _, _, node = remote
    with node.sdo[0x1008].open("r", block_transfer=True) as f:
        assert f.read() == "cerebellum joint board"
    with pytest.raises(SdoAbortedError) as exc:
        node.sdo.download(0x2050, 0, bytes(4097))
    assert exc.value.code == 0x06070012


def test_expedited_reads_and_writes(remote):
    board, _, node = remote
    assert node.sdo[0x1018][2].raw == 0x4A4E5431
    node.sdo[0x2010][1].raw = 80.5
    assert board.store.get(0x2010, 1) == pytest.approx(80.5)
    assert node.sdo[0x2010][1].raw == pytest.approx(80.5)
    node.sdo[0x607D][1].raw = -1000
    assert node.sdo[0x607D][1].raw == -1000


def test_pdo_remap_through_sdo_then_on_the_bus(remote):
    board, net, node = remote
    node.tpdo.read()
    node.rpdo.read()
    t4 = node.tpdo[4]
    t4.clear()
    t4.add_variable(0x6041)
    t4.add_variable(0x6061)
    t4.add_variable(0x1001)
    t4.add_variable(0x2002)
    t4.trans_type = 2  # every second SYNC
    t4.enabled = True
    t4.save()
    r4 = node.rpdo[4]
    r4.clear()
    r4.add_variable(0x6060)
    r4.add_variable(0x60FF)
    r4.trans_type = 1
    r4.enabled = True
    r4.save()
    assert board.pdos.tpdos[3].entries == [(0x6041, 0, 16), (0x6061, 0, 8), (0x1001, 0, 8), (0x2002, 0, 16)]
    node.nmt.state = "OPERATIONAL"
    _wait_for(lambda: board.nmt_state == 0x05)
    r4["modes_of_operation"].raw = 9
    r4["target_velocity"].raw = 12345
    r4.transmit()
    _wait_for(lambda: board.pdos.rpdos[3].last_data is not None)  # received, pending until the SYNC
    got = []
    t4.add_callback(lambda m: got.append((m["statusword"].raw, m["modes_of_operation_display"].raw)))
    for k in range(6):
        c0 = board.cycles
        net.sync.transmit()
        _wait_for(lambda c0=c0: board.cycles == c0 + 1)  # the board handled this SYNC
        _wait_for(lambda k=k: len(got) == (k + 1) // 2)  # its TPDO4 (every second SYNC) arrived
    assert len(got) == 3  # transmission type 2: every second SYNC
    assert got[-1][1] == 9  # the RPDO4 mode, applied at a SYNC, shows up in the TPDO4
    assert got[-1][0] & 0x4F == 0x40  # switch on disabled
    assert node.sdo[0x60FF].raw == 12345


def _wait_for(cond, timeout: float = 2.0) -> None:
    """Poll ``cond`` until it holds or the deadline passes (then fail)."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met within the deadline"
        time.sleep(0.001)


@pytest.mark.parametrize(("kind", "entries", "code"), [
    ("rpdo", [0x6041], 0x06040041),  # a read-only object in an RPDO
    ("tpdo", [0x1000], 0x06040041),  # a non-mappable object
    ("tpdo", [0x6064, 0x606C, 0x6041], 0x06040042),  # 80 bits in a classic frame
])
def test_invalid_mappings_are_refused(remote, kind, entries, code):
    _, _, node = remote
    pdo = (node.rpdo if kind == "rpdo" else node.tpdo)[4]
    pdo.read()
    pdo.clear()
    for idx in entries:
        pdo.add_variable(idx)
    pdo.enabled = True
    with pytest.raises(SdoAbortedError) as exc:
        pdo.save()
    assert exc.value.code == code


def test_eds_loads_in_canopen_and_matches_the_board(remote, joint_eds):
    board = remote[0]
    od = canopen.import_od(str(joint_eds), 5)
    for e in board.table.entries():
        obj = od[e.index]
        v = obj if isinstance(obj, canopen.objectdictionary.ODVariable) else obj[e.subindex]
        default = e.default_for(5)
        if isinstance(default, str | bytes):
            continue
        assert v.default == pytest.approx(default), (hex(e.index), e.subindex)
        assert v.writable == (e.access in ("rw", "wo")), (hex(e.index), e.subindex)
        assert v.data_type == DTYPES[e.dtype][0]
        if e.is_numeric and e.dtype != "REAL32" and e.low is not None:
            assert (v.min, v.max) == (e.low, e.high)


def test_canopen_store_and_restore_helpers(remote):
    node = remote[2]
    node.sdo[0x605E].raw = 1
    node.store()  # writes b"save" to 0x1010:1
    node.sdo[0x605E].raw = 3
    node.nmt.state = "RESET"
    node.nmt.wait_for_heartbeat(1.0)  # (the boot-up frame may go out before a waiter listens)
    assert node.sdo[0x605E].raw == 1  # the stored value after a reset
    node.restore()  # b"load" to 0x1011:1: defaults after the next reset
    node.nmt.state = "RESET"
    node.nmt.wait_for_heartbeat(1.0)  # (the boot-up frame may go out before a waiter listens)
    assert node.sdo[0x605E].raw == 2
    with pytest.raises(SdoAbortedError) as exc:
        node.sdo.download(0x1010, 1, b"nope")
    assert exc.value.code == 0x08000020
