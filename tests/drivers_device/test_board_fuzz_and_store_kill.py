"""Bounded fuzzing of the board (1M frames through its frame entry) and kill -9 during stores
(the figures of `cbl bench reliability`, at CI size)."""

from __future__ import annotations

import can

from cerebellum_rt.drivers.board import JointBoard
from cerebellum_rt.tools.bench import reliability


def test_a_million_random_frames_never_crash_and_nothing_out_of_limits_sticks():
    got = reliability.fuzz_device(1_000_000, seed=11)
    assert got["frames"] == 1_000_000
    assert got["crashes"] == 0, got["crash_examples"]
    assert got["out_of_limit_accepted"] == 0, got["violations"]


def test_limit_check_sees_an_out_of_limit_value(channel):
    """Negative control: the fuzzer's invariant does catch a value outside its limits."""
    bus = can.Bus(interface="virtual", channel=channel)
    board = JointBoard(5, bus, threaded=False)
    try:
        assert reliability.limit_violations(board) == []
        board.store.set(0x60B2, 0, 32767)  # what an unchecked RPDO used to leave behind
        board.store.set(0x6060, 0, 42)
        assert reliability.limit_violations(board) == ["0x6060sub0 = 42", "0x60B2sub0 = 32767"]
    finally:
        board.close()
        bus.shutdown()


def test_kill_9_at_random_points_of_a_store_keeps_the_last_saved_set(tmp_path):
    got = reliability.store_kill_trials(40, seed=3, directory=str(tmp_path))
    assert got["store_kills"] == 40
    assert got["store_lost"] == 0, got["examples"]


def test_command_loss_reaction_is_within_the_watchdog_plus_2_ms():
    got = reliability.loss_reaction()
    assert set(got["loss_reaction_ms"]) == {"sdo_pre_operational", "sdo_operational_before_sync", "rpdo_and_sync"}
    assert got["loss_reaction_ms_max"] <= got["watchdog_ms"] + 2
    assert min(got["loss_reaction_ms"].values()) >= got["watchdog_ms"]  # not before the timeout either


def test_bench_reliability_json_contract(capsys):
    import json

    from cerebellum_rt.tools.cli import main

    assert main(["bench", "reliability", "--json", "--frames", "2000", "--kills", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("frames_fuzzed", "crashes", "out_of_limit_accepted", "store_kills", "store_lost",
                "loss_reaction_ms_max", "watchdog_ms"):
        assert key in doc, key
    assert doc["frames_fuzzed"] == 6000 and doc["store_kills"] == 2
    assert doc["crashes"] == 0 and doc["out_of_limit_accepted"] == 0 and doc["store_lost"] == 0
    assert doc["targets_met"] is True
