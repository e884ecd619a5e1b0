"""The same rig in real time (threaded boards on the wall clock): it runs through the same session
and supervisor; timing is not asserted (a shared machine), only that every sample is accounted for."""

from __future__ import annotations

import pytest


@pytest.mark.realtime
@pytest.mark.rig("single_joint")
@pytest.mark.hil_ticks(200)
def test_realtime_run_counts_every_sample(joint) -> None:
    assert not joint.session.lockstep
    r = joint.track(200)
    s = joint.session
    assert s.received[0] + s.lost[0] == 200
    assert s.received[0] > 0 and len(r.t_s) == 200
    assert (r.t_s[1:] > r.t_s[:-1]).all()  # the session's clock is the wall clock, not a virtual one
