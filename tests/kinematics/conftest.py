"""Shared fixtures of the kinematics tests: models loaded once per session, with their pinocchio twin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
G1_MJCF = REPO.parent / "shared" / "robots" / "unitree_g1_12dof" / "g1_12dof.xml"


@pytest.fixture(scope="session")
def model_pair() -> Callable[[str], tuple]:
    """``model_pair(name)`` -> (our model, pinocchio model), cached for the session.

    ``name`` "g1_mjcf" means the G1 MuJoCo model of ../shared/robots (skips when absent)."""
    cache: dict[str, tuple] = {}

    def get(name: str) -> tuple:
        from cerebellum_rt.kinematics.model import load_model, load_pinocchio

        if name not in cache:
            path = name
            if name == "g1_mjcf":
                if not G1_MJCF.is_file():
                    pytest.skip(
                        f"G1 MJCF model absent at {G1_MJCF} (../shared/robots relative to the repo root)"
                    )
                path = str(G1_MJCF)
            cache[name] = (load_model(path), load_pinocchio(path))
        return cache[name]

    return get
