"""The CiA 402 state-machine law, compiled by numba as the board runs it: every transition of
CANOPEN.md §1.5 from every state, the option codes, and the host helpers checked against
python canopen's own decoding (an independent implementation)."""

from __future__ import annotations

import pytest
from canopen.profiles.p402 import State402
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers import cia402
from cerebellum_rt.drivers.cia402 import (
    FAULT,
    FAULT_REACTION_ACTIVE,
    OPERATION_ENABLED,
    QUICK_STOP_ACTIVE,
    READY_TO_SWITCH_ON,
    STATE_NAMES,
    SWITCH_ON_DISABLED,
    SWITCHED_ON,
    decode_state,
    next_controlword,
)
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.jit import njit

step = njit(cia402.cia402_step)

SD, SO, EO, DV, QS = 0x06, 0x07, 0x0F, 0x00, 0x02
# (from, controlword) -> to, per CANOPEN.md §1.5 (standstill, no fault, quick-stop option 2)
EXPECTED = {
    (SWITCH_ON_DISABLED, SD): READY_TO_SWITCH_ON,  # 2
    (READY_TO_SWITCH_ON, SO): SWITCHED_ON,  # 3
    (READY_TO_SWITCH_ON, EO): SWITCHED_ON,  # 3 (then 4 at the next cycle)
    (SWITCHED_ON, EO): OPERATION_ENABLED,  # 4
    (OPERATION_ENABLED, SO): SWITCHED_ON,  # 5
    (SWITCHED_ON, SD): READY_TO_SWITCH_ON,  # 6
    (READY_TO_SWITCH_ON, DV): SWITCH_ON_DISABLED,  # 7
    (READY_TO_SWITCH_ON, QS): SWITCH_ON_DISABLED,  # 7
    (OPERATION_ENABLED, SD): READY_TO_SWITCH_ON,  # 8
    (OPERATION_ENABLED, DV): SWITCH_ON_DISABLED,  # 9
    (SWITCHED_ON, DV): SWITCH_ON_DISABLED,  # 10
    (SWITCHED_ON, QS): SWITCH_ON_DISABLED,  # 10
    (OPERATION_ENABLED, QS): QUICK_STOP_ACTIVE,  # 11
    (QUICK_STOP_ACTIVE, DV): SWITCH_ON_DISABLED,  # 12
}


def run(state: int, cw: int, last_cw: int = 0, **inputs) -> tuple[int, object]:
    cfg = cia402.Cia402Config.new(**{k: inputs.pop(k) for k in list(inputs) if k.endswith("_option")})
    s = cia402.Cia402State.new(state=state, last_controlword=last_cw)
    i = cia402.Cia402Input.new(controlword=cw, **inputs)
    o = cia402.Cia402Output.new()
    step(cfg, s, i, o)
    return int(s["state"]), o


def expected_from_fault_states(start: int, cw: int, last_cw: int, reaction_option: int) -> int:
    """CANOPEN.md §1.5 from the two fault states, no fault cause present, axis still moving:
    Fault leaves only by a fault reset (0->1 edge of bit 7, transition 15); Fault reaction
    active ignores the controlword and ends (14) when its reaction is done: at once for option
    0 (disable drive, coast), at standstill otherwise."""
    if start == FAULT:
        return SWITCH_ON_DISABLED if cw & 0x80 and not last_cw & 0x80 else FAULT
    return FAULT if reaction_option == 0 else FAULT_REACTION_ACTIVE


@pytest.mark.parametrize("start", range(8))
@pytest.mark.parametrize("cw", [SD, SO, EO, DV, QS, 0x04, 0x0B, 0x86])
def test_every_state_and_command(start, cw):
    to, out = run(start, cw, standstill=False)
    if start in (FAULT, FAULT_REACTION_ACTIVE):
        expected = expected_from_fault_states(start, cw, 0, reaction_option=2)  # the default 0x605E
    else:
        start_eff = SWITCH_ON_DISABLED if start == 0 else start  # 0 -> 1 automatically first
        command = {0x04: DV, 0x0B: QS}.get(cw, cw)  # don't-care bits: 0x04 disables voltage, 0x0B quick-stops
        expected = EXPECTED.get((start_eff, command), start_eff)
    assert STATE_NAMES[to] == STATE_NAMES[expected]
    assert decode_state(int(out["statusword"])) == STATE_NAMES[to]
    # Power stays on while a quick stop or the fault reaction (option 2: quick-stop ramp) ramps down.
    assert bool(out["power_enabled"]) == (to in (OPERATION_ENABLED, QUICK_STOP_ACTIVE, FAULT_REACTION_ACTIVE))
    assert bool(out["brake_engaged"]) != bool(out["power_enabled"])
    assert int(out["stop_ramp"]) == {FAULT_REACTION_ACTIVE: 2, QUICK_STOP_ACTIVE: 2}.get(to, 0)


@pytest.mark.parametrize("start", [FAULT, FAULT_REACTION_ACTIVE])
@pytest.mark.parametrize("cw", [SD, EO, DV, QS, 0x80, 0x86, 0x8F])
@pytest.mark.parametrize(("last_cw", "option"), [(0x00, 0), (0x80, 1), (0x00, 3)])
def test_fault_states_leave_only_by_reset_edge_or_reaction_end(start, cw, last_cw, option):
    """The fault states under other reaction options and with bit 7 already high (no edge)."""
    to, out = run(start, cw, last_cw=last_cw, fault_reaction_option=option, standstill=False)
    assert STATE_NAMES[to] == STATE_NAMES[expected_from_fault_states(start, cw, last_cw, option)]
    assert decode_state(int(out["statusword"])) == STATE_NAMES[to]
    assert int(out["stop_ramp"]) == (option if to == FAULT_REACTION_ACTIVE else 0)
    assert bool(out["power_enabled"]) == (to == FAULT_REACTION_ACTIVE)
    assert not out["follow_targets"]


@pytest.mark.parametrize(("option", "ramp", "stays"), [
    (0, 0, False), (1, 1, False), (2, 2, False), (3, 3, False), (4, 3, False),
    (5, 1, True), (6, 2, True), (7, 3, True), (8, 3, True),
])
def test_quick_stop_option_codes(option, ramp, stays):
    to, out = run(OPERATION_ENABLED, QS, quick_stop_option=option, standstill=False)
    if option == 0:
        assert to == SWITCH_ON_DISABLED and not out["power_enabled"]
        return
    assert to == QUICK_STOP_ACTIVE and int(out["stop_ramp"]) == ramp and out["power_enabled"]
    assert int(out["statusword"]) & 0x20 == 0
    to, out = run(QUICK_STOP_ACTIVE, QS, last_cw=QS, quick_stop_option=option, standstill=True)
    assert to == (QUICK_STOP_ACTIVE if stays else SWITCH_ON_DISABLED)
    to, _ = run(QUICK_STOP_ACTIVE, EO, quick_stop_option=option, standstill=False)
    assert to == (OPERATION_ENABLED if stays else QUICK_STOP_ACTIVE)  # 16 only for options 5-8


@pytest.mark.parametrize("option", [0, 1, 2, 3])
def test_fault_reaction_options_and_reset(option):
    to, out = run(OPERATION_ENABLED, EO, fault=True, fault_reaction_option=option, standstill=False)
    assert to == (FAULT if option == 0 else FAULT_REACTION_ACTIVE)  # 13 (and 14 at once for 0)
    assert int(out["stop_ramp"]) == option and bool(out["power_enabled"]) == (option != 0)
    to, _ = run(FAULT_REACTION_ACTIVE, EO, fault=True, fault_reaction_option=option, standstill=True)
    assert to == FAULT  # 14
    assert run(FAULT, 0x80, last_cw=0x00, fault=True)[0] == FAULT  # cause present: no 15
    assert run(FAULT, 0x80, last_cw=0x80)[0] == FAULT  # no edge
    assert run(FAULT, 0x80, last_cw=0x00)[0] == SWITCH_ON_DISABLED  # 15


@pytest.mark.parametrize(("option", "expected"), [
    (0, OPERATION_ENABLED), (1, FAULT_REACTION_ACTIVE), (2, SWITCH_ON_DISABLED), (3, QUICK_STOP_ACTIVE),
])
def test_abort_connection_option(option, expected):
    to, _ = run(OPERATION_ENABLED, EO, connection_lost=True, abort_connection_option=option, standstill=False)
    assert to == expected


def test_halt_bit_stops_on_the_halt_ramp_in_operation_enabled():
    to, out = run(OPERATION_ENABLED, EO | 0x100, halt_option=2)
    assert to == OPERATION_ENABLED and int(out["stop_ramp"]) == 2 and not out["follow_targets"]


def test_decode_state_agrees_with_python_canopen_for_every_statusword():
    names = {v: k for k, v in cia402.CANOPEN_NAMES.items()}
    for sw in range(1 << 16):
        theirs = "unknown"
        for name, (mask, value) in State402.SW_MASK.items():
            if sw & mask == value:
                theirs = names[name]
                break
        assert decode_state(sw) == theirs, hex(sw)


@settings(max_examples=200, deadline=None)
@given(start=st.sampled_from([1, 2, 3, 4, 5, 7]),
       target=st.sampled_from(["operation_enabled", "switched_on", "switch_on_disabled", "quick_stop"]),
       option=st.integers(0, 8))
def test_host_helper_walks_the_law_to_any_target(start, target, option):
    cfg = cia402.Cia402Config.new(quick_stop_option=option)
    s = cia402.Cia402State.new(state=start)
    hold = {1: DV, 2: SD, 3: SO, 4: EO, 5: QS, 7: DV}[start]  # the command that keeps ``start``
    i = cia402.Cia402Input.new(standstill=False, controlword=hold)
    o = cia402.Cia402Output.new()
    s["last_controlword"] = hold
    step(cfg, s, i, o)
    i["standstill"] = True
    if start == FAULT:
        for cw in (0x00, next_controlword(int(o["statusword"]), "fault_reset")):
            i["controlword"] = cw
            step(cfg, s, i, o)
        assert decode_state(int(o["statusword"])) == "switch_on_disabled"
    want = {"quick_stop": ("quick_stop_active", "switch_on_disabled")}.get(target, (target,))
    for _ in range(8):
        i["controlword"] = next_controlword(int(o["statusword"]), target)
        step(cfg, s, i, o)
    if target == "quick_stop" and option in (5, 6, 7, 8) and start in (4, 5):
        want = ("quick_stop_active",)
    assert decode_state(int(o["statusword"])) in want


def test_next_controlword_rejects_unknown_target():
    with pytest.raises(ConfigError, match="not one of"):
        next_controlword(0x40, "run")
