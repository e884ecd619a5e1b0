"""The G1 model and policy of ../shared/robots (third-party data, never committed): its location."""

from __future__ import annotations

from pathlib import Path

import pytest

from cerebellum_rt.hil_tests.g1_walk import DEFAULT_ROBOT_DIR
from cerebellum_rt.hil_tests.prereq import unavailable


@pytest.fixture(scope="session")
def robot_dir() -> Path:
    d = DEFAULT_ROBOT_DIR.resolve()
    if not (d / "scene.xml").is_file():
        unavailable(f"the G1 robot folder is absent at {d} (../shared/robots beside the repo)")
    return d
