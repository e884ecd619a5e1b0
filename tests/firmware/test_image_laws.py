"""The joint image's own cascade and FOC run the plant behind the C board (ctl_joint.c), called
from the module's kernel: every PWM period one current-loop interrupt and every control-loop
period one control-loop interrupt of the image; a gain that only the image holds changes how
the joint moves; a closed board hands the module back its own laws."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from cerebellum_rt.actuators.joint import JointModule, load_preset
from cerebellum_rt.drivers.board.cfirmware import joint_table
from cerebellum_rt.drivers.firmware.differential import LockstepBoard
from cerebellum_rt.drivers.od import POSITION_COUNTS_PER_RAD

NODE = 3
CYCLES = 120


def _sync_cycle(events: list, cw: int, mode: int, target: int) -> None:
    """RPDO1 (controlword, mode, target), RPDO2 (no offsets), 1 ms, SYNC: one cycle of the board."""
    events.append(("frame", 0x200 + NODE, struct.pack("<HbI", cw, mode, target & 0xFFFFFFFF), 0))
    events.append(("frame", 0x300 + NODE, struct.pack("<ihh", 0, 0, 0), 0))
    events.append(("wait", 1001))
    events.append(("frame", 0x080, b"", 0))


def _run(kp_pos: float | None = None, kind: str = "c", cycles: int = CYCLES) -> tuple[LockstepBoard, JointModule, list]:
    module = JointModule(load_preset("knee"), seed=7)
    lb = LockstepBoard(kind, NODE, module, table=joint_table(module))
    lb.boot()
    ev: list = [("frame", 0, bytes([0x01, NODE]), 0)]
    if kp_pos is not None:  # 0x2010:1 position gain: in the image's RAM only (no plant callback)
        ev.append(("frame", 0x600 + NODE, bytes([0x23, 0x10, 0x20, 0x01]) + struct.pack("<f", kp_pos), 0))
    for cw in (0x06, 0x07, 0x0F):
        _sync_cycle(ev, cw, 8, 0)
    for _ in range(cycles):  # CSP: a 0.2 rad step
        _sync_cycle(ev, 0x0F, 8, round(0.2 * POSITION_COUNTS_PER_RAD))
    lb.run(ev)
    return lb, module, ev


def test_the_images_interrupts_run_every_period():
    lb, module, ev = _run()
    try:
        assert module.law_context != 0
        cycles = sum(1 for e in ev if e[0] == "frame" and e[1] == 0x080)  # one 1 ms advance per SYNC
        pwm_per_ms = round(module.current_loop_hz * 1e-3)
        loops_per_ms = round(module.preset.firmware.loop_hz * 1e-3)
        loop, pwm = lb.board.law_interrupts()
        assert pwm == cycles * pwm_per_ms
        assert loop == cycles * loops_per_ms
        assert abs(module.truth.output_angle_rad - 0.2) < 0.01  # and they moved the joint there
    finally:
        lb.close()
    assert module.law_context == 0  # closed: the module runs its own laws again


def test_a_gain_only_the_image_holds_changes_the_motion():
    stiff, m1, _ = _run()
    soft, m2, _ = _run(kp_pos=0.5)  # 1/s: the position loop barely pulls
    try:
        assert m2.law_records["cascade_config"][0]["kp_pos"] == 0.5  # the image's record (its RAM)
        assert abs(m1.truth.output_angle_rad - 0.2) < 0.01
        assert m2.truth.output_angle_rad < 0.05  # the image's gain moved this plant
    finally:
        stiff.close()
        soft.close()
    # the module's own cascade never had that gain: what moved the plant was the image's
    assert m2.law_context == 0 and m2.law_records["cascade_config"][0]["kp_pos"] > 10.0


@pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_the_qemu_images_interrupts_run_the_plant():
    """The Cortex-M4F image under QEMU: every PWM and control-loop period is one exchange with the
    image across the bridge (its interrupts), and they move the joint as the host image does."""
    lb, module, ev = _run(kind="qemu", cycles=60)
    host, hmod, _ = _run(kind="c", cycles=60)
    try:
        cycles = sum(1 for e in ev if e[0] == "frame" and e[1] == 0x080)
        per_ms = round(module.current_loop_hz * 1e-3) + round(module.preset.firmware.loop_hz * 1e-3)
        assert module.law_context != 0 and lb.board._laws.exchanges == cycles * per_ms
        assert module.truth.output_angle_rad == hmod.truth.output_angle_rad  # bit for bit: the same laws
        assert module.truth.output_angle_rad > 0.15
    finally:
        lb.close()
        host.close()
    assert module.law_context == 0


@pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_gain_inspection_reads_the_qemu_images_records():
    """Behind the QEMU image the module's law records are the image's (read from its RAM across
    the bridge): a gain written by SDO shows, the cascade's state is the image's, and a closed
    board hands back the module's own records, which never had that gain."""
    lb, module, _ = _run(kp_pos=0.5, kind="qemu", cycles=5)
    try:
        rec = module.law_records
        assert set(rec) == {"foc_config", "foc_state", "foc_input", "foc_output", "cascade_config",
                            "cascade_state", "cascade_input", "cascade_output"}
        assert rec["cascade_config"][0]["kp_pos"] == pytest.approx(0.5)  # written by SDO, in the image only
        image_foc_out = rec["foc_output"][0].copy()
        # the object dictionary read as the bus would, from the image's RAM (no time passes)
        assert lb.board.od_read(0x2010, 1) == struct.pack("<f", 0.5)
        assert lb.board.od_read(0x1018, 2) == struct.pack("<I", 0x4A4E5431)
        assert lb.board.od_read(0x5FFF, 0) == 0x06020000  # no such object: the SDO abort code
    finally:
        lb.close()
    own = module.law_records
    assert module.law_context == 0 and own["cascade_config"][0]["kp_pos"] > 10.0
    assert image_foc_out != own["foc_output"][0]  # the image's current loop ran, the module's never did


@pytest.mark.parametrize("kind", ["c", pytest.param("qemu", marks=pytest.mark.needs("arm-none-eabi-gcc",
                                                                                  "qemu-system-arm"))])
def test_a_power_cycle_restarts_the_images_laws_from_their_calibration(kind):
    """A board reset (the HIL fault board_reset) loses the image's RAM: its laws restart from the
    drive calibration (a gain written only to RAM is gone, the interrupt counts start again) with
    the power stage off, and the board, enabled again, tracks on the fresh image's laws."""
    lb, module, _ = _run(kp_pos=0.5, kind=kind, cycles=10)
    try:
        assert module.law_records["cascade_config"][0]["kp_pos"] == pytest.approx(0.5)
        lb.board.power_cycle()
        boot = lb.boot()
        assert (0x700 + NODE, b"\x00") in boot and lb.board.state == "switch_on_disabled"
        assert module.law_context != 0 and module.law_records["cascade_config"][0]["kp_pos"] > 10.0
        if kind == "c":
            assert lb.board.law_interrupts() == (0, 0)
        ev: list = [("frame", 0, bytes([0x01, NODE]), 0)]
        for cw in (0x06, 0x07, 0x0F):
            _sync_cycle(ev, cw, 8, round(0.2 * POSITION_COUNTS_PER_RAD))
        lb.run(ev)
        for _ in range(60):
            _sync_cycle(ev := [], 0x0F, 8, round(0.2 * POSITION_COUNTS_PER_RAD))
            lb.run(ev)
        assert lb.board.state == "operation_enabled" and abs(module.truth.output_angle_rad - 0.2) < 0.01
    finally:
        lb.close()


def test_a_fault_of_the_images_cascade_is_the_boards_emcy():
    """A joint that starts beyond its position limit (+ margin): the image's cascade latches its
    position fault, which the board reports as EMCY 0x8612 and CiA 402 fault, frame for frame as
    the Python board on its numba cascade."""
    from cerebellum_rt.drivers.firmware.differential import compare

    preset = load_preset("knee")
    q0 = preset.limits.position_max_rad + preset.firmware.position_fault_margin_rad + 0.2

    def module() -> JointModule:
        return JointModule(preset, seed=7, initial_position_rad=q0)

    ev: list = [("frame", 0, bytes([0x01, NODE]), 0)]
    for cw in (0x06, 0x07, 0x0F, 0x0F, 0x8F, 0x0F):  # enable, then a fault reset: the cause lasts
        _sync_cycle(ev, cw, 8, round(q0 * POSITION_COUNTS_PER_RAD))
    res = compare(ev, NODE, joint_table(module()), module_factory=module)
    k = res["first_reply_difference"]
    assert k is None, f"reply {k}: python {res['python'][k]} c {res['c'][k]}"
    emcy = [d for rep in res["c"] for cob, d in rep if cob == 0x80 + NODE]
    assert any(d[:2] == bytes([0x12, 0x86]) for d in emcy), emcy
    assert res["c_state"] == res["python_state"] and res["c_state"].startswith("fault")


def _hand_run(kind: str, cycles: int = 60) -> tuple[LockstepBoard, Any]:
    """A hand board ('c' or 'qemu') in front of a HandSim: tension mode on tendons 1-3, 15 N."""
    from cerebellum_rt.actuators.hand import HandSim
    from cerebellum_rt.drivers.od import build_table

    node, sim = 4, HandSim("hand_prs6", obj=None)
    lb = LockstepBoard(kind, node, sim, table=build_table("hand"))
    lb.boot()
    ev: list = [("frame", 0, bytes([0x01, node]), 0)]
    ev.append(("frame", 0x600 + node, struct.pack("<BHBI", 0x2F, 0x6060, 0, 0xFF), 0))  # mode -1: the axes' own
    for axis in (1, 2, 3):  # 0x2100:k = 2: tension mode
        ev.append(("frame", 0x600 + node, struct.pack("<BHBI", 0x2F, 0x2100, axis, 2), 0))
    for cw, t in [(0x06, 0), (0x07, 0), *[(0x0F, 1500)] * cycles]:  # RPDO1: controlword, tensions 1-3 (0.01 N)
        ev += [("frame", 0x200 + node, struct.pack("<Hhhh", cw, t, t, t), 0), ("wait", 1001), ("frame", 0x080, b"", 0)]
    try:
        lb.run(ev)
    except BaseException:
        lb.close()
        raise
    return lb, sim


def test_the_hand_images_control_tick_runs_the_tendons():
    """The hand image's own tendon laws run the HandSim behind the C board: one control-tick
    interrupt of the image per tick of the plant, and the tendons pull as the Python board's."""
    lb, sim = _hand_run("c")
    try:
        assert sim.law_context != 0
        ticks, _ = lb.board.law_interrupts()
        assert ticks == round(sim.t * sim.loop_hz) > 0  # every tick the plant ran was the image's
        # the tension targets (15 N on tendons 1-3, 0 on 4-6) pulled those tendons, and only those
        assert sim.tens[:3, 0].min() > 1.0 and abs(sim.tens[3:, 0]).max() < 0.1
    finally:
        lb.close()
    assert sim.law_context == 0


@pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_the_qemu_hand_images_control_tick_runs_the_tendons():
    """The hand's Cortex-M4F image under QEMU runs the HandSim's tendon laws as the host build
    does: one control-tick exchange with the image per tick, the same tendons bit for bit."""
    lb, sim = _hand_run("qemu")
    host, hsim = _hand_run("c")
    try:
        assert sim.law_context != 0
        assert lb.board._laws.exchanges == round(sim.t * sim.loop_hz) > 0
        assert sim.tens[:3, 0].min() > 1.0 and abs(sim.tens[3:, 0]).max() < 0.1
        assert (sim.xs == hsim.xs).all() and (sim.tens == hsim.tens).all()  # the same laws, bit for bit
    finally:
        lb.close()
        host.close()
    assert sim.law_context == 0
