"""Test prerequisites: tools, root, kernel features, third-party data.

``./cbl.sh test`` installs every installable prerequisite (cross toolchains, qemu, stress-ng,
iproute2). A test that needs one calls :func:`require_tools` / :func:`require_root` (or carries
``@pytest.mark.needs(...)``, handled by the tests' conftest): under ``CI=true`` a missing
prerequisite **fails** the test, naming it, so CI can never go green by skipping the MCU
bit-exactness checks; elsewhere the test skips with the same reason.

What cannot be installed (a kernel without AF_CAN, robot data a user must fetch themselves) is
reported by :func:`unavailable`, which skips with its reason everywhere.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    """True when the run is CI's (``CI=true``, as CI sets it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_prerequisite(reason: str) -> None:
    """Fail under CI, skip elsewhere; ``reason`` names what is missing and what installs it."""
    if in_ci():
        pytest.fail(f"CI=true and a prerequisite is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def missing_tools(*tools: str) -> list[str]:
    """The executables of ``tools`` that are not on PATH."""
    return [t for t in tools if shutil.which(t) is None]


def require_tools(*tools: str) -> None:
    """Every executable in ``tools`` is on PATH, or :func:`missing_prerequisite`."""
    miss = missing_tools(*tools)
    if miss:
        missing_prerequisite(f"needs {', '.join(miss)} (./cbl.sh test installs it)")


def require_root(what: str) -> None:
    """The process runs as root (CI does), or :func:`missing_prerequisite`."""
    if os.geteuid() != 0:
        missing_prerequisite(f"{what} needs root (CI runs as root)")


def unavailable(reason: str) -> None:
    """Skip for a prerequisite that no install step can provide (kernel feature, user data)."""
    pytest.skip(reason)
