"""CI cannot go green by skipping: with a cross toolchain missing, a test that needs it fails
under ``CI=true`` naming the tool, and skips with that reason elsewhere.

A real toolchain test (the object dictionary's C header compiled for a Cortex-M4) runs in a
pytest subprocess whose PATH holds every executable of ours except ``arm-none-eabi-gcc``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = "arm-none-eabi-gcc"
TOOLCHAIN_TEST = "tests/drivers_device/test_od_c_header_compiles.py::test_header_compiles_for_cortex_m"


def _path_without(tool: str, bin_dir: Path) -> str:
    """A PATH of one folder of links to every executable on PATH except ``tool``."""
    bin_dir.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not os.path.isdir(d):
            continue
        for entry in os.scandir(d):
            link = bin_dir / entry.name
            if entry.name != tool and not link.exists() and not link.is_symlink():
                link.symlink_to(entry.path)
    return str(bin_dir)


def _pytest(path: str, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")}
    env["PATH"] = path
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", TOOLCHAIN_TEST],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def stripped_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _path_without(TOOL, tmp_path_factory.mktemp("path") / "bin")


def test_under_ci_a_missing_toolchain_fails_the_run_naming_it(stripped_path: str) -> None:
    res = _pytest(stripped_path, ci=True)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-3000:]
    assert "1 failed" in out and f"CI=true and a prerequisite is missing: needs {TOOL}" in out, out[-3000:]


def test_elsewhere_a_missing_toolchain_skips_with_the_reason(stripped_path: str) -> None:
    res = _pytest(stripped_path, ci=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "1 skipped" in out and f"needs {TOOL} (./cbl.sh test installs it)" in out, out[-3000:]


@pytest.mark.needs(TOOL)
def test_with_the_toolchain_on_path_the_same_test_passes_under_ci() -> None:
    """Negative control: the failure above comes from the stripped PATH, not from the test."""
    res = _pytest(os.environ["PATH"], ci=True)
    assert res.returncode == 0 and "1 passed" in res.stdout, (res.stdout + res.stderr)[-3000:]
