"""`cbl kin info|fk` and `cbl bench kinematics --json` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pinocchio as pin
import pytest

from cerebellum_rt.tools.cli import main


def _json(capsys, argv: list[str]) -> dict:  # type: ignore[no-untyped-def]
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON object on stdout


def test_info_g1(capsys) -> None:  # type: ignore[no-untyped-def]
    info = _json(capsys, ["kin", "info", "g1", "--json"])
    assert (info["nq"], info["nv"]) == (36, 35)
    knee = next(j for j in info["joints"] if j["name"] == "left_knee_joint")
    assert knee["type"] == "revolute_y" and knee["lower"][0] == pytest.approx(-0.087267)
    assert "left_ankle_roll_link" in info["frames"]
    assert main(["kin", "info", "g1"]) == 0
    assert "left_knee_joint" in capsys.readouterr().out


def test_fk_matches_pinocchio(capsys, model_pair) -> None:  # type: ignore[no-untyped-def]
    model, pm = model_pair("g1")
    q = model.random_configurations(np.random.default_rng(5), 1)[0]
    res = _json(
        capsys,
        ["kin", "fk", "g1", "--frame", "left_ankle_roll_link", "--json", "--q", *(repr(float(v)) for v in q)],
    )
    data = pm.createData()
    pin.framesForwardKinematics(pm, data, q)
    ref = data.oMf[pm.getFrameId("left_ankle_roll_link")].homogeneous
    np.testing.assert_allclose(np.array(res["placements"]["left_ankle_roll_link"]), ref, atol=1e-12)


def test_fk_mjcf_path(capsys) -> None:  # type: ignore[no-untyped-def]
    path = Path(__file__).resolve().parents[3] / "shared" / "robots" / "unitree_g1_12dof" / "g1_12dof.xml"
    if not path.is_file():
        pytest.skip(f"G1 MJCF model absent at {path} (../shared/robots relative to the repo root)")
    res = _json(capsys, ["kin", "fk", str(path), "--json"])
    assert len(res["q"]) == 19 and res["q"][6] == 1.0  # free joint: x y z qx qy qz qw
    assert np.array(res["placements"]["pelvis"]).shape == (4, 4)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["kin", "fk", "g1", "--q", "1", "2"], "--q has 2 values; model 'g1_29dof_rev_1_0' needs nq = 36"),
        (["kin", "info", "atlas"], "robot model 'atlas' is neither a .urdf/.xml file nor a known name"),
        (["kin", "fk", "g1", "--frame", "hand"], "model 'g1_29dof_rev_1_0' has no frame 'hand'"),
        (
            ["kin", "info", "/nonexistent/robot.urdf"],
            "robot model file '/nonexistent/robot.urdf' does not exist",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bench_json_has_every_key(capsys) -> None:  # type: ignore[no-untyped-def]
    res = _json(capsys, ["bench", "kinematics", "--json", "--model", "g1", "--reps", "3", "--calls", "200"])
    for key in ("ours_fk_us", "pin_fk_us", "ours_jac_us", "pin_jac_us", "ours_com_us", "pin_com_us",
                "ours_fk_in_loop_us", "fk_ratio", "jac_ratio", "com_ratio"):  # fmt: skip
        assert res[key] > 0.0, key
