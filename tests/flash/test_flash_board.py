"""The host procedure against Python boards on in-process python-can virtual buses: a full update
with read-back, test boot and revert, saved parameters kept, refusals before boot (the board's
own checks and the host's dry run), several boards on two buses at once."""

from __future__ import annotations

import pytest

from cerebellum_rt.drivers.board.flashing import ABORT_NO_DATA
from cerebellum_rt.drivers.flash import image as img
from cerebellum_rt.drivers.flash.procedure import BoardResult, Options, flash_board
from cerebellum_rt.drivers.flash.runner import BusDriver, flash_buses
from cerebellum_rt.drivers.flash.sdo import SdoAbortError, block_download, download_int, upload_u32
from cerebellum_rt.drivers.od import STORE_SIGNATURE


def _sdo(bus, gen):
    """Run one SDO transfer generator on ``bus``; returns its value (raises its error)."""
    value, error = BusDriver(bus).run({0: gen})[0]
    if error is not None:
        raise error
    return value


def test_full_update_reads_back_the_new_version_and_keeps_saved_parameters(keys, kit, channel, tmp_path):
    bus, host = kit.virtual_bus(channel), kit.virtual_bus(channel)
    board = kit.make_board("joint", 4, bus, tmp_path / "node4.json", keys.good_pub)
    try:
        assert _sdo(host, upload_u32(4, 0x1F56, 1, 0.5)) == 0  # no image yet: the factory firmware runs
        _sdo(host, download_int(4, 0x2031, 0, 250, 2, 0.5))  # a parameter, saved by 0x1010
        _sdo(host, download_int(4, 0x1010, 1, STORE_SIGNATURE, 4, 0.5))
        for version, counter in (("1.0.0", 1), ("1.1.0", 2)):
            res, err = kit.flash(host, 4, keys.image(version, counter, size=9000, seed=counter))
            assert err is None, err
            assert (res.status, res.new_version, res.test_boot, res.resumes) == ("ok", version, False, 0)
            assert img.version_u32_text(_sdo(host, upload_u32(4, 0x1F56, 1, 0.5))) == version
            assert _sdo(host, upload_u32(4, 0x2031, 0, 0.5)) == 250  # parameters survived the update
        assert res.old_version == "1.0.0"
        status = _sdo(host, upload_u32(4, 0x1F57, 1, 0.5))
        assert status & 0xFE == 0 and not status & (1 << 17)
        assert _sdo(host, upload_u32(4, 0x5F50, 4, 0.5)) == 2  # installed counter raised by the confirm
    finally:
        board.close()
    # a power cycle: the confirmed image boots again
    board = kit.make_board("joint", 4, bus, tmp_path / "node4.json", keys.good_pub)
    try:
        assert img.version_u32_text(_sdo(host, upload_u32(4, 0x1F56, 1, 0.5))) == "1.1.0"
    finally:
        board.close()
        bus.shutdown()
        host.shutdown()


def test_an_unconfirmed_test_boot_reverts_at_the_next_reset(keys, kit, channel):
    bus, host = kit.virtual_bus(channel), kit.virtual_bus(channel)
    board = kit.make_board("hand", 9, bus, None, keys.good_pub)
    try:
        assert kit.flash(host, 9, keys.image("1.0.0", board=kit.HAND_TYPE))[1] is None
        res, err = kit.flash(host, 9, keys.image("2.0.0", board=kit.HAND_TYPE, seed=2), confirm=False)
        assert err is None and res.test_boot is True
        # in test boot the inactive slot holds the only confirmed image: clear is refused
        with pytest.raises(SdoAbortError, match="0x08000022"):
            _sdo(host, download_int(9, 0x1F51, 1, 3, 1, 0.5))
        _sdo(host, download_int(9, 0x1F51, 1, 2, 1, 0.5))  # reset without confirm
        assert img.version_u32_text(_sdo(host, upload_u32(9, 0x1F56, 1, 0.5))) == "1.0.0"
        assert not _sdo(host, upload_u32(9, 0x1F57, 1, 0.5)) & (1 << 17)
    finally:
        board.close()
        bus.shutdown()
        host.shutdown()


def _raw_update(host, node: int, data: bytes):
    """Clear, download and start with no host-side check: the board's own verdict."""
    _sdo(host, download_int(node, 0x1F51, 1, 3, 1, 0.5))
    _sdo(host, block_download(node, 0x1F50, 1, data, 0.5))
    _sdo(host, download_int(node, 0x1F51, 1, 1, 1, 0.5))


def test_the_board_refuses_every_bad_image_before_boot_and_names_the_check(keys, kit, channel):
    bus, host = kit.virtual_bus(channel), kit.virtual_bus(channel)
    board = kit.make_board("joint", 2, bus, None, keys.good_pub)
    try:
        assert kit.flash(host, 2, keys.image("1.0.0", counter=3))[1] is None
        good = keys.image("1.5.0", counter=3, seed=5)
        flipped = bytearray(good)
        flipped[img.HEADER_SIZE_DEFAULT + 100] ^= 0x01
        cases = {
            "other key": (keys.image("1.5.0", 3, key=keys.other), img.ERR_SIGNATURE),
            "hand image": (keys.image("1.5.0", 3, board=kit.HAND_TYPE), img.ERR_BOARD_TYPE),
            "lower counter": (keys.image("1.5.0", 2), img.ERR_COUNTER),
            "truncated in the payload": (good[:2000], img.ERR_FORMAT),  # the slot's erased tail is no TLV area
            "truncated in the signature": (good[:-40], img.ERR_SIGNATURE),
            "payload flip": (bytes(flipped), img.ERR_HASH),
        }
        for name, (data, code) in cases.items():
            with pytest.raises(SdoAbortError) as exc:
                _raw_update(host, 2, data)
            assert exc.value.code == ABORT_NO_DATA, name
            status = _sdo(host, upload_u32(2, 0x1F57, 1, 0.5))
            assert (status >> 1) & 0x7F == code, (name, status)
            assert img.version_u32_text(_sdo(host, upload_u32(2, 0x1F56, 1, 0.5))) == "1.0.0", name
        # the host names the board's refusal when it cannot tell it in advance (a flipped signature
        # byte: the host knows the key's id, not the key)
        res, err = kit.flash(host, 2, good[:-1] + bytes([good[-1] ^ 0x01]))
        assert "node 2: the board refused the image: signature invalid (0x1F57 error 8" in str(err)
        assert res.stage == "start"
    finally:
        board.close()
        bus.shutdown()
        host.shutdown()


def test_dry_run_and_the_host_checks_name_the_board_and_the_values(keys, kit, channel):
    bus, host = kit.virtual_bus(channel), kit.virtual_bus(channel)
    board = kit.make_board("joint", 6, bus, None, keys.good_pub)
    try:
        assert kit.flash(host, 6, keys.image("1.0.0", counter=4))[1] is None
        res, err = kit.flash(host, 6, keys.image("1.2.0", counter=4), dry_run=True)
        assert err is None and res.status == "compatible" and all(res.checks.values())
        assert img.version_u32_text(_sdo(host, upload_u32(6, 0x1F56, 1, 0.5))) == "1.0.0"  # nothing moved
        expect = {
            "wrong board type: image is for 0x48414E31 (hand), board is 0x4A4E5431 (joint)":
                keys.image(board=kit.HAND_TYPE, counter=4),
            "security counter too low: image 3 < installed 4": keys.image(counter=3),
            "signed by a key the board does not trust": keys.image(counter=4, key=keys.other),
        }
        for text, data in expect.items():
            for dry in (True, False):
                res, err = kit.flash(host, 6, data, dry_run=dry)
                assert f"node 6: {text}" in str(err) and res.stage == "compatibility"
        res, err = kit.flash(host, 7, keys.image(counter=4), sdo_timeout_s=0.05)
        assert str(err) == "node 7: board not answering (no SDO reply within 0.05 s)"
    finally:
        board.close()
        bus.shutdown()
        host.shutdown()


def test_boards_on_two_buses_update_at_once(keys, kit, channel):
    chans = [channel + "-a", channel + "-b"]
    nodes = {chans[0]: (1, 2, 3), chans[1]: (1, 5)}
    boards, hosts, buses = [], [], []
    data = keys.image("3.0.0", size=5000)
    info = img.verify(data, None)
    try:
        plans, results = [], {}
        for ch in chans:
            host = kit.virtual_bus(ch)
            hosts.append(host)
            jobs = {}
            for n in nodes[ch]:
                b = kit.virtual_bus(ch)
                buses.append(b)
                boards.append(kit.make_board("joint", n, b, None, keys.good_pub))
                results[(ch, n)] = BoardResult(n, bus=ch)
                jobs[(ch, n)] = flash_board(n, data, info, Options(), results[(ch, n)])
            plans.append((host, False, jobs))
        out = flash_buses(plans)
        assert all(err is None for _, err in out.values()), out
        assert {k: r.status for k, r in results.items()} == dict.fromkeys(results, "ok")
        assert all(b.store.get(0x1F56, 1) == info.version_u32 for b in boards)
    finally:
        for b in boards:
            b.close()
        for b in buses + hosts:
            b.shutdown()


def test_resume_offset_must_be_programmed_and_aligned(keys, kit, channel):
    bus, host = kit.virtual_bus(channel), kit.virtual_bus(channel)
    board = kit.make_board("joint", 3, bus, None, keys.good_pub)
    try:
        data = keys.image(size=4000)
        _sdo(host, download_int(3, 0x1F51, 1, 3, 1, 0.5))
        _sdo(host, block_download(3, 0x1F50, 1, data[:1000], 0.5))
        assert _sdo(host, upload_u32(3, 0x5F50, 1, 0.5)) == 1000
        for bad in (1004, 1008):
            with pytest.raises(SdoAbortError, match="0x06090030"):
                _sdo(host, download_int(3, 0x5F50, 1, bad, 4, 0.5))
        _sdo(host, download_int(3, 0x5F50, 1, 992, 4, 0.5))
        _sdo(host, block_download(3, 0x1F50, 1, data[992:], 0.5))
        _sdo(host, download_int(3, 0x1F51, 1, 1, 1, 0.5))
        assert _sdo(host, upload_u32(3, 0x1F56, 1, 0.5)) == img.verify(data, None).version_u32
        assert _sdo(host, upload_u32(3, 0x5F50, 5, 0.5)) == img.key_id(keys.good_pub) != 0
    finally:
        board.close()
        bus.shutdown()
        host.shutdown()
