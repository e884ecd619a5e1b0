"""ESC register addresses and constants used by the emulator (ET1100-style register map)."""

from __future__ import annotations

TYPE, REVISION, BUILD, FMMU_COUNT, SM_COUNT, RAM_SIZE, PORT_DESC, FEATURES = 0x0000, 0x0001, 0x0002, 0x0004, 0x0005, 0x0006, 0x0007, 0x0008
STATION_ADDR, ALIAS = 0x0010, 0x0012
DL_CONTROL, DL_STATUS = 0x0100, 0x0110
AL_CONTROL, AL_STATUS, AL_CODE = 0x0120, 0x0130, 0x0134
PDI_CONTROL, PDI_CONFIG = 0x0140, 0x0150
ERR_COUNTERS = 0x0300
WD_DIVIDER, WD_TIME_PDI, WD_TIME_PD, WD_STATUS_PD, WD_COUNTER_PD = 0x0400, 0x0410, 0x0420, 0x0440, 0x0442
EEP_CONFIG, EEP_CONTROL, EEP_ADDRESS, EEP_DATA = 0x0500, 0x0502, 0x0504, 0x0508
FMMU_BASE, SM_BASE = 0x0600, 0x0800
DC_RECV_TIME, DC_SYS_TIME, DC_RECV_TIME_PU, DC_SYS_OFFSET, DC_SYS_DELAY = 0x0900, 0x0910, 0x0918, 0x0920, 0x0928
DC_CYCLIC_UNIT, DC_ACTIVATION, DC_SYNC0_START, DC_SYNC0_CYCLE = 0x0980, 0x0981, 0x0990, 0x09A0
RAM_START, MEM_SIZE = 0x1000, 0x2000

N_FMMU, N_SM = 8, 8
FEATURE_DC, FEATURE_DC64 = 0x0004, 0x0008

INIT, PREOP, BOOT, SAFEOP, OP = 0x01, 0x02, 0x03, 0x04, 0x08
AL_ERROR = 0x10
STATE_NAMES = {INIT: "INIT", PREOP: "PRE-OP", BOOT: "BOOT", SAFEOP: "SAFE-OP", OP: "OP"}

EEP_CMD_READ, EEP_CMD_WRITE, EEP_CMD_RELOAD = 0x0100, 0x0200, 0x0300
EEP_BUSY, EEP_READ8 = 0x8000, 0x0040
EEP_ERR_CMD = 0x0800  # command error; the other error bits (0x7000) stay clear

# writable areas of the register file (start, end exclusive); writes elsewhere are ignored
WRITABLE = ((0x0010, 0x0014), (0x0100, 0x0104), (0x0120, 0x0122), (0x0200, 0x0204), (0x0300, 0x0314),
            (0x0400, 0x0402), (0x0410, 0x0412), (0x0420, 0x0422), (0x0500, 0x0502), (0x0502, 0x0504),
            (0x0504, 0x0508), (0x0508, 0x0510), (0x0600, 0x0700), (0x0800, 0x0880), (0x0900, 0x0904),
            (0x0910, 0x0938), (0x0980, 0x09B0), (RAM_START, MEM_SIZE))

# AL status codes (ETG.1000.6 / SOEM ec_print.c), named for reports
AL_CODES = {
    0x0000: "no error", 0x0001: "unspecified error", 0x0002: "no memory", 0x0011: "invalid requested state change",
    0x0012: "unknown requested state", 0x0013: "bootstrap not supported", 0x0014: "no valid firmware",
    0x0015: "invalid mailbox configuration (BOOT)", 0x0016: "invalid mailbox configuration (PREOP)",
    0x0017: "invalid sync manager configuration", 0x0018: "no valid inputs available", 0x0019: "no valid outputs",
    0x001A: "synchronization error", 0x001B: "sync manager watchdog", 0x001C: "invalid sync manager types",
    0x001D: "invalid output configuration", 0x001E: "invalid input configuration",
    0x001F: "invalid watchdog configuration", 0x0020: "slave needs cold start", 0x0021: "slave needs INIT",
    0x0022: "slave needs PREOP", 0x0023: "slave needs SAFEOP", 0x0024: "invalid input mapping",
    0x0025: "invalid output mapping", 0x0026: "inconsistent settings", 0x0027: "freerun not supported",
    0x0028: "synchronization not supported", 0x002B: "no valid inputs and outputs", 0x002C: "fatal sync error",
    0x0030: "invalid DC SYNC configuration", 0x0032: "PLL error", 0x0050: "EEPROM no access", 0x0051: "EEPROM error",
    0x0060: "slave restarted locally",
}


def al_code_name(code: int) -> str:
    return AL_CODES.get(code, f"unknown AL status code 0x{code:04X}")
