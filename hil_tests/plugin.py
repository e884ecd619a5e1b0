"""pytest plugin for HIL scenarios (entry point ``pytest11``: ``cerebellum_hil``).

Options: ``--rig RIG.toml`` (default rig of the run; a test's ``@pytest.mark.rig("name")`` wins),
``--hil-seed N``, ``--hil-realtime`` (real time instead of lockstep), ``--hil-report DIR``
(per-test MCAP telemetry, candump + ASC bus logs, plots, and ``DIR/index.html``; JUnit XML is
pytest's own ``--junitxml``).

Markers: ``rig(path_or_name)``, ``lockstep`` (force lockstep), ``realtime`` (force real time),
``hil_ticks(n)`` (telemetry rows kept; default 2000).

Fixtures:

* ``rig`` -> :class:`~cerebellum_rt.hil_tests.session.RigSession`, brought up (0x1006, NMT
  start), closed after the test, its artifacts written when ``--hil-report`` is given;
* ``joint`` -> :class:`JointHandle` on the rig's first joint board (``track``, ``fault``);
* ``hand`` -> :class:`HandHandle` on its first hand board (``grasp_and_hold``);
* ``robot`` -> the rig with a body plugged in: define a ``robot_body`` fixture returning a
  :class:`~cerebellum_rt.hil_tests.session.Body` (e.g. the G1 in MuJoCo); ``robot.body`` is it.

Assertions: :func:`cerebellum_rt.hil_tests.assertions.assert_within` and friends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the plugin loads in every pytest run of the environment: imports stay lazy
    from cerebellum_rt.hil_tests.faults import FaultReport
    from cerebellum_rt.hil_tests.scenarios import TrackResult
    from cerebellum_rt.hil_tests.session import Body, RigSession

DEFAULT_TICKS = 2000
_RESULTS = pytest.StashKey[list]()
_ARTIFACTS = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("cerebellum-hil", "cerebellum HIL rigs")
    g.addoption("--rig", default=None, help="RIG.toml (or a shipped rig's name) for the rig fixture")
    g.addoption("--hil-seed", type=int, default=0, help="seed of the plants and bus faults (default 0)")
    g.addoption("--hil-realtime", action="store_true", help="run rigs in real time instead of lockstep")
    g.addoption("--hil-report", default=None, help="directory for MCAP / candump / ASC / plots and index.html")
    g.addoption("--hil-matrix", default=None, help="sweep: MATRIX.toml (cbl hil sweep runs hil_tests.sweep_cells)")
    g.addoption("--hil-sweep-out", default="out/hil-sweep", help="sweep: the report directory")


def pytest_configure(config: pytest.Config) -> None:
    for line in ("rig(path): the RIG.toml (or shipped rig name) of this test",
                 "lockstep: run this test's rig in lockstep (virtual time, deterministic)",
                 "realtime: run this test's rig in real time",
                 "hil_ticks(n): telemetry rows the rig keeps (default 2000)"):
        config.addinivalue_line("markers", line)
    config.stash[_RESULTS] = []


@dataclass
class JointHandle:
    """One joint board of a rig: ``key`` = (bus, node)."""

    session: RigSession
    key: tuple[str, int]

    def track(self, ticks: int, **kw: Any) -> TrackResult:
        from cerebellum_rt.hil_tests.scenarios import track

        return track(self.session, ticks, **kw)

    def fault(self, name: str, **kw: Any) -> FaultReport:
        from cerebellum_rt.hil_tests.faults import run_fault

        return run_fault(self.session, name, self.key, **kw)

    @property
    def board(self) -> Any:
        return self.session.board(*self.key)


@dataclass
class HandHandle:
    session: RigSession
    key: tuple[str, int]

    def grasp_and_hold(self, ticks: int, tension_n: float) -> dict[str, Any]:
        from cerebellum_rt.hil_tests.scenarios import grasp_and_hold

        return grasp_and_hold(self.session, ticks, tension_n, self.key[0])


@dataclass
class RobotHandle:
    session: RigSession
    body: Body

    def tick(self) -> int:
        return self.session.tick()

    def state(self) -> dict[str, float]:
        return self.body.state()


def _rig_session(request: pytest.FixtureRequest, body: Body | None) -> Iterator[RigSession]:
    from cerebellum_rt.hil_tests.rig import load_rig
    from cerebellum_rt.hil_tests.session import RigSession

    cfg = request.config
    m = request.node.get_closest_marker("rig")
    path = m.args[0] if m is not None else cfg.getoption("--rig")
    if path is None:
        raise pytest.UsageError(f"{request.node.nodeid}: no rig: give --rig RIG.toml or @pytest.mark.rig(...)")
    if m is not None and not Path(str(path)).is_absolute() and Path(str(request.node.fspath)).parent.joinpath(
            str(path)).exists():
        path = Path(str(request.node.fspath)).parent / str(path)
    lockstep = not cfg.getoption("--hil-realtime")
    if request.node.get_closest_marker("lockstep"):
        lockstep = True
    if request.node.get_closest_marker("realtime"):
        lockstep = False
    tm = request.node.get_closest_marker("hil_ticks")
    ticks = int(tm.args[0]) if tm is not None else DEFAULT_TICKS
    s = RigSession(load_rig(path), seed=cfg.getoption("--hil-seed"), lockstep=lockstep, ticks=ticks, body=body)
    try:
        s.setup()
        yield s
    finally:
        s.close()
        out = cfg.getoption("--hil-report")
        if out:
            from cerebellum_rt.hil_tests.report import write_artifacts

            name = request.node.nodeid.replace("/", "_").replace("::", "__").replace("[", "_").replace("]", "")
            request.node.stash[_ARTIFACTS] = write_artifacts(s, Path(out), name)


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Iterator[RigSession]:
    yield from _rig_session(request, None)


@pytest.fixture
def robot_body() -> Body | None:
    """Override in a conftest.py: the robot's body (a :class:`Body`); none by default."""
    return None


@pytest.fixture
def robot(request: pytest.FixtureRequest, robot_body: Body | None) -> Iterator[RobotHandle]:
    if robot_body is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the robot fixture needs a robot_body fixture returning "
                                "a cerebellum_rt.hil_tests.session.Body")
    for s in _rig_session(request, robot_body):
        yield RobotHandle(s, robot_body)


def _first(s: RigSession, kind: str) -> tuple[str, int]:
    for run in s.buses:
        for b in run.spec.boards:
            if b.type == kind:
                return run.spec.name, b.node
    raise pytest.UsageError(f"rig {s.rig.source} has no {kind} board")


@pytest.fixture
def joint(rig: RigSession) -> JointHandle:
    return JointHandle(rig, _first(rig, "joint"))


@pytest.fixture
def hand(rig: RigSession) -> HandHandle:
    return HandHandle(rig, _first(rig, "hand"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    rep = yield
    if rep.when == "teardown" or (rep.when == "setup" and rep.failed) or (rep.when == "call" and rep.failed):
        results = item.config.stash[_RESULTS]
        entry = next((r for r in results if r["nodeid"] == item.nodeid), None)
        if entry is None:
            entry = {"nodeid": item.nodeid, "outcome": "passed", "longrepr": ""}
            results.append(entry)
        if rep.failed:
            entry["outcome"] = "failed" if rep.when == "call" else "error"
            entry["longrepr"] = str(rep.longrepr)
        elif rep.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
        if rep.when == "teardown":
            entry["artifacts"] = item.stash.get(_ARTIFACTS, None)
    return rep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = session.config.getoption("--hil-report")
    results = session.config.stash.get(_RESULTS, [])
    if out and results:
        from cerebellum_rt.hil_tests.report import write_html

        write_html(results, Path(out) / "index.html")
