"""RIG.toml validation and `cbl plan` (bus load from the timing model)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from cerebellum_rt.drivers.can import timing
from cerebellum_rt.hil_tests.plan import plan_bus, plan_rig
from cerebellum_rt.hil_tests.rig import RIGS_DIR, default_rig, load_rig, parse_rig
from cerebellum_rt.rtcore.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_rigs_load():
    names = sorted(p.stem for p in RIGS_DIR.glob("*.toml"))
    assert {"single_joint", "legs_canfd", "humanoid_6x5", "overloaded"} <= set(names)
    for n in names:
        rig = load_rig(n)
        assert rig.buses and all(b.boards for b in rig.buses)
    assert load_rig("legs_canfd").buses[0].data_bitrate == 5_000_000


def test_default_rig_is_six_joints_on_one_bus():
    (bus,) = default_rig().buses
    assert bus.nodes == [1, 2, 3, 4, 5, 6] and bus.interface == "slcan" and bus.bitrate == 1_000_000


@pytest.mark.parametrize(("data", "match"), [
    ({"bus": []}, "no \\[\\[bus\\]\\] table"),
    ({"rate_hz": 0, "bus": [{"board": []}]}, "rate_hz = 0.0 is out of range \\[1.0, 10000.0\\]"),
    ({"bus": [{"bitrate": 123}]}, "bus 'bus0'.bitrate = 123 is not one of"),
    ({"bus": [{"fd": False, "data_bitrate": 5000000}]}, "data_bitrate = 5000000 needs fd = true"),
    ({"bus": [{"fd": True, "data_bitrate": 9000000}]}, "data_bitrate = 9000000 is out of range"),
    ({"bus": [{"board": [{"node": 200}]}]}, "board\\[0\\].node = 200 is out of range \\[1, 127\\]"),
    ({"bus": [{"board": [{"node": 1}, {"node": 1}]}]}, "node = 1 is used by another board"),
    ({"bus": [{"board": [{"node": 1, "type": "wheel"}]}]}, "type = 'wheel' is not one of \\['joint', 'hand'\\]"),
    ({"bus": [{"name": "a", "board": [{"node": 1}]}, {"name": "a"}]}, "name = 'a' is used by another bus"),
    ({"bus": [{"name": "a"}]}, "bus 'a' has no \\[\\[bus.board\\]\\]"),
    ({"bus": [{"interface": "slcna", "board": [{"node": 1}]}]}, "interface = 'slcna' is not one of"),
    ({"bus": [{"board": [{"node": 1, "preset": "kneee"}]}]}, "preset: joint preset 'kneee' not found"),
    ({"bus": [{"board": [{"node": 1, "type": "hand", "preset": "nohand"}]}]}, "hand preset 'nohand' not found"),
    ({"bus": [{"board": [{"node": 1, "preset": "/etc/knee.toml"}]}]}, "is outside the rig's directory"),
    ({"bus": [{"board": [{"node": 1, "preset": "../../knee.toml"}]}]}, "is outside the rig's directory"),
    ({"bus": [{"bogus": 1}]}, "bogus = 1 is not a bus key"),
    ({"bus": [{"pdo_packing": True}]}, "pdo_packing = True needs fd = true"),
    ({"speed": 1, "bus": [{}]}, "speed = 1 is not a rig key"),
])
def test_bad_rigs_name_key_value_and_limit(data, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse_rig(data, "t.toml")
    assert str(err.value).startswith("rig t.toml: ")


def test_bad_rig_file_names_the_file(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("rate_hz = [")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_rig(p)
    with pytest.raises(ConfigError, match=r"cannot read.*shipped rigs"):
        load_rig(tmp_path / "absent.toml")
    p.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match=r"broken\.toml: not a text file"):
        load_rig(p)
    with pytest.raises(ConfigError, match=r"is a directory"):
        load_rig(tmp_path)


def test_rig_presets_are_loaded_relative_to_the_rig(tmp_path):
    from cerebellum_rt.actuators.joint.preset import PRESET_DIR

    (tmp_path / "my_knee.toml").write_text((PRESET_DIR / "knee.toml").read_text())
    (tmp_path / "bin.toml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xff")
    rig = tmp_path / "rig.toml"
    rig.write_text('[[bus]]\n[[bus.board]]\nnode = 1\npreset = "my_knee.toml"\n')
    assert load_rig(rig).buses[0].boards[0].preset == str(tmp_path / "my_knee.toml")
    rig.write_text('[[bus]]\n[[bus.board]]\nnode = 1\npreset = "bin.toml"\n')
    with pytest.raises(ConfigError, match=r"bin\.toml: not a text file"):
        load_rig(rig)


def test_plan_figures_follow_the_timing_model():
    bus = load_rig("single_joint").buses[0]
    p = plan_bus(bus, 1000.0)
    wc = timing.worst_case_bits
    cycle_bits = wc(0) + wc(7) + wc(8) + wc(7) + wc(8) + wc(8)
    hb = 1e-3 / 0.1 * wc(1)
    assert p.frames_per_cycle == 6
    assert p.busy_worst_ms == pytest.approx((cycle_bits + hb) * 1e-3)
    assert p.fits and p.load_typical < p.load_worst < 1.0
    assert plan_bus(bus, p.max_rate_hz * 0.99).fits and not plan_bus(bus, p.max_rate_hz * 1.01).fits


def test_plan_refuses_overloaded_bus_and_accepts_the_others():
    assert not plan_rig(load_rig("overloaded"))[0].fits
    for name in ("single_joint", "legs_canfd", "humanoid_6x5", "legs_canfd_packed"):
        assert all(p.fits for p in plan_rig(load_rig(name))), name


def test_pdo_packing_fits_twice_the_joints_of_plain_canfd():
    packed_bus = load_rig("legs_canfd_packed").buses[0]
    plain = replace(packed_bus, pdo_packing=False)
    assert len(packed_bus.boards) == 6
    assert plan_bus(packed_bus, 1000.0).fits and not plan_bus(plain, 1000.0).fits
    assert plan_bus(packed_bus, 1000.0).frames_per_cycle == 6 * 2 + 1


def test_cli_plan_refusal_names_bus_and_figures():
    r = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "plan", "overloaded"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 2
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "bus 'bus0'" in err and "ms of bus time" in err and "% load" in err
    r = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "plan", "legs_canfd", "--json"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["fits"] and [b["bus"] for b in out["buses"]] == ["left_leg", "right_leg"]


@pytest.mark.parametrize("firmware,plant", [("c", "module"), ("python", "hand")])
def test_emulated_hand_board_runs_the_hand_physics(firmware, plant):
    import can

    from cerebellum_rt.actuators.hand import HandSim
    from cerebellum_rt.hil_tests.emulator import make_board
    from cerebellum_rt.hil_tests.rig import BoardSpec

    bus = can.Bus(interface="virtual", channel="test-rig-hand")
    board = make_board(BoardSpec(10, "hand", None, firmware), bus, threaded=False)
    try:
        assert isinstance(getattr(board, plant), HandSim)
        assert type(board).__name__ == ("FirmwareBoard" if firmware == "c" else "HandBoard")
        assert load_rig("hand").buses[0].boards[0].type == "hand"
    finally:
        board.close()
        bus.shutdown()


def test_compact_layout_fits_three_joints_where_the_default_fits_one():


    rig = load_rig("legs_can_compact")
    (bus,) = rig.buses
    assert bus.pdo_compact and len(bus.boards) == 3
    assert plan_bus(bus, rig.rate_hz).fits
    assert plan_bus(replace(bus, pdo_compact=False), rig.rate_hz).fits is False
    assert plan_bus(replace(bus, pdo_compact=False, boards=bus.boards[:1]), rig.rate_hz).fits


def test_compact_and_packing_exclude_each_other():
    with pytest.raises(ConfigError, match="pdo_compact = True excludes pdo_packing"):
        parse_rig({"bus": [{"fd": True, "pdo_packing": True, "pdo_compact": True,
                            "board": [{"node": 1}]}]}, "t.toml")
