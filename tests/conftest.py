"""Suite-wide: the ``needs`` marker.

``@pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm", root="why")``: the test needs these
executables (and root, for the reason given). Under ``CI=true`` a missing one fails the test
naming it; elsewhere it skips with that reason (:mod:`cerebellum_rt.hil_tests.prereq`)."""

from __future__ import annotations

import pytest

from cerebellum_rt.hil_tests.prereq import require_root, require_tools


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*tools, root=None): executables (and root) the test needs; "
                                       "fails under CI=true when missing, skips elsewhere")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        require_tools(*mark.args)
        if mark.kwargs.get("root"):
            require_root(mark.kwargs["root"])
