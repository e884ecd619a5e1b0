"""The ``hand`` fixture: grasp-and-hold through the hand board's RPDOs (tension mode), lockstep."""

from __future__ import annotations

import pytest

from cerebellum_rt.hil_tests.assertions import assert_within


@pytest.mark.rig("hand")
@pytest.mark.hil_ticks(400)
def test_grasp_and_hold(hand) -> None:
    # 1.6 s at 250 Hz: the free fingers close onto the cylinder or their stops first; the thumb
    # (thumb_flex arms 14 / 8.75 mm, 29 mm of nut travel) reaches its stops at ~1.1 s, settled by 1.4 s
    r = hand.grasp_and_hold(400, tension_n=10.0)
    assert r["states"][-1] == "operation_enabled"
    for i, t in enumerate(r["tension_n"][-20:].mean(axis=0), 1):
        assert_within(float(t), 10.0, 1.0, unit="N", quantity=f"tendon {i} tension")
    assert hand.session.lost.tolist() == [0]
