"""The CiA 402 drive state machine: a law (compiled to C for the boards) and host-side helpers.

The law ``cia402_step(cfg, st, inp, out)`` runs once per communication cycle on the board, after
the RPDOs of the cycle were applied. It decodes the controlword (CANOPEN.md §1.2), walks the
transitions 0-16 of CiA 402 (§1.5), honours the quick-stop (0x605A), halt (0x605D),
fault-reaction (0x605E) and abort-connection (0x6007) option codes, and produces the statusword
and the power-stage commands. States in physical terms:

====  ======================  ===============================================================
code  state                   power stage / brake
====  ======================  ===============================================================
0     not ready to switch on  off, brake engaged (self-test)
1     switch on disabled      off, brake engaged; the host may not move the axis
2     ready to switch on      off, brake engaged; DC link charged
3     switched on             off (PWM disabled), brake engaged
4     operation enabled       on, brake released, targets followed (``stop_ramp`` 0) or halted
5     quick stop active       on, brake released, decelerating by ``stop_ramp``, then holding
6     fault reaction active   on while ramping (0x605E 1-3), else off
7     fault                   off, brake engaged
====  ======================  ===============================================================

``stop_ramp`` tells the board's motion layer how to stop: 0 follow the targets, 1 slow-down
ramp (0x6084), 2 quick-stop ramp (0x6085), 3 current limit (max torque against the velocity);
option 4/8 (voltage limit) brakes at the current limit, as the emulated power stage has no
DC-link model. A ramp ends when ``inp.standstill`` (|v| < 0x2030).

The law uses only integer arithmetic and literal constants, so numba and codegen both take it.
"""

from __future__ import annotations

from cerebellum_rt.codegen.law import Record, boolean, i32

NOT_READY, SWITCH_ON_DISABLED, READY_TO_SWITCH_ON, SWITCHED_ON = 0, 1, 2, 3
OPERATION_ENABLED, QUICK_STOP_ACTIVE, FAULT_REACTION_ACTIVE, FAULT = 4, 5, 6, 7
STATE_NAMES = (
    "not_ready_to_switch_on", "switch_on_disabled", "ready_to_switch_on", "switched_on",
    "operation_enabled", "quick_stop_active", "fault_reaction_active", "fault",
)
# python canopen's BaseNode402 spelling of the same states
CANOPEN_NAMES = {n: n.upper().replace("_", " ") for n in STATE_NAMES}

CW_SHUTDOWN, CW_SWITCH_ON, CW_ENABLE_OPERATION = 0x06, 0x07, 0x0F
CW_DISABLE_VOLTAGE, CW_QUICK_STOP, CW_FAULT_RESET = 0x00, 0x02, 0x80


class Cia402Config(Record):
    quick_stop_option: i32 = 2  # 0x605A
    halt_option: i32 = 1  # 0x605D
    fault_reaction_option: i32 = 2  # 0x605E
    abort_connection_option: i32 = 3  # 0x6007


class Cia402State(Record):
    state: i32  # 0..7 as in the table of the module docstring
    last_controlword: i32  # for the 0->1 edge of the fault-reset bit


class Cia402Input(Record):
    controlword: i32  # 0x6040 as received
    fault: boolean  # a fault cause is present (over-temperature, injected, module fault...)
    connection_lost: boolean  # heartbeat / SYNC / RPDO lost (level, while the loss lasts)
    standstill: boolean  # |velocity| below the standstill threshold
    target_reached: boolean  # statusword bit 10
    following_error: boolean  # statusword bit 13 (CSP)
    limit_active: boolean  # statusword bit 11
    warning: boolean  # statusword bit 7


class Cia402Output(Record):
    statusword: i32  # 0x6041
    power_enabled: boolean  # PWM on
    brake_engaged: boolean
    quick_stop_active: boolean
    stop_ramp: i32  # 0 follow targets, 1 slow-down, 2 quick-stop ramp, 3 current limit
    follow_targets: boolean  # the mode's targets drive the axis


def cia402_step(cfg: Cia402Config, st: Cia402State, inp: Cia402Input, out: Cia402Output) -> None:
    """One cycle of the CiA 402 state machine (real-time: no allocation, callable in the tick)."""
    cw = inp.controlword
    s = st.state
    reset_edge = (cw & 0x80) != 0 and (st.last_controlword & 0x80) == 0
    st.last_controlword = cw
    # 0x6007: a lost connection overrides the controlword while the loss lasts
    fault = inp.fault
    if inp.connection_lost:
        if cfg.abort_connection_option == 1:
            fault = True
        elif cfg.abort_connection_option == 2:
            cw = 0x00
        elif cfg.abort_connection_option == 3:
            cw = 0x02
    disable_voltage = (cw & 0x82) == 0x00
    quick_stop = (cw & 0x86) == 0x02
    shutdown = (cw & 0x87) == 0x06
    switch_on = (cw & 0x8F) == 0x07
    enable_op = (cw & 0x8F) == 0x0F
    if s == 0:  # transition 1, automatic
        s = 1
    if fault and s != 6 and s != 7:  # transition 13
        s = 6
    elif s == 1:
        if shutdown:  # 2
            s = 2
    elif s == 2:
        if switch_on or enable_op:  # 3
            s = 3
        elif disable_voltage or quick_stop:  # 7
            s = 1
    elif s == 3:
        if enable_op:  # 4
            s = 4
        elif shutdown:  # 6
            s = 2
        elif disable_voltage or quick_stop:  # 10
            s = 1
    elif s == 4:
        if disable_voltage:  # 9
            s = 1
        elif quick_stop:  # 11 (option 0: disable drive function at once -> 12)
            s = 5
            if cfg.quick_stop_option == 0:
                s = 1
        elif shutdown:  # 8
            s = 2
        elif switch_on:  # 5
            s = 3
    elif s == 5:
        if disable_voltage:  # 12
            s = 1
        elif cfg.quick_stop_option >= 5 and enable_op:  # 16
            s = 4
        elif cfg.quick_stop_option <= 4 and inp.standstill:  # 12, ramp done
            s = 1
    elif s == 7 and reset_edge and not fault:  # 15
        s = 1
    if s == 6 and (cfg.fault_reaction_option == 0 or inp.standstill):  # 14
        s = 7
    st.state = s

    # outputs
    ramp = 0
    power = False
    if s == 4:
        power = True
        if (cw & 0x100) != 0:  # halt
            ramp = cfg.halt_option
    elif s == 5:
        ramp = cfg.quick_stop_option  # 1..8 -> ramp 1, 2, 3, 3(voltage limit), 1, 2, 3, 3
        if ramp > 4:
            ramp = ramp - 4
        if ramp == 4:
            ramp = 3
        power = ramp != 0
    elif s == 6:
        ramp = cfg.fault_reaction_option
        if ramp > 3:
            ramp = 3
        power = ramp != 0
    out.power_enabled = power
    out.brake_engaged = not power
    out.stop_ramp = ramp
    out.quick_stop_active = s == 5
    out.follow_targets = s == 4 and ramp == 0

    if s == 0:
        sw = 0x0000
    elif s == 1:
        sw = 0x0040
    elif s == 2:
        sw = 0x0021
    elif s == 3:
        sw = 0x0023
    elif s == 4:
        sw = 0x0027
    elif s == 5:
        sw = 0x0007
    elif s == 6:
        sw = 0x000F
    else:
        sw = 0x0008
    if s == 1 or s == 2 or s == 3 or s == 4:
        sw = sw | 0x0020  # bit 5: quick stop NOT active
    if s >= 2 and s <= 6:
        sw = sw | 0x0010  # bit 4: voltage enabled
    sw = sw | 0x0200  # bit 9: remote (controlword processed)
    if inp.warning:
        sw = sw | 0x0080
    if inp.target_reached or (ramp != 0 and inp.standstill):
        sw = sw | 0x0400
    if inp.limit_active:
        sw = sw | 0x0800
    if s == 4 and ramp == 0:
        sw = sw | 0x1000  # bit 12: drive follows the command value (CSx)
    if inp.following_error:
        sw = sw | 0x2000
    out.statusword = sw


# ---------------------------------------------------------------------------------------------
# Host-side helpers (pure; used to walk the machine over PDOs)

_SW_MASKS = (
    (0x004F, 0x0000, "not_ready_to_switch_on"),
    (0x004F, 0x0040, "switch_on_disabled"),
    (0x006F, 0x0021, "ready_to_switch_on"),
    (0x006F, 0x0023, "switched_on"),
    (0x006F, 0x0027, "operation_enabled"),
    (0x006F, 0x0007, "quick_stop_active"),
    (0x004F, 0x000F, "fault_reaction_active"),
    (0x004F, 0x0008, "fault"),
)
TARGETS = ("operation_enabled", "switched_on", "switch_on_disabled", "quick_stop", "fault_reset")


def decode_state(statusword: int) -> str:
    """The CiA 402 state name of a statusword ('unknown' if no pattern matches)."""
    for mask, value, name in _SW_MASKS:
        if statusword & mask == value:
            return name
    return "unknown"


def next_controlword(statusword: int, target: str) -> int:
    """The controlword that moves the drive one step from ``statusword``'s state toward ``target``.

    ``target`` is one of 'operation_enabled', 'switched_on', 'switch_on_disabled', 'quick_stop',
    'fault_reset'. Send the result each cycle until ``decode_state`` gives the target. From
    'fault', 'fault_reset' gives 0x0080: the board acts on the 0->1 edge of bit 7, so a host
    that already sent 0x0080 during the fault sends 0x0000 once first (as python canopen's
    ``reset_from_fault`` does).
    """
    if target not in TARGETS:
        from cerebellum_rt.rtcore.errors import ConfigError

        raise ConfigError(f"CiA 402 target {target!r} is not one of {TARGETS}")
    s = decode_state(statusword)
    if s == "fault":
        return CW_FAULT_RESET if target == "fault_reset" else CW_DISABLE_VOLTAGE
    if target == "fault_reset":
        return CW_DISABLE_VOLTAGE
    if target == "switch_on_disabled":
        return CW_DISABLE_VOLTAGE
    if target == "quick_stop":
        if s in ("operation_enabled", "quick_stop_active"):
            return CW_QUICK_STOP
        return CW_DISABLE_VOLTAGE
    if s in ("switch_on_disabled", "not_ready_to_switch_on", "fault_reaction_active"):
        return CW_SHUTDOWN
    if s == "quick_stop_active":
        return CW_DISABLE_VOLTAGE  # 12, then walk up again
    if target == "switched_on":
        return CW_SWITCH_ON
    # target operation_enabled
    if s == "ready_to_switch_on":
        return CW_SWITCH_ON
    return CW_ENABLE_OPERATION
