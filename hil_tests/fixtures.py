"""pytest fixtures for HIL tests: emulated boards that are always torn down, even on failure.

Use from a conftest.py with ``from hil_tests.fixtures import emulator_factory, rig_factory``:

* ``rig_factory(spec, interface="emulated")`` -> :class:`~hil_tests.emulator.InProcessRig`
  (boards in this process on a ``virtual``/``emulated`` bus; ``rig.host_bus()`` for the host);
* ``emulator_factory(rig_or_none, *args)`` -> ``(process, info)``: a ``cbl emulate --json``
  process (SLCAN ptys) and its first-line JSON; terminated with SIGTERM (then SIGKILL) at teardown.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cerebellum_rt.hil_tests.emulator import InProcessRig
from cerebellum_rt.hil_tests.rig import BusSpec

ROOT = Path(__file__).resolve().parents[1]


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> int:
    """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@pytest.fixture
def rig_factory() -> Iterator[Any]:
    made: list[InProcessRig] = []

    def make(spec: BusSpec, interface: str = "emulated", channel: str | None = None) -> InProcessRig:
        rig = InProcessRig(spec, interface, channel)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


@pytest.fixture
def emulator_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``start(rig, *args)``: the boards' state files go to a fresh temporary directory unless
    ``args`` name ``--state-dir`` (a test never writes the user's state directory)."""
    procs: list[subprocess.Popen] = []

    def start(rig: str | None = None, *args: str) -> tuple[subprocess.Popen, dict]:
        if "--state-dir" not in args:
            args = (*args, "--state-dir", str(tmp_path_factory.mktemp("emulate-state")))
        cmd = [sys.executable, "-m", "cerebellum_rt.tools.cli", "emulate", "--json", "--report-s", "0", *args]
        if rig:
            cmd.append(rig)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        procs.append(proc)
        line = proc.stdout.readline()
        if not line:
            stop_process(proc)
            raise RuntimeError(f"cbl emulate did not start: {proc.stderr.read()}")
        return proc, json.loads(line)

    yield start
    for proc in procs:
        stop_process(proc)
