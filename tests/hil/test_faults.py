"""Every fault of the catalogue, injected in a lockstep run on one joint board through the plugin's
``joint`` fixture: the documented reaction (detection time, safety ladder, EMCY on the host,
recovery, every sample counted) holds."""

from __future__ import annotations

import pytest

from cerebellum_rt.hil_tests.assertions import assert_below, assert_reaction
from cerebellum_rt.hil_tests.faults import CATALOGUE, LADDER

pytestmark = [pytest.mark.rig("single_joint"), pytest.mark.hil_ticks(600), pytest.mark.lockstep]


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_fault_reaction(joint, name: str) -> None:
    rep = joint.fault(name)
    assert joint.session.firmware_versions()["joint/node1"].startswith("c ")
    assert rep.cycle_observed  # every rung of the ladder required
    assert_reaction(rep)
    assert rep.received + rep.lost == rep.ticks == 600


def _watchdog_ladder(joint) -> list[str]:
    """Host bus-off: the board's command watchdog (0x2031 = 100 ms) trips within one cycle of its
    timeout, EMCY 0x8100 reaches the host once it is back; returns the rungs seen."""
    rep = joint.fault("bus_off")
    assert_below(rep.board_react_ms, 100.0 + 2.0, "ms", "board reaction after the last command")
    assert rep.board_react_ms >= 99.0, f"board reaction = {rep.board_react_ms} ms, limit >= 99 ms (0x2031)"
    assert 0x8100 in rep.emcy
    return [s for s in rep.ladder if s in LADDER]


def test_watchdog_ladder_timing(joint) -> None:
    """On the C image (every cycle observed through its on_cycle): quick stop, then switch-on disabled."""
    assert _watchdog_ladder(joint)[:2] == list(LADDER)


@pytest.mark.rig("single_joint_python")
def test_watchdog_ladder_timing_python_board(joint) -> None:
    """On the specification, observed every cycle: quick stop, then switch-on disabled."""
    assert _watchdog_ladder(joint)[:2] == list(LADDER)


def test_tolerated_loss_costs_counted_samples(joint) -> None:
    rep = joint.fault("frame_loss")
    assert rep.bus["dropped"] > 0
    assert rep.lost > 0 and rep.received + rep.lost == rep.ticks


def test_check_names_the_broken_expectation(joint) -> None:
    """check() is not vacuous: a report that misses its reaction is named, with value and limit."""
    from dataclasses import replace

    from cerebellum_rt.hil_tests.faults import check

    rep = joint.fault("over_temperature")
    assert check(rep) == []
    bad = check(replace(rep, host_detect_ms=9.0, emcy=[], recovered=False, lost=1))
    text = "; ".join(bad)
    assert "host detection = 9.0 ms, limit 3.0 ms" in text
    assert "required 0x4310" in text
    assert "a sample vanished uncounted" in text
    assert "not back in operation enabled" in text


@pytest.mark.rig("single_joint_python")
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_fault_reaction_python_board(joint, name: str) -> None:
    """The catalogue against the Python board (the specification; the test above runs on the
    default, the board's C image): the same documented reaction, every rung of the ladder required."""
    rep = joint.fault(name)
    assert joint.session.firmware_versions()["joint/node1"].startswith("python ")
    assert_reaction(rep)
    assert rep.received + rep.lost == rep.ticks == 600
    assert rep.cycle_observed
