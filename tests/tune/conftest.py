"""Fixtures of the tuning-console tests: an emulated knee joint and a connected session."""

from __future__ import annotations

import pytest

from cerebellum_rt.drivers.can import CanTransport
from cerebellum_rt.drivers.tune.console import Console
from cerebellum_rt.drivers.tune.emulated import EmulatedJoint
from cerebellum_rt.drivers.tune.session import TuneSession


@pytest.fixture(scope="module")
def tune(tmp_path_factory):
    """(console, session, emulated joint) on a fresh knee board with its own flash file."""
    d = tmp_path_factory.mktemp("tune")
    emu = EmulatedJoint("knee", 1, flash=d / "flash.json")
    t = CanTransport(emu.host_bus(), nodes=[1], timeout_s=0.05)
    s = TuneSession(t, 1, d / "project.toml", emulated=emu)
    s.connect()
    yield Console(s, lockstep=True), s, emu
    t.close()
    emu.close()
