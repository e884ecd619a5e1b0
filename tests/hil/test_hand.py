"""The ``hand`` fixture: grasp-and-hold through the hand board's RPDOs (tension mode), lockstep."""

from __future__ import annotations

import pytest

from cerebellum_rt.hil_tests.assertions import assert_within


@pytest.mark.rig("hand")
@pytest.mark.hil_ticks(300)
def test_grasp_and_hold(hand) -> None:
    r = hand.grasp_and_hold(300, tension_n=10.0)
    assert r["states"][-1] == "operation_enabled"
    for i, t in enumerate(r["tension_n"][-20:].mean(axis=0), 1):
        assert_within(float(t), 10.0, 1.0, unit="N", quantity=f"tendon {i} tension")
    assert hand.session.lost.tolist() == [0]
