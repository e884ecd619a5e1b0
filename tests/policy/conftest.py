"""The G1 walking policy of ../shared/robots (third-party data, never committed): its location."""

from __future__ import annotations

from pathlib import Path

import pytest

from cerebellum_rt.hil_tests.prereq import unavailable

ROBOT_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "robots" / "unitree_g1_12dof"


@pytest.fixture(scope="session")
def robot_dir() -> Path:
    if not (ROBOT_DIR / "policy.onnx").is_file():
        unavailable(f"the G1 policy folder is absent at {ROBOT_DIR.resolve()} (../shared/robots beside the repo)")
    return ROBOT_DIR.resolve()
