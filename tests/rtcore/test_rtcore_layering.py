"""rtcore is the base layer: none of its modules imports another package of the project, and it
reaches no other package's files by path."""

from __future__ import annotations

import ast
from pathlib import Path

RTCORE = Path(__file__).resolve().parents[2] / "rtcore"
OTHERS = ("actuators", "codegen", "drivers", "hil_tests", "kinematics", "tools")


def foreign_imports(source: str) -> list[str]:
    """The modules of other project packages that ``source`` imports (at any depth)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for n in names:
            parts = n.split(".")
            if parts[0] in OTHERS or (parts[0] == "cerebellum_rt" and len(parts) > 1 and parts[1] in OTHERS):
                found.append(n)
    return found


def test_rtcore_imports_no_other_package() -> None:
    for f in sorted(RTCORE.glob("*.py")):
        assert foreign_imports(f.read_text()) == [], f"{f.name} imports another package"


def test_rtcore_reaches_no_other_package_by_path() -> None:
    for f in sorted(RTCORE.glob("*.py")):
        text = f.read_text()
        for pkg in OTHERS:
            assert f'"{pkg}"' not in text and f"'{pkg}'" not in text, f"{f.name} names the folder {pkg!r}"


def test_the_import_check_can_fail() -> None:
    """Negative control: the check sees both spellings, and inside functions."""
    src = "def f():\n    from cerebellum_rt.codegen.build import RUNTIME_DIR\nimport tools.cli\nimport numpy\n"
    assert sorted(foreign_imports(src)) == ["cerebellum_rt.codegen.build", "tools.cli"]
