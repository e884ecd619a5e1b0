"""`cbl hil sweep`: a 2-cell matrix (one gain set tracks, one is too soft and fails) on local cores
through pytest-xdist, and on a Ray cluster the test starts itself; both merge into one report
with pass / fail per cell and the failing cell's logs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

MATRIX = """
rigs = ["single_joint"]
scenarios = ["track"]
seeds = [0]
ticks = 300
[gains.default]
[gains.soft]
"0x2010:1" = 0.5
"""


def _sweep(tmp_path: Path, *args: str) -> tuple[int, dict]:
    (tmp_path / "m.toml").write_text(MATRIX)
    r = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "hil", "sweep", str(tmp_path / "m.toml"),
                        "--out", str(tmp_path / "out"), "--json", *args], capture_output=True, text=True, timeout=600)
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout.splitlines()[-1])


def _check(tmp_path: Path, rc: int, doc: dict) -> None:
    assert rc == 1 and (doc["cells"], doc["passed"], doc["failed"]) == (2, 1, 1)
    res = {r["gains"]: r for r in doc["results"]}
    assert res["default"]["passed"] and res["default"]["logs"] == []
    assert not res["soft"]["passed"] and "tracking error" in res["soft"]["failures"][0]
    logs = {Path(q).suffix for q in res["soft"]["logs"]}
    assert {".mcap", ".log", ".asc", ".png"} <= logs
    page = (tmp_path / "out" / "index.html").read_text()
    assert "1 of 2 cells passed" in page and "single_joint-track-seed0-soft" in page


def test_sweep_local_cores_xdist(tmp_path: Path) -> None:
    rc, doc = _sweep(tmp_path, "--workers", "2")
    _check(tmp_path, rc, doc)
    junit = (tmp_path / "out" / "junit.xml").read_text()
    assert junit.count("<testcase") == 2 and junit.count("<failure") == 1


def test_sweep_on_a_ray_cluster(tmp_path: Path) -> None:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        address = ray.get_runtime_context().gcs_address
        rc, doc = _sweep(tmp_path, "--ray", address)
    finally:
        ray.shutdown()
    _check(tmp_path, rc, doc)


def test_matrix_errors_name_the_key(tmp_path: Path) -> None:
    from cerebellum_rt.hil_tests.sweep import load_matrix
    from cerebellum_rt.rtcore.errors import ConfigError

    p = tmp_path / "bad.toml"
    for text, msg in (('rigs = ["single_joint"]\nscenarios = ["fly"]', "scenario 'fly' is not one of"),
                      ('rigs = []\nscenarios = ["track"]', "rigs = [] is not a non-empty list"),
                      ('rigs = ["single_joint"]\nscenarios = ["track"]\n[gains.x]\n"knee" = 1', "'knee' = 1 is not")):
        p.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(msg)):
            load_matrix(p)
    p.write_text('rigs = ["single_joint"]\nscenarios = ["track", "fault:bus_off"]\nseeds = [1, 2]')
    assert len(load_matrix(p)) == 4
