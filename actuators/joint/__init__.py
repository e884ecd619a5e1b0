"""Integrated joint module: PMSM + reducer + encoders + torque sensor (plant, float64 numba) and
its firmware laws (FOC current loop, position/velocity/impedance/torque cascade; float32 law form).

    from cerebellum_rt.actuators.joint import JointModule, load_preset, MODE_CSP
    jm = JointModule(load_preset("knee"), current_loop_hz=20_000, seed=0)
    jm.command(MODE_CSP, 0.1, 0.0, 0.0, True); jm.advance(0.001); m = jm.read()
    buf = np.zeros(N_MEAS); jm.read_into(buf)   # per-tick, allocation-free (buf[M_POS], ...)
"""

from cerebellum_rt.actuators.joint.bank import JointBank
from cerebellum_rt.actuators.joint.module import (
    FAULT_OVERCURRENT,
    FAULT_OVERSPEED,
    FAULT_OVERTEMPERATURE,
    FAULT_OVERVOLTAGE,
    FAULT_POSITION_LIMIT,
    FAULT_TORQUE_SENSOR,
    FAULT_UNDERVOLTAGE,
    M_FAULT,
    M_ID,
    M_ILIM,
    M_IQ,
    M_POS,
    M_TCMD,
    M_TEMP,
    M_TS,
    M_VBUS,
    M_VEL,
    MODE_CSP,
    MODE_CST,
    MODE_CSV,
    MODE_IMPEDANCE,
    MODES,
    N_MEAS,
    JointMeasurement,
    JointModule,
    JointTruth,
)
from cerebellum_rt.actuators.joint.preset import JointPreset, load_preset, preset_names

__all__ = [
    "FAULT_OVERCURRENT",
    "FAULT_OVERSPEED",
    "FAULT_OVERTEMPERATURE",
    "FAULT_OVERVOLTAGE",
    "FAULT_POSITION_LIMIT",
    "FAULT_TORQUE_SENSOR",
    "FAULT_UNDERVOLTAGE",
    "MODES",
    "MODE_CSP",
    "MODE_CST",
    "MODE_CSV",
    "MODE_IMPEDANCE",
    "M_FAULT",
    "M_ID",
    "M_ILIM",
    "M_IQ",
    "M_POS",
    "M_TCMD",
    "M_TEMP",
    "M_TS",
    "M_VBUS",
    "M_VEL",
    "N_MEAS",
    "JointBank",
    "JointMeasurement",
    "JointModule",
    "JointPreset",
    "JointTruth",
    "load_preset",
    "preset_names",
]
