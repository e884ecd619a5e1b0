"""Experiments in lockstep: a step's metrics, the auto-tune's predicted overshoot against the
measured one (with a negative control), the DriveGuard on an exception and on a lost bus."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cerebellum_rt.drivers.cia402 import decode_state
from cerebellum_rt.drivers.tune import autotune, experiment, record
from cerebellum_rt.drivers.tune.emulated import board_value

OVERSHOOT_TOLERANCE_PP = 2.5  # percentage points: encoder quantisation (0.77 % of a 0.05 rad step) + friction


def test_step_metrics_and_files(tune, tmp_path):
    console, _s, _ = tune
    r, text = console.execute("step position 0.05")
    m = r["metrics"]
    assert r["stopped"] == "" and r["final"].startswith("switch_on_disabled"), text
    assert 0.002 < m["rise_time_s"] < 0.05 and m["settling_time_s"] < 0.2 and abs(m["steady_state_error"]) < 2e-3
    for suffix in (".csv", ".npz", ".mcap"):
        console.execute(f"record {tmp_path / ('cap' + suffix)}")
    header = (tmp_path / "cap.csv").read_text().splitlines()[1]
    assert "position_rad [rad]" in header and "torque_demand_nm [N*m]" in header
    npz = np.load(tmp_path / "cap.npz")
    assert '"velocity_rad_s": "rad/s"' in str(npz["units"])
    from mcap.reader import make_reader

    with (tmp_path / "cap.mcap").open("rb") as f:
        n = sum(1 for _ in make_reader(f).iter_messages())
    assert n == len(console.last.data)
    console.execute(f"plot {tmp_path / 'step.png'}")
    assert (tmp_path / "step.png").stat().st_size > 10_000
    assert console.execute("state")[0]["state"] == "switch_on_disabled"


def test_step_beyond_the_position_limit_is_refused(tune):
    console, *_ = tune
    with pytest.raises(Exception, match="outside the software limits"):
        console.execute("step position -1 rad")


def test_autotune_overshoot_matches_its_prediction(tune):
    console, _s, _ = tune
    r, text = console.execute("autotune 2")
    assert not r["applied"] and r["predicted"]["velocity_phase_margin_deg"] >= 50.0, text
    before = console.execute("get kp")[0]["values"][0]["value"]
    assert before == pytest.approx(r["before"]["position_kp"])  # proposed, not applied
    console.execute("apply")
    assert console.execute("get kp")[0]["values"][0]["value"] == pytest.approx(r["gains"]["position_kp"], rel=1e-6)
    meas = console.execute("step position 0.05")[0]["metrics"]
    pred = r["predicted"]
    assert abs(meas["overshoot_pct"] - pred["overshoot_pct"]) <= OVERSHOOT_TOLERANCE_PP, (meas, pred)
    # negative control: the same gains predicted with 1 ms more delay than identified disagree
    m = console.model
    wrong = autotune.JointModel(m.inertia_kg_m2, m.viscous_nm_s_per_rad, m.coulomb_nm, m.delay_s + 1e-3)
    g = autotune.Gains(**r["gains"])
    assert abs(meas["overshoot_pct"] - autotune.predict(wrong, g)["overshoot_pct"]) > OVERSHOOT_TOLERANCE_PP
    console.execute("revert board")


def test_identified_inertia_is_the_modules(tune):
    console, *_ = tune
    from cerebellum_rt.actuators.joint import load_preset
    from cerebellum_rt.actuators.joint.gains import effective_inertia

    r, _ = console.execute("relay")
    assert r["inertia_kg_m2"] == pytest.approx(effective_inertia(load_preset("knee")), rel=0.15)


def test_chirp_bandwidth_and_bode(tune, tmp_path):
    console, *_ = tune
    r, _ = console.execute("chirp position 0.01 rad 2 80 1.5")
    assert 10.0 < r["bandwidth_hz"] < 60.0
    console.execute(f"bode {tmp_path / 'bode.png'}")
    fr = record.frequency_response(console.last_chirp)
    assert np.abs(fr["closed"][0]) == pytest.approx(1.0, abs=0.1)  # tracks at low frequency


def test_guard_stops_and_disables_on_an_exception(tune):
    _, s, emu = tune
    exp = experiment.PdoExperiment(s, lockstep=True)

    def boom(k, t, r, q):
        if k == 30:
            raise RuntimeError("the experiment crashed")
        return q

    with pytest.raises(RuntimeError, match="crashed"):
        exp.run("position", "step", 200, boom)
    assert emu.board.state == "switch_on_disabled"
    assert exp.last_guard_outcome == {1: "switch_on_disabled"}  # the guard, not the experiment, stopped it
    for _ in range(100):  # the NMT frame follows the controlword; the board thread handles it
        if emu.board.nmt_state == 0x7F:
            break
        time.sleep(0.01)
    assert emu.board.nmt_state == 0x7F  # NMT pre-operational after the controlword
    s.transport.start(period_us=1000)


def test_guard_with_a_lost_bus_ends_without_hanging(tmp_path):
    from cerebellum_rt.drivers.can import CanTransport
    from cerebellum_rt.drivers.tune.emulated import EmulatedJoint
    from cerebellum_rt.drivers.tune.session import TuneSession

    with EmulatedJoint("knee", 2, flash=tmp_path / "f.json") as emu:
        t = CanTransport(emu.host_bus(), nodes=[2], timeout_s=0.05)
        s = TuneSession(t, 2, tmp_path / "p.toml", emulated=emu)
        s.connect()
        exp = experiment.PdoExperiment(s, lockstep=True)
        board = emu.board

        def unplug(k, tt, r, q):
            if k == 20:
                board.close()  # the board goes silent mid-experiment
            return q

        with pytest.raises(Exception, match="no reply"):
            exp.run("position", "step", 400, unplug)
        t.close()
    assert decode_state(int(board_value(board, 0x6041, 0))) == "operation_enabled"  # it was enabled when cut


def test_buslog_writes_every_frame_through_python_can_writers(tune, tmp_path):
    import can

    from cerebellum_rt.drivers.tune.console import Console

    _, s, emu = tune
    c = Console(s, lockstep=True, listener_bus=emu.host_bus)
    c.execute(f"buslog start {tmp_path / 'bus.asc'}")
    c.execute("step position 0.02 rad 0.05")
    c.execute("buslog stop")
    ids = [m.arbitration_id for m in can.ASCReader(str(tmp_path / "bus.asc"))]
    syncs = ids.count(0x080)
    assert syncs >= 50  # one SYNC per tick of the experiment
    assert ids.count(0x181) == syncs and ids.count(0x201) == syncs  # TPDO1 and RPDO1 every tick
    with pytest.raises(Exception, match=r"not \.asc"):
        c.execute(f"buslog start {tmp_path / 'bus.txt'}")
