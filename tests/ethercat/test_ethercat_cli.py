"""`cbl emulate RIG --ethercat`, `cbl scan -i ethercat`, `cbl bench ethercat` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from cerebellum_rt.tools.bench.ethercat import wire_bound_us
from cerebellum_rt.tools.cli import main

needs_netns = pytest.mark.needs("ip", root="network namespaces and raw sockets")
CBL = [sys.executable, "-m", "cerebellum_rt.tools.cli"]


def test_wire_bound_counts_every_byte_of_the_frame() -> None:
    # LRW of 456 B + FRMW of the DC time: 10+456+2 + 10+8+2 = 488 B of datagrams, + 14 + 2 + 4 = 508 B
    # frame, + 8 preamble + 12 gap = 528 B at 80 ns
    assert wire_bound_us(456, True) == pytest.approx(42.24)
    assert wire_bound_us(1, False) == pytest.approx((8 + 64 + 12) * 0.08)  # the minimum Ethernet frame


@needs_netns
def test_emulate_ethercat_then_scan_and_flash_dry_run(tmp_path, image_keys) -> None:
    rig = tmp_path / "line.toml"
    rig.write_text('rate_hz = 1000\n[[bus]]\nname = "line"\nboard = [{ node = 1, type = "joint" }, '
                   '{ node = 2, type = "hand" }]\n')
    image = tmp_path / "joint.img"
    image.write_bytes(image_keys.image("1.2.0"))
    emu = subprocess.Popen([*CBL, "emulate", str(rig), "--ethercat", "--json", "--state-dir", str(tmp_path / "state"),
                            "--image-key", str(image_keys.good_pub_file)], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(emu.stdout.readline())["ethercat"]
        assert info["slaves"] == ["joint", "hand"]
        out = subprocess.run([*CBL, "scan", "-i", "ethercat", "-c", info["interface"], "--json"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        slaves = json.loads(out.stdout)["slaves"]
        assert [(s["board"], s["al_state"], s["al_status"]) for s in slaves] == [
            ("joint", "SAFE-OP", "no error"), ("hand", "SAFE-OP", "no error")]
        out = subprocess.run([*CBL, "flash", str(image), "-i", "ethercat", "-c", info["interface"], "--all",
                              "--dry-run", "--json"], capture_output=True, text=True, timeout=120)
        boards = json.loads(out.stdout)["boards"]
        assert out.returncode == 1 and [(b["node"], b["status"]) for b in boards] == [(1, "compatible"), (2, "failed")]
        assert boards[0]["checks"]["key"] and "wrong board type" in boards[1]["error"]  # --image-key reached slave 1
    finally:
        emu.send_signal(signal.SIGINT)
        assert emu.wait(30) == 0
    assert not os.path.exists(f"/sys/class/net/{info['interface']}")  # the tool removed its veth pair


def test_bench_ethercat_refuses_bad_counts(capsys) -> None:
    assert main(["bench", "ethercat", "--slaves", "0"]) == 2
    assert main(["bench", "ethercat", "--slaves", "x"]) == 2
    assert "--slaves" in capsys.readouterr().err


@needs_netns
def test_bench_ethercat_json_keys(capsys) -> None:
    assert main(["bench", "ethercat", "--slaves", "2", "--cycles", "200", "--json", "--timeout-us", "20000"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"slaves", "cycles", "rtt_p50_us", "rtt_p99_us", "rtt_max_us", "cycle_p99_us", "lost_frames", "wkc_errors",
            "wire_bound_us", "host_us_per_tick"} <= set(r)
    assert r["slaves"] == 2 and r["cycles"] == 200 and r["rtt_p50_us"] > r["wire_bound_us"] > 0
    assert r["cycle_p50_us"] >= r["rtt_p50_us"]  # the whole cycle holds the round trip
