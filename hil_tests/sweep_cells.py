"""The cells of a sweep matrix as tests, one per cell (``cbl hil sweep`` runs this module with
pytest-xdist: ``--hil-matrix MATRIX.toml --hil-sweep-out DIR``)."""

from __future__ import annotations

import pytest

from cerebellum_rt.hil_tests.sweep import load_matrix, run_cell


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" in metafunc.fixturenames:
        cells = load_matrix(metafunc.config.getoption("--hil-matrix"))
        metafunc.parametrize("cell", cells, ids=[c.id for c in cells])


def test_cell(cell, pytestconfig: pytest.Config) -> None:
    doc = run_cell(cell, pytestconfig.getoption("--hil-sweep-out"))
    assert doc["passed"], "; ".join(doc["failures"])
