"""The wheel built from the checkout: one import namespace, and it coexists with other packages.

The wheel is built offline from a copy of the checkout (``pip wheel --no-deps
--no-build-isolation``: the test venv's setuptools), then installed with ``--no-deps`` into a
fresh plain venv (no system site-packages, so the editable install of the checkout is not in
sight) beside two tiny distributions the test makes, whose packages are named ``tools`` and
``codegen`` like distributions on the package index. Neither side may break the other:
installing one overwrites no file of the other, and uninstalling one leaves the other
importable. A third tiny wheel that does ship a top-level ``tools`` (what this project's wheel
once did) is the negative control: the same probe sees it break ``tools``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The repository's top-level package folders; in the wheel they live under cerebellum_rt/.
FOLDERS = ("rtcore", "drivers", "kinematics", "actuators", "codegen", "hil_tests", "tools")
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "out",
                                     ".pytest_cache", ".ruff_cache", ".hypothesis", "*.so", "*.pyc")

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout[-1500:]}\n{res.stderr[-3000:]}"
    return res


def _wheel(src: Path, out: Path) -> Path:
    """Build the wheel of the project at ``src`` into ``out``, offline, with this venv's setuptools."""
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", str(out), str(src)])
    (whl,) = out.glob("*.whl")
    return whl


def _tiny_project(root: Path, dist: str, package: str, mark: str) -> Path:
    """A one-module distribution ``dist`` whose import package ``package`` has ``MARK = mark``."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(f"MARK = {mark!r}\n")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{dist}"\nversion = "0.0.1"\n\n[tool.setuptools]\npackages = ["{package}"]\n'
    )
    return root


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "checkout"
    shutil.copytree(REPO, src, ignore=COPY_IGNORE)  # build from a copy: no build/ in the checkout
    out = {"cerebellum": _wheel(src, tmp / "w-cbl")}
    for dist, package, mark in (("tools", "tools", "tiny tools"), ("codegen", "codegen", "tiny codegen"),
                                ("stray-tools", "tools", "stray tools")):
        out[dist] = _wheel(_tiny_project(tmp / f"src-{dist}", dist, package, mark), tmp / f"w-{dist}")
    return out


def top_level_names(whl: Path) -> set[str]:
    """The top-level entries a wheel installs into site-packages."""
    with zipfile.ZipFile(whl) as z:
        return {n.split("/", 1)[0] for n in z.namelist()}


def stray_packages(whl: Path) -> set[str]:
    """Top-level entries of ``whl`` other than the cerebellum_rt namespace and its metadata."""
    return {n for n in top_level_names(whl) if n != "cerebellum_rt" and not n.endswith((".dist-info", ".data"))}


def test_the_wheel_has_one_top_level_package_and_all_the_sources(wheels: dict[str, Path]) -> None:
    whl = wheels["cerebellum"]
    assert whl.name.startswith("cerebellum_rt-"), whl.name
    assert stray_packages(whl) == set()
    assert not set(FOLDERS) & top_level_names(whl)
    with zipfile.ZipFile(whl) as z:
        names = set(z.namelist())
    # Every source of the package folders is in the wheel under cerebellum_rt/ (a subpackage
    # left out of pyproject's explicit list would be missing here), and nothing else of the tree.
    for folder in FOLDERS:
        for f in (REPO / folder).rglob("*"):
            if f.is_file() and f.suffix in (".py", ".pyx", ".c", ".h", ".toml", ".ld") and "__pycache__" not in f.parts:
                assert f"cerebellum_rt/{f.relative_to(REPO)}" in names, f"{f.relative_to(REPO)} is not in the wheel"
    assert "cerebellum_rt/tools/bench/refloop/refloop.c" in names
    assert not any(n.startswith("cerebellum_rt/rtcore/c/") for n in names)  # workloads left rtcore
    assert not any(n.startswith(("tests/", "cerebellum_rt/tests/")) for n in names)


def test_the_stray_check_can_fail(wheels: dict[str, Path]) -> None:
    """Negative control: the tiny wheels do install top-level packages, and the check says so."""
    assert stray_packages(wheels["tools"]) == {"tools"}
    assert stray_packages(wheels["stray-tools"]) == {"tools"}


PROBE = """
import importlib, importlib.metadata as md, json, sys
out = {}
for mod in sys.argv[1:]:
    try:
        m = importlib.import_module(mod)
        out[mod] = getattr(m, "MARK", None) or (m.__file__ or "").split("site-packages/")[-1]
    except ImportError as exc:
        out[mod] = "ImportError: " + str(exc)
out["dists"] = sorted(d.metadata["Name"] for d in md.distributions())
print(json.dumps(out))
"""
MODULES = ["tools", "codegen", "cerebellum_rt.rtcore.errors", "cerebellum_rt.tools.bench"]


class Venv:
    """A fresh plain venv without pip; the test venv's pip installs into it (``--python``)."""

    def __init__(self, path: Path) -> None:
        _run([sys.executable, "-m", "venv", "--without-pip", str(path)])
        self.python = path / "bin" / "python"
        self.cwd = path  # not the checkout: nothing of it on sys.path

    def pip(self, *args: str) -> None:
        _run([sys.executable, "-m", "pip", "--python", str(self.python), *args, "-q"], cwd=self.cwd)

    def probe(self) -> dict[str, object]:
        # -I: no PYTHONPATH, no user site, no current directory on sys.path
        res = _run([str(self.python), "-I", "-c", PROBE, *MODULES], cwd=self.cwd)
        return json.loads(res.stdout)


def test_installs_beside_tools_and_codegen_and_neither_breaks_the_other(
        wheels: dict[str, Path], tmp_path: Path) -> None:
    venv = Venv(tmp_path / "venv")
    venv.pip("install", "--no-deps", "--no-index", str(wheels["tools"]), str(wheels["codegen"]))
    venv.pip("install", "--no-deps", "--no-index", str(wheels["cerebellum"]))
    seen = venv.probe()
    assert seen["tools"] == "tiny tools" and seen["codegen"] == "tiny codegen"  # not overwritten
    assert seen["cerebellum_rt.rtcore.errors"] == "cerebellum_rt/rtcore/errors.py"  # the venv's copy
    assert seen["cerebellum_rt.tools.bench"] == "cerebellum_rt/tools/bench/__init__.py"
    assert seen["dists"] == ["cerebellum-rt", "codegen", "tools"]

    venv.pip("uninstall", "-y", "tools")
    seen = venv.probe()
    assert str(seen["tools"]).startswith("ImportError")
    assert seen["codegen"] == "tiny codegen"
    assert seen["cerebellum_rt.tools.bench"] == "cerebellum_rt/tools/bench/__init__.py"

    venv.pip("install", "--no-deps", "--no-index", str(wheels["tools"]))
    venv.pip("uninstall", "-y", "cerebellum-rt")
    seen = venv.probe()
    assert seen["tools"] == "tiny tools" and seen["codegen"] == "tiny codegen"
    assert str(seen["cerebellum_rt.rtcore.errors"]).startswith("ImportError")
    left = [f for d in (tmp_path / "venv").glob("lib/python*/site-packages/cerebellum_rt*") for f in d.rglob("*")
            if f.is_file()]
    assert left == []  # no file left behind (pip may leave the empty namespace folder)


def test_the_probe_sees_a_wheel_that_ships_a_top_level_tools(wheels: dict[str, Path], tmp_path: Path) -> None:
    """Negative control: a wheel shipping its own top-level ``tools`` overwrites the tiny one's
    file, and uninstalling it leaves ``tools`` broken; the probe above would have failed."""
    venv = Venv(tmp_path / "venv")
    venv.pip("install", "--no-deps", "--no-index", str(wheels["tools"]))
    venv.pip("install", "--no-deps", "--no-index", str(wheels["stray-tools"]))
    assert venv.probe()["tools"] == "stray tools"
    venv.pip("uninstall", "-y", "stray-tools")
    assert str(venv.probe()["tools"]).startswith("ImportError")
