"""`cbl bench flash` in virtual time: the download runs on the timed bus model within the target of
its theory, the theory counts the block protocol's own frames, and CAN FD's data phase is faster."""

from __future__ import annotations

from cerebellum_rt.tools.bench import flash as bench


def test_theory_counts_initiate_segments_acks_and_end():
    # 14 bytes: initiate + response, 2 segments, 1 sub-block ack, end + response
    assert bench.theoretical(bytes(14), 1_000_000, False, None)["frames"] == 7
    # 127 * 7 + 1 bytes: two sub-blocks (two acks)
    th = bench.theoretical(bytes(127 * 7 + 1), 1_000_000, False, None)
    assert th["frames"] == 2 + 128 + 2 + 2
    assert th["no_stuffing"] < th["exact"] <= th["worst"]


def test_bench_flash_json_on_a_small_image():
    out = bench.main_json(16 * 1024)
    for k in ("can_s", "can_theoretical_s", "canfd_s", "canfd_theoretical_s"):
        assert out[k] > 0, k
    for name in ("can", "canfd"):
        assert out[f"{name}_frames"] >= out[f"{name}_theoretical_frames"]
        assert 1.0 <= out[f"{name}_vs_theoretical"] <= bench.TARGET_RATIO
    assert out["canfd_s"] < out["can_s"]


def test_ethercat_theory_counts_requests_packets_and_whole_mailbox_frames():
    from cerebellum_rt.drivers.ethercat.flash import part_size
    from cerebellum_rt.tools.bench import flash_ethercat as ecat

    part = part_size(116)
    assert part % 8 == 0 and part % 116 and 4000 < part < 4200  # ends in a short packet, on the program unit
    th = ecat.theoretical_s(2 * part + 10, part)
    assert th["exchanges"] == 2 * (1 + part // 116 + 1) + (1 + 1)  # WRQ + packets per part; the 10-byte tail
    # each exchange: a 128-byte mailbox written and one read, 180 bytes on the wire each at 80 ns
    assert th["seconds"] == th["exchanges"] * 2 * 180 * 80e-9
