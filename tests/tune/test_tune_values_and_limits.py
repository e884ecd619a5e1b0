"""get/set in SI units, the board's limits (host refusal and the board's own), save / power-cycle /
read back, dump / restore, revert; hypothesis fuzzes typed values with units."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers import od
from cerebellum_rt.drivers.tune.emulated import board_value
from cerebellum_rt.drivers.tune.units import parse_unit, to_unit
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError


def test_units_convert_and_refuse_wrong_dimensions():
    assert to_unit(30.0, "deg", "rad", "x") == pytest.approx(math.pi / 6)
    assert to_unit(120.0, "N*m/rad", "N·m/rad".replace("·", "*"), "x") == 120.0
    assert to_unit(60.0, "rpm", "rad/s", "x") == pytest.approx(2 * math.pi)
    assert to_unit(1.0, "N·m·s/rad", "N*m*s/rad", "x") == 1.0
    assert parse_unit("rad/s^2")[1] == parse_unit("rad/s/s")[1]
    with pytest.raises(ConfigError, match=r"position_kp .* takes 1/s .* not N\*m/rad"):
        to_unit(120.0, "N*m/rad", "1/s", "position_kp (0x2010:1)")
    with pytest.raises(ConfigError, match="symbol 'furlong'"):
        parse_unit("furlong/s")


def test_get_set_in_units_and_aliases(tune):
    console, s, _ = tune
    r, _text = console.execute("set max_position_limit 120 deg")
    assert r["value"] == pytest.approx(math.radians(120), abs=1e-5)
    assert s.read_raw(0x607D, 2) == round(math.radians(120) * od.POSITION_COUNTS_PER_RAD)
    r, _ = console.execute("set ki 1300 N*m/rad")
    assert r["name"] == "velocity_ki" and r["value"] == pytest.approx(1300.0)
    r, _ = console.execute("get 0x2010:3 kv")
    assert r["values"][0]["value"] == pytest.approx(1300.0) and r["values"][1]["name"] == "velocity_kp"
    with pytest.raises(ConfigError, match=r"takes 1/s"):
        console.execute("set kp 120 N*m/rad")
    with pytest.raises(ConfigError, match="process data"):
        console.execute("set controlword 15")
    console.execute("revert board")  # leave the board as the other tests expect it


def test_out_of_range_names_the_limit_and_never_reaches_the_board(tune):
    console, s, emu = tune
    before = board_value(emu.board, 0x2010, 1)
    with pytest.raises(ConfigError, match=r"position_kp \(0x2010:1\) = 2500 .* out of the board's limits \[0, 2000\] 1/s"):
        console.execute("set kp 2500")
    assert board_value(emu.board, 0x2010, 1) == before
    hard = s.read_raw(0x2020, 2) / od.VELOCITY_COUNTS_PER_RAD_S  # the board's hard max velocity
    with pytest.raises(ConfigError, match=r"max_motor_speed .* out of the board's limits"):
        console.execute(f"set max_motor_speed {hard * 1.01} rad/s")


def test_the_board_refuses_too_when_the_host_check_is_bypassed(tune):
    """Negative control of the host check: the same value written raw is refused by the board
    with SDO abort 0x06090031 (value too high), so the refusal above is the host's own."""
    _, s, emu = tune
    ref = s.objs.resolve("kp")
    with pytest.raises(DeviceError, match="0x06090031"):
        s.write_raw(ref, 2500.0)
    assert board_value(emu.board, 0x2010, 1) != 2500.0


NUMERIC_TARGETS = ("kp", "kv", "ki", "max_motor_speed", "max_torque", "max_position_limit", "profile_deceleration",
                   "standstill_velocity", "communication_timeout")
UNITS = ("", "1/s", "N*m*s/rad", "N*m/rad", "rad/s", "rpm", "deg/s", "N*m", "mN*m", "rad", "deg", "counts",
         "rad/s^2", "s", "ms", "‰", "A")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(NUMERIC_TARGETS), unit=st.sampled_from(UNITS),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                       st.floats(-1e7, 1e7), st.integers(-(2**40), 2**40).map(float)))
def test_fuzz_out_of_range_is_always_refused_never_applied(tune, name, unit, value):
    _, s, emu = tune
    ref = s.objs.resolve(name)
    key = (ref.entry.index, ref.entry.subindex)
    text = f"{value!r} {unit}".strip()
    before = board_value(emu.board, *key)
    try:
        _, raw = s.check(name, text)
    except ConfigError:
        with pytest.raises(ConfigError):
            s.set(name, text)
        assert board_value(emu.board, *key) == before  # refused: the board's value is untouched
        return
    lo, hi = ref.entry.limits
    assert lo <= raw <= hi and math.isfinite(raw)  # accepted only inside the board's limits
    s.set(name, text)
    assert board_value(emu.board, *key) == pytest.approx(raw, rel=1e-6)
    s.write_raw(ref, before)


def test_save_power_cycle_read_back_and_revert(tune, tmp_path):
    console, s, emu = tune
    console.execute("set kv 9.5")
    r, text = console.execute("save")
    assert any(c["name"] == "velocity_kp" and c["new"] == pytest.approx(9.5) for c in r["diff"]), text
    assert '"velocity_kp" = 9.5' in s.project.read_text()
    console.execute("set kv 3")
    console.execute("power-cycle")
    assert emu.power_cycles >= 1
    r, _ = console.execute("get kv")
    assert r["values"][0]["value"] == pytest.approx(9.5)  # the saved set survived, RAM did not
    console.execute("set kv 4")
    r, _ = console.execute("diff")
    assert [c["name"] for c in r["diff"]] == ["velocity_kp"]
    r, _ = console.execute("revert toml")
    assert console.execute("get kv")[0]["values"][0]["value"] == pytest.approx(9.5)
    dump = tmp_path / "dump.toml"
    console.execute(f"dump {dump}")
    console.execute("set kv 5")
    r, _ = console.execute(f"restore {dump}")
    assert [c["name"] for c in r["changes"]] == ["velocity_kp"]
    assert console.execute("get kv")[0]["values"][0]["value"] == pytest.approx(9.5)
    r, _ = console.execute("revert defaults")  # 0x1011 + reset: the preset's design gains again
    default = emu.board.table.entry(0x2010, 2).default
    assert console.execute("get kv")[0]["values"][0]["value"] == pytest.approx(default, rel=1e-6)
    bad = tmp_path / "bad.toml"
    bad.write_text(dump.read_text().replace('"velocity_kp" = 9.5', '"velocity_kp" = 900.0'))
    before = board_value(emu.board, 0x2010, 2)
    with pytest.raises(ConfigError, match=r"velocity_kp .* out of the board's limits"):
        console.execute(f"restore {bad}")
    assert board_value(emu.board, 0x2010, 2) == before
