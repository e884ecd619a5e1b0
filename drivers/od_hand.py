"""The object dictionary of the tendon-hand board: six planetary-roller-screw tendon actuators
behind ONE CANopen node.

Why one node: the six actuators share one power stage supply, one MCU and one CiA 402 state
machine (the hand is enabled, quick-stopped or faulted as a whole), and one node keeps the bus
budget at one SYNC reply per hand. Per-axis data are ARRAY objects whose sub-index k is actuator
k (1..6); each axis picks its control law in 0x2100 (the modes of ``cerebellum_rt.actuators.hand``: 0 motor
current, 1 screw position, 2 tendon tension, 3 grasp pad force). 0x6060 has one manufacturer
mode, -1 "per-axis modes of 0x2100". Not served: joint-position mode (its targets are per finger
joint, not per actuator) and winding temperature (the hand plant has no thermal model).

Units: screw (nut) position in µm (i32); tension and pad force in 0.01 N (i16); motor current in
mA (i16).

Default PDOs (classic CAN, 8 bytes): RPDO1 = controlword + target tension 1-3, RPDO2 = target
tension 4-6, RPDO3 (disabled) = axis modes; TPDO1 = statusword + tension 1-3, TPDO2 = tension
4-6, TPDO3 = screw position 1-2. Other layouts (all six screw positions, 64-byte CAN FD PDOs)
are set by remapping through SDO.
"""

from __future__ import annotations

from cerebellum_rt.drivers.od_types import Obj, compound, sub, var

N_AXES = 6
SCREW_UM_PER_M = 1e6
TENSION_PER_N = 100.0  # 0.01 N
CURRENT_MA_PER_A = 1000.0
MAX_TENSION = 20_000  # 200 N in 0.01 N: hard limit of the tension targets
MAX_STROKE_UM = 50_000
MAX_CURRENT_MA = 10_000
HAND_MODES = (0, -1)
AXIS_MODES = (0, 1, 2, 3)

HAND_RPDO_SPEC = (
    (1, 0x200, True, ((0x6040, 0), (0x2102, 1), (0x2102, 2), (0x2102, 3))),
    (2, 0x300, True, ((0x2102, 4), (0x2102, 5), (0x2102, 6))),
    (3, 0x400, False, tuple((0x2100, k) for k in range(1, N_AXES + 1))),
    (4, 0x500, False, ()),
)
HAND_TPDO_SPEC = (
    (1, 0x180, True, ((0x6041, 0), (0x2111, 1), (0x2111, 2), (0x2111, 3))),
    (2, 0x280, True, ((0x2111, 4), (0x2111, 5), (0x2111, 6))),
    (3, 0x380, True, ((0x2110, 1), (0x2110, 2))),
    (4, 0x480, False, ()),
)


def _axes(index: int, name: str, dtype: str, access: str, unit: str, desc: str, **kw) -> Obj:
    pdo = kw.pop("pdo", True)
    subs = [sub(index, k, f"{name}_{k}", dtype, access, unit=unit, pdo=pdo, **kw) for k in range(1, N_AXES + 1)]
    return compound(index, name, "ARRAY", subs, desc)


def hand_objects() -> list[Obj]:
    """Manufacturer (0x2000+) and CiA 402 (0x6000+) objects of the hand board."""
    i8, i16, i32, u16, u32 = "INTEGER8", "INTEGER16", "INTEGER32", "UNSIGNED16", "UNSIGNED32"
    return [
        _axes(0x2100, "axis_mode", i8, "rw", "", "0 current, 1 screw position, 2 tension, 3 grasp",
              low=0, high=3, default=2, values=AXIS_MODES),
        _axes(0x2101, "target_screw_position", i32, "rw", "um", "mode 1 target",
              low=-MAX_STROKE_UM, high=MAX_STROKE_UM),
        _axes(0x2102, "target_tension", i16, "rw", "0.01 N", "mode 2 target", low=0, high=MAX_TENSION),
        _axes(0x2103, "target_pad_force", i16, "rw", "0.01 N", "mode 3 target", low=0, high=MAX_TENSION),
        _axes(0x2105, "target_current", i16, "rw", "mA", "mode 0 target", low=-MAX_CURRENT_MA, high=MAX_CURRENT_MA),
        _axes(0x2110, "screw_position_actual", i32, "ro", "um", "nut position"),
        _axes(0x2111, "tension_actual", i16, "ro", "0.01 N", "nut-side tendon tension sensor"),
        _axes(0x2112, "current_actual", i16, "ro", "mA", "motor current"),
        _axes(0x2113, "pad_force_actual", i16, "ro", "0.01 N", "fingertip pad force"),
        _axes(0x2120, "max_tension", u16, "rw", "0.01 N", "tension clamp per axis (hard limit 200 N)",
              pdo=False, low=0, high=MAX_TENSION, default=MAX_TENSION),
        var(0x2030, "standstill_velocity", u32, "rw", unit="um/s", default=1000, low=0, high=1_000_000,
            desc="every |nut velocity| below this ends a quick-stop or fault-reaction hold"),
        var(0x2031, "communication_timeout", u16, "rw", unit="ms", default=100, low=1, high=10_000,
            desc="power stage on: no command (SYNC, RPDO, SDO download) for this long -> EMCY 0x8100, 0x6007 "
                 "reaction; always armed (no 0 = off)"),
        var(0x2040, "fault_injection", u16, "rw", default=0,
            desc="HIL: a non-zero CiA 402 error code raises that fault until 0 is written"),
        var(0x603F, "error_code", u16, "ro", pdo=True),
        var(0x6040, "controlword", u16, "rw", pdo=True),
        var(0x6041, "statusword", u16, "ro", pdo=True),
        var(0x605A, "quick_stop_option_code", i16, "rw", default=2, low=0, high=8),
        var(0x605E, "fault_reaction_option_code", i16, "rw", default=2, low=0, high=3),
        var(0x6060, "modes_of_operation", i8, "rw", pdo=True, default=-1, values=HAND_MODES,
            desc="0 none, -1 per-axis modes of 0x2100"),
        var(0x6061, "modes_of_operation_display", i8, "ro", pdo=True, default=-1),
        var(0x6502, "supported_drive_modes", u32, "ro", default=0x00010000, desc="bit 16: manufacturer mode -1"),
    ]
