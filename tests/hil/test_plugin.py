"""The plugin as users meet it: a test file run by pytest in a subprocess (the plugin comes in
through its ``pytest11`` entry point), with reports on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import can
import pytest

USER_TESTS = '''
import pytest
from cerebellum_rt.hil_tests.assertions import assert_within

pytestmark = [pytest.mark.rig("single_joint"), pytest.mark.hil_ticks(300)]


def test_tracks(joint):
    r = joint.track(300)
    err = abs(r.error_rad(joint.session, 0, 200)).max()
    assert_within(err, 0.0, 0.02, unit="rad", quantity="tracking error")


def test_too_strict(joint):
    r = joint.track(300)
    err = abs(r.error_rad(joint.session, 0, 200)).max()
    assert_within(err, 0.0, 1e-9, unit="rad", quantity="tracking error")


def test_faulted(joint):
    rep = joint.fault("over_temperature", ticks=300, inject_tick=60, clear_tick=120)
    assert 0x4310 in rep.emcy


class CountingBody:
    """The smallest body: no modules of its own; counts the ticks it was stepped."""

    def __init__(self):
        self.ticks = 0

    def module_for(self, bus, node):
        return None

    def before_tick(self, session):
        pass

    def after_tick(self, session):
        self.ticks += 1

    def state(self):
        return {"ticks": float(self.ticks)}


@pytest.fixture
def robot_body():
    return CountingBody()


def test_robot(robot):
    for _ in range(5):
        robot.tick()
    assert robot.state() == {"ticks": 5.0}
'''


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           *args], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)


def test_entry_point_registered(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("cerebellum_hil")
    assert plugin is not None and plugin.__name__ == "cerebellum_rt.hil_tests.plugin"


def test_plugin_run_with_reports(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    out = tmp_path / "report"
    r = _pytest(tmp_path, "test_user.py", "--hil-report", str(out), "--junitxml", str(out / "junit.xml"))
    assert r.returncode == 1, r.stdout + r.stderr  # test_too_strict fails, the others pass
    assert "1 failed, 3 passed" in r.stdout, r.stdout
    # the failing assertion names the quantity, its value, the limit and the unit
    assert "tracking error = " in r.stdout and "rad, limit 0 ± 1e-09 rad" in r.stdout, r.stdout
    cases = ET.parse(out / "junit.xml").getroot().iter("testcase")
    assert sorted(c.get("name") for c in cases) == ["test_faulted", "test_robot", "test_too_strict", "test_tracks"]
    page = (out / "index.html").read_text()
    assert "single_joint.toml" in page and "c cerebellum 0.1.0" in page and "over_temperature" in page
    assert "test_too_strict: failed" in page and "test_tracks: passed" in page
    stem = "test_user.py__test_tracks"
    assert (out / f"{stem}.png").stat().st_size > 1000
    from mcap.reader import make_reader

    with (out / f"{stem}.joint.node1.mcap").open("rb") as f:
        msgs = [json.loads(m.data) for _, _, m in make_reader(f).iter_messages()]
    assert len(msgs) == 300 and {"position_rad", "target_rad", "fresh"} <= set(msgs[0])
    log = list(can.LogReader(str(out / f"{stem}.joint.log")))
    asc = list(can.LogReader(str(out / f"{stem}.joint.asc")))
    assert len(log) == len(asc) > 300 * 5  # RPDO1, RPDO2, SYNC, 3 TPDOs per tick
    assert {m.arbitration_id for m in log} >= {0x080, 0x181, 0x201}


def test_rig_option_and_missing_rig(tmp_path: Path) -> None:
    (tmp_path / "test_opt.py").write_text(
        "def test_rig(rig):\n    assert rig.tick() == 0\n    assert [b.spec.name for b in rig.buses] == ['joint']\n")
    assert _pytest(tmp_path, "test_opt.py", "--rig", "single_joint").returncode == 0
    r = _pytest(tmp_path, "test_opt.py")
    assert r.returncode != 0 and "no rig: give --rig RIG.toml" in r.stdout + r.stderr


@pytest.mark.parametrize("value,ok", [(1.004, True), (1.2, False), (float("nan"), False)])
def test_assert_within(value: float, ok: bool) -> None:
    from cerebellum_rt.hil_tests.assertions import assert_within

    if ok:
        assert_within(value, 1.0, 0.005, unit="rad", quantity="knee angle")
    else:
        with pytest.raises(AssertionError, match=r"knee angle = .* rad, limit 1 ± 0.005 rad"):
            assert_within(value, 1.0, 0.005, unit="rad", quantity="knee angle")
