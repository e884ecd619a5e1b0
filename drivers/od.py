"""The object dictionary table: one source for the board, the host codec, the EDS and the C struct.

Every CANopen object of a board type is one :class:`Obj` (index, name, kind) holding one
:class:`Entry` per sub-index with its data type, access, PDO mappability, unit, limits,
default and description. Everything else is generated from these tables:

* the emulated board's object store (:mod:`cerebellum_rt.drivers.board`),
* the host's batched PDO codec (``default_rpdos()`` / ``default_tpdos()`` give the layouts),
* the CiA 306 EDS file (:mod:`cerebellum_rt.drivers.eds`) and the firmware's C99 header (:mod:`cerebellum_rt.drivers.od_c`),
* the PDO communication / mapping objects 0x1400-0x1A03, built here from ``RPDO_SPEC`` /
  ``TPDO_SPEC`` (never a second hand-written copy of the mapping).

``build_table("joint" | "hand", fd=..., ratings=...)`` gives a board type's table (the hand's
objects live in :mod:`cerebellum_rt.drivers.od_hand`); ``JOINT`` is the default joint table.

Units of the joint board (CiA 402 process data):

* position: output-side counts, 2**20 per revolution: ``counts = rad * POSITION_COUNTS_PER_RAD``
* velocity: counts/s: ``counts/s = rad/s * VELOCITY_COUNTS_PER_RAD_S``
* torques 0x6071/0x6072/0x6074/0x6077/0x60B2: per mille of rated torque 0x6076 (mN·m):
  ``tau[N·m] = permille * rated_torque_mNm / 1e6``
* current 0x6078: per mille of rated current 0x6075 (mA): ``i[A] = permille * rated_current_mA / 1e6``
* torque sensor 0x2001: mN·m (i32); winding temperature 0x2002: 0.1 °C (i16).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cerebellum_rt.drivers.od_types import (  # noqa: F401  (re-exported: the table's vocabulary)
    ACCESS,
    DTYPES,
    INT_RANGES,
    KINDS,
    Entry,
    Obj,
    compound,
    sub,
    var,
)
from cerebellum_rt.rtcore.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# Units
POSITION_COUNTS_PER_REV = 2**20
POSITION_COUNTS_PER_RAD = POSITION_COUNTS_PER_REV / (2.0 * math.pi)
VELOCITY_COUNTS_PER_RAD_S = POSITION_COUNTS_PER_RAD  # counts/s per rad/s
TORQUE_PERMILLE = 1000.0  # 0x6071/0x6077...: value = 1000 * tau / rated_torque
CURRENT_PERMILLE = 1000.0  # 0x6078: value = 1000 * i / rated_current
TORQUE_SENSOR_MNM_PER_NM = 1000.0  # 0x2001
TEMPERATURE_PER_DEGC = 10.0  # 0x2002, 0.1 °C

# ---------------------------------------------------------------------------------------------
# The joint board's default process data (pdo.md), as (object index, subindex) lists.
# (kind, number 1..4, cob_id_base, enabled, [(index, subindex), ...])
RPDO_SPEC: tuple[tuple[int, int, bool, tuple[tuple[int, int], ...]], ...] = (
    (1, 0x200, True, ((0x6040, 0), (0x6060, 0), (0x607A, 0))),
    (2, 0x300, True, ((0x60B1, 0), (0x60B2, 0), (0x6071, 0))),
    (3, 0x400, False, ((0x60FF, 0),)),
    (4, 0x500, False, ()),
)
TPDO_SPEC: tuple[tuple[int, int, bool, tuple[tuple[int, int], ...]], ...] = (
    (1, 0x180, True, ((0x6041, 0), (0x6061, 0), (0x6064, 0))),
    (2, 0x280, True, ((0x606C, 0), (0x6077, 0), (0x6078, 0))),
    (3, 0x380, True, ((0x2001, 0), (0x6074, 0), (0x2002, 0))),
    (4, 0x480, False, ()),
)
PDO_NOT_VALID = 0x80000000
PDO_NO_RTR = 0x40000000
SYNC_COB_ID = 0x080
MAP_ENTRIES_CLASSIC = 8
MAP_ENTRIES_FD = 64


def _pdo_objects(objs: dict[int, Obj], spec, comm_base: int, map_base: int, tx: bool,
                 map_entries: int) -> list[Obj]:
    """PDO communication (0x1400/0x1800 + k) and mapping (0x1600/0x1A00 + k) objects from ``spec``."""
    out: list[Obj] = []
    word = "TPDO" if tx else "RPDO"
    for num, base, enabled, mapping in spec:
        ci, mi = comm_base + num - 1, map_base + num - 1
        cob = base | (0 if enabled else PDO_NOT_VALID) | PDO_NO_RTR
        subs = [
            sub(ci, 1, "cob_id", "UNSIGNED32", "rw", default=cob, relative=True,
                desc="bit 31 = PDO not valid, bit 30 = no RTR, bits 0-10 = CAN-ID"),
            sub(ci, 2, "transmission_type", "UNSIGNED8", "rw", default=1, low=0, high=255,
                desc="0 acyclic sync, 1-240 every n-th SYNC, 254/255 event-driven"),
        ]
        if tx:
            subs.append(sub(ci, 3, "inhibit_time", "UNSIGNED16", "rw", unit="100 us", default=0,
                            desc="minimum gap between event-driven TPDOs"))
        subs.append(sub(ci, 5, "event_timer", "UNSIGNED16", "rw", unit="ms", default=0,
                        desc="TPDO: period for event-driven types; RPDO: deadline monitoring (EMCY 0x8250), 0 = off"))
        if tx:
            subs.append(sub(ci, 6, "sync_start_value", "UNSIGNED8", "rw", default=0, high=240,
                            desc="0 = ignore the SYNC counter"))
        out.append(compound(ci, f"{word}{num} communication parameter", "RECORD", subs))
        msubs = []
        for k in range(1, map_entries + 1):
            val = 0
            if k <= len(mapping):
                idx, si = mapping[k - 1]
                val = (idx << 16) | (si << 8) | objs[idx].sub(si).bits
            msubs.append(sub(mi, k, f"mapped_object_{k}", "UNSIGNED32", "rw", default=val,
                             desc="index << 16 | subindex << 8 | length in bits"))
        mo = compound(mi, f"{word}{num} mapping parameter", "RECORD", msubs, sub0_access="rw")
        s0 = Entry(mi, 0, "number_of_mapped_objects", "UNSIGNED8", "rw", False, "", 0, map_entries,
                   len(mapping), "0 = mapping disabled; write only while the PDO is not valid")
        out.append(Obj(mi, mo.name, "RECORD", (s0, *mo.entries[1:])))
    return out


@dataclass
class Table:
    """The object dictionary of one board type: objects by index, plus board facts."""

    board: str
    objects: dict[int, Obj] = field(default_factory=dict)
    fd: bool = False

    def entry(self, index: int, subindex: int = 0) -> Entry:
        obj = self.objects.get(index)
        e = obj.sub(subindex) if obj else None
        if e is None:
            raise ConfigError(f"{self.board} board: object 0x{index:04X}sub{subindex} is not in the table")
        return e

    def entries(self) -> Iterable[Entry]:
        for obj in self.objects.values():
            yield from obj.entries

    def pdo_layout(self, tx: bool, include_disabled: bool = False) -> list[tuple[int, list[tuple[str, str]]]]:
        """Default PDO layouts as data: [(cob_id_base, [(name, numpy dtype), ...]), ...].

        ``cob_id_base`` excludes the node-ID (add it: 0x180 + n). dtypes are little-endian numpy
        strings ('<u2', 'i1', '<i4', ...); concatenated in order they give the frame payload.
        """
        base = 0x1A00 if tx else 0x1600
        comm = 0x1800 if tx else 0x1400
        out = []
        for k in range(4):
            if base + k not in self.objects:
                continue
            cob = int(self.entry(comm + k, 1).default)
            if cob & PDO_NOT_VALID and not include_disabled:
                continue
            mobj = self.objects[base + k]
            n = int(mobj.entries[0].default)
            fields = []
            for e in mobj.entries[1 : n + 1]:
                idx, si = int(e.default) >> 16, (int(e.default) >> 8) & 0xFF
                m = self.entry(idx, si)
                fields.append((m.name, m.np_dtype))
            if fields:
                out.append((cob & 0x7FF, fields))
        return out


def _add(table: Table, objs: Iterable[Obj]) -> None:
    for o in objs:
        if o.index in table.objects:
            raise ConfigError(f"{table.board} board: object 0x{o.index:04X} defined twice")
        table.objects[o.index] = o


# ---------------------------------------------------------------------------------------------
# Rated values and hard limits of a joint board. The default is an RS-03-class module (20 N·m
# rated, 60 N·m peak, 10 A continuous, ±20 rad/s; DATASHEETS.md §1); a board built in front of
# an actuators.joint module takes them from its preset (JointRatings.from_preset).


@dataclass(frozen=True)
class JointRatings:
    """Per-module figures that the joint table's rated values, hard limits and defaults come from."""

    rated_torque_nm: float = 20.0
    rated_current_a: float = 10.0
    peak_torque_nm: float = 60.0
    max_velocity_rad_s: float = 20.0
    position_min_rad: float | None = None
    position_max_rad: float | None = None
    max_winding_temp_c: float = 120.0
    position_kp: float = 125.0  # [1/s]
    velocity_kp: float = 8.0  # [N·m·s/rad]
    velocity_ki: float = 1000.0  # [N·m/rad]
    # impedance mode (-1): hard limits and defaults of 0x2011 (actuators.joint.gains.impedance_limits)
    max_stiffness_nm_per_rad: float = 2000.0
    max_damping_nm_s_per_rad: float = 40.0
    impedance_stiffness: float = 125.0  # [N·m/rad]
    impedance_damping: float = 1.5  # [N·m·s/rad]

    @classmethod
    def from_preset(cls, preset: Any, **overrides: float) -> JointRatings:
        """The ratings of an ``cerebellum_rt.actuators.joint`` preset (duck-typed: rated/peak torque, limits...)."""
        lo, hi = preset.position_limits_rad
        vals = dict(rated_torque_nm=preset.rated_torque_nm, rated_current_a=preset.rated_current_a,
                    peak_torque_nm=preset.peak_torque_nm, max_velocity_rad_s=preset.max_velocity_rad_s,
                    position_min_rad=lo, position_max_rad=hi, max_winding_temp_c=preset.limits.temperature_max_c)
        return cls(**{**vals, **overrides})

    @property
    def rated_torque_mnm(self) -> int:
        return max(1, round(self.rated_torque_nm * 1000.0))

    @property
    def rated_current_ma(self) -> int:
        return max(1, round(self.rated_current_a * 1000.0))

    @property
    def max_torque_permille(self) -> int:
        return min(32767, round(self.peak_torque_nm / self.rated_torque_nm * 1000.0))

    @property
    def max_velocity_counts(self) -> int:
        return min(2**31 - 1, round(self.max_velocity_rad_s * VELOCITY_COUNTS_PER_RAD_S))


DEFAULT_RATINGS = JointRatings()
STORE_SIGNATURE = 0x65766173  # "save"
RESTORE_SIGNATURE = 0x64616F6C  # "load"
DEVICE_TYPE_SERVO = 0x00020192
MODE_IMPEDANCE = -1  # manufacturer-specific: tau = tau_ff + K (q* - q) + D (w_ff - w), K D in 0x2011
SUPPORTED_MODES = 0x10380  # CSP (8), CSV (9), CST (10); bit 16 (manufacturer-specific): impedance (-1)
# Identity (0x1018:1, EDS VendorNumber, ESI Vendor/Id, SII words 0x08-0x09): one value everywhere.
# The project holds no CiA/ETG-assigned vendor ID; this is its own ID ('CRBL'), to be replaced by
# an assigned one before boards are sold to third parties.
VENDOR_ID = 0x4352424C
VENDOR_NAME = "cerebellum project"
MODES = (MODE_IMPEDANCE, 0, 8, 9, 10)


def comm_objects(product_code: int, device_name: str) -> list[Obj]:
    """CiA 301 communication objects common to every board type (PDO objects come from the spec)."""
    u32, u16, u8 = "UNSIGNED32", "UNSIGNED16", "UNSIGNED8"
    return [
        var(0x1000, "device_type", u32, "const", default=DEVICE_TYPE_SERVO,
            desc="0x0192 = CiA 402, type 0x02 = servo drive"),
        var(0x1001, "error_register", u8, "ro", pdo=True,
            desc="bit 0 generic, 1 current, 2 voltage, 3 temperature, 4 communication, 5 profile, 7 manufacturer"),
        Obj(0x1003, "pre_defined_error_field", "ARRAY", (
            Entry(0x1003, 0, "number_of_errors", u8, "rw", False, "", 0, 8, 0,
                  "errors in the history; write 0 to clear it (other values abort 0x06090030)", values=(0,)),
            *[sub(0x1003, k, f"standard_error_field_{k}", u32, "ro", desc="bits 0-15 error code, newest in sub 1")
              for k in range(1, 9)],
        ), "error history"),
        var(0x1005, "cob_id_sync", u32, "rw", default=SYNC_COB_ID, low=0, high=0x7FF,
            desc="the board consumes SYNC; bit 30 (producer) is not supported"),
        var(0x1006, "communication_cycle_period", u32, "rw", unit="us", default=1000, low=100, high=1_000_000,
            desc="SYNC period: the plant advances this much per SYNC"),
        var(0x1008, "manufacturer_device_name", "VISIBLE_STRING", "const", default=device_name),
        var(0x1009, "manufacturer_hardware_version", "VISIBLE_STRING", "const", default="emulated-1"),
        var(0x100A, "manufacturer_software_version", "VISIBLE_STRING", "const", default="cerebellum 0.1.0"),
        compound(0x1010, "store_parameters", "ARRAY",
                 [sub(0x1010, k, n, u32, "rw", default=1, desc='write 0x65766173 ("save"); reads 1 = saves on command')
                  for k, n in ((1, "save_all_parameters"), (2, "save_communication_parameters"),
                               (3, "save_application_parameters"))]),
        compound(0x1011, "restore_default_parameters", "ARRAY",
                 [sub(0x1011, k, n, u32, "rw", default=1,
                      desc='write 0x64616F6C ("load"); defaults are active after the next reset')
                  for k, n in ((1, "restore_all_default_parameters"), (2, "restore_communication_default_parameters"),
                               (3, "restore_application_default_parameters"))]),
        var(0x1014, "cob_id_emcy", u32, "rw", default=0x80, relative=True, desc="bit 31 = EMCY not valid"),
        compound(0x1016, "consumer_heartbeat_time", "ARRAY",
                 [sub(0x1016, k, f"consumer_heartbeat_time_{k}", u32, "rw", unit="ms",
                      desc="bits 16-23 node-ID watched, bits 0-15 timeout in ms, 0 = unused") for k in range(1, 5)]),
        var(0x1017, "producer_heartbeat_time", u16, "rw", unit="ms", default=100, desc="0 = off"),
        compound(0x1018, "identity_object", "RECORD", [
            sub(0x1018, 1, "vendor_id", u32, "ro", default=VENDOR_ID, desc="the project's vendor ID (VENDOR_ID)"),
            sub(0x1018, 2, "product_code", u32, "ro", default=product_code),
            sub(0x1018, 3, "revision_number", u32, "ro", default=0x00010000, desc="major.minor in the upper/lower 16 bits"),
            sub(0x1018, 4, "serial_number", u32, "ro", default=0, desc="set per board"),
        ]),
        var(0x6007, "abort_connection_option_code", "INTEGER16", "rw", default=3, low=0, high=3,
            desc="on heartbeat/SYNC/RPDO loss: 0 none, 1 fault (0x605E), 2 disable voltage, 3 quick stop (0x605A)"),
    ]


# CiA 302-3 program download (the contract is cerebellum_rt.drivers.flash's module docstring)
PROGRAM_CONTROL_STOP, PROGRAM_CONTROL_START, PROGRAM_CONTROL_RESET, PROGRAM_CONTROL_CLEAR = 0, 1, 2, 3
PROGRAM_CONTROL_CONFIRM = 0x80  # manufacturer value: confirm the running (test-booted) image
PROGRAM_CONTROL_VALUES = (PROGRAM_CONTROL_STOP, PROGRAM_CONTROL_START, PROGRAM_CONTROL_RESET,
                          PROGRAM_CONTROL_CLEAR, PROGRAM_CONTROL_CONFIRM)
FLASH_PROGRAM_UNIT = 8  # bytes: the flash programs whole 8-byte units; resume offsets are multiples
SLOT_SIZE_DEFAULT = 65536  # bytes of one image slot (firmware layout: 32 KiB boot + 2 x 64 KiB + store)


def program_download_objects(product_code: int) -> list[Obj]:
    """CiA 302-3 program download objects (0x1F50/0x1F51/0x1F56/0x1F57) and the manufacturer's
    download state 0x5F50 (resume offset, slot size, board type the image must carry)."""
    u8, u32 = "UNSIGNED8", "UNSIGNED32"
    return [
        compound(0x1F50, "program_data", "ARRAY", [
            sub(0x1F50, 1, "program_data", "DOMAIN", "wo", default=b"", unit="bytes",
                desc="image bytes for the inactive slot, appended at 0x5F50:1; SDO block download (segmented "
                     "accepted); every acknowledged sub-block is programmed before the ack"),
        ], "CiA 302-3 program download"),
        compound(0x1F51, "program_control", "ARRAY", [
            sub(0x1F51, 1, "program_control", u8, "rw", default=0, values=PROGRAM_CONTROL_VALUES,
                desc="write 0 stop, 1 start (verify, test boot), 2 reset, 3 clear, 0x80 confirm; read 0 stopped, "
                     "1 running"),
        ], "CiA 302-3 program control"),
        compound(0x1F56, "program_software_identification", "ARRAY", [
            sub(0x1F56, 1, "program_software_identification", u32, "ro", default=0,
                desc="version of the running image: major << 24 | minor << 16 | revision"),
        ]),
        compound(0x1F57, "flash_status_identification", "ARRAY", [
            sub(0x1F57, 1, "flash_status_identification", u32, "ro", default=0,
                desc="bit 0 busy; bits 1-7 error (CiA 302-3 0-7, manufacturer 8-13); bit 16 active slot, "
                     "bit 17 test boot"),
        ]),
        compound(0x5F50, "program_download", "RECORD", [
            sub(0x5F50, 1, "offset", u32, "rw", default=0, unit="bytes",
                desc="read: bytes programmed and acknowledged in the inactive slot; write: resume there (<= the "
                     f"programmed bytes, a multiple of {FLASH_PROGRAM_UNIT})"),
            sub(0x5F50, 2, "slot_size", u32, "ro", default=SLOT_SIZE_DEFAULT, unit="bytes",
                desc="bytes of one image slot"),
            sub(0x5F50, 3, "board_type", u32, "ro", default=product_code,
                desc="the product code (0x1018:2) that an image must carry in its TLV 0xA0"),
            sub(0x5F50, 4, "security_counter", u32, "ro", default=0,
                desc="the installed security counter: an image below it is refused"),
            sub(0x5F50, 5, "key_id", u32, "ro", default=0,
                desc="first 4 bytes (little endian) of the trusted key's MCUboot KEYHASH; 0 = no key"),
        ], "manufacturer: program download state"),
    ]


def joint_objects(r: JointRatings = DEFAULT_RATINGS) -> list[Obj]:
    """Manufacturer (0x2000+) and CiA 402 (0x6000+) objects of the joint board."""
    max_t, max_v = r.max_torque_permille, r.max_velocity_counts
    pmin = -(2**31) if r.position_min_rad is None else round(r.position_min_rad * POSITION_COUNTS_PER_RAD)
    pmax = 2**31 - 1 if r.position_max_rad is None else round(r.position_max_rad * POSITION_COUNTS_PER_RAD)
    i8, i16, i32 = "INTEGER8", "INTEGER16", "INTEGER32"
    u16, u32, f32 = "UNSIGNED16", "UNSIGNED32", "REAL32"
    return [
        var(0x2001, "torque_sensor", i32, "ro", pdo=True, unit="mN·m", desc="output-side torque sensor reading"),
        var(0x2002, "winding_temperature", i16, "ro", pdo=True, unit="0.1 °C", desc="motor winding temperature"),
        compound(0x2010, "gains", "RECORD", [
            sub(0x2010, 1, "position_kp", f32, "rw", unit="1/s", low=0.0, high=2000.0, default=r.position_kp,
                desc="position loop: v_ref = kp (q_ref - q) + v_ff"),
            sub(0x2010, 2, "velocity_kp", f32, "rw", unit="N·m·s/rad", low=0.0, high=500.0, default=r.velocity_kp,
                desc="velocity loop: tau = kp (v_ref - v) + ki integral(v_ref - v) + tau_ff"),
            sub(0x2010, 3, "velocity_ki", f32, "rw", unit="N·m/rad", low=0.0, high=1e5, default=r.velocity_ki),
        ], "firmware cascade gains"),
        compound(0x2011, "impedance", "RECORD", [
            sub(0x2011, 1, "impedance_stiffness", f32, "rw", unit="N·m/rad", low=0.0,
                high=r.max_stiffness_nm_per_rad, default=r.impedance_stiffness,
                desc="impedance mode (0x6060 = -1): tau = tau_ff (0x60B2) + K (q* (0x607A) - q) + D (w_ff (0x60B1) - w)"),
            sub(0x2011, 2, "impedance_damping", f32, "rw", unit="N·m·s/rad", low=0.0,
                high=r.max_damping_nm_s_per_rad, default=r.impedance_damping, desc="D of the impedance mode"),
        ], "impedance mode gains"),
        compound(0x2020, "hard_limits", "RECORD", [
            sub(0x2020, 1, "hard_max_torque", u16, "const", unit="‰", default=max_t,
                desc="upper bound of 0x6072"),
            sub(0x2020, 2, "hard_max_velocity", u32, "const", unit="counts/s", default=max_v,
                desc="upper bound of 0x6080"),
            sub(0x2020, 3, "hard_max_winding_temperature", i16, "const", unit="0.1 °C",
                default=round(r.max_winding_temp_c * TEMPERATURE_PER_DEGC),
                desc="over-temperature fault (EMCY 0x4310) above this"),
            sub(0x2020, 4, "hard_max_stiffness", f32, "const", unit="N·m/rad", default=r.max_stiffness_nm_per_rad,
                desc="upper bound of 0x2011:1"),
            sub(0x2020, 5, "hard_max_damping", f32, "const", unit="N·m·s/rad", default=r.max_damping_nm_s_per_rad,
                desc="upper bound of 0x2011:2"),
        ]),
        var(0x2030, "standstill_velocity", u32, "rw", unit="counts/s", default=int(0.05 * VELOCITY_COUNTS_PER_RAD_S),
            low=0, high=max_v, desc="|velocity| below this ends a quick-stop or fault-reaction ramp"),
        var(0x2031, "communication_timeout", u16, "rw", unit="ms", default=100, low=1, high=10_000,
            desc="power stage on: no command (SYNC, RPDO, SDO download) for this long -> EMCY 0x8100, 0x6007 "
                 "reaction; always armed (no 0 = off)"),
        var(0x2040, "fault_injection", u16, "rw", default=0,
            desc="HIL: a non-zero CiA 402 error code raises that fault until 0 is written"),
        var(0x2050, "calibration_data", "DOMAIN", "rw", default=b"", high=4096, unit="bytes",
            desc="opaque calibration blob (encoder offsets, torque-sensor fit) of up to 4096 bytes, kept by 0x1010"),
        var(0x603F, "error_code", u16, "ro", pdo=True, desc="last CiA 402 error code (same as EMCY)"),
        var(0x6040, "controlword", u16, "rw", pdo=True, desc="CiA 402 controlword"),
        var(0x6041, "statusword", u16, "ro", pdo=True, desc="CiA 402 statusword"),
        var(0x605A, "quick_stop_option_code", i16, "rw", default=2, low=0, high=8,
            desc="0 coast; 1/2/3/4 slow-down ramp/quick-stop ramp/current limit/voltage limit then disable; 5-8 same and stay"),
        var(0x605D, "halt_option_code", i16, "rw", default=1, low=1, high=3,
            desc="1 slow-down ramp, 2 quick-stop ramp, 3 current limit"),
        var(0x605E, "fault_reaction_option_code", i16, "rw", default=2, low=0, high=3,
            desc="0 coast, 1 slow-down ramp, 2 quick-stop ramp, 3 current limit"),
        var(0x6060, "modes_of_operation", i8, "rw", pdo=True, default=8, values=MODES,
            desc="0 none, 8 CSP, 9 CSV, 10 CST, -1 impedance (manufacturer-specific)"),
        var(0x6061, "modes_of_operation_display", i8, "ro", pdo=True, default=8),
        var(0x6064, "position_actual", i32, "ro", pdo=True, unit="counts", desc="2**20 counts per output revolution"),
        var(0x6065, "following_error_window", u32, "rw", unit="counts", default=POSITION_COUNTS_PER_REV // 36,
            desc="CSP: |target - actual| above this sets statusword bit 13"),
        var(0x606C, "velocity_actual", i32, "ro", pdo=True, unit="counts/s"),
        var(0x6071, "target_torque", i16, "rw", pdo=True, unit="‰",
            low=-max_t, high=max_t, desc="CST target, per mille of 0x6076"),
        var(0x6072, "max_torque", u16, "rw", unit="‰", default=max_t, low=0, high=max_t,
            desc="torque clamp, per mille of 0x6076"),
        var(0x6074, "torque_demand", i16, "ro", pdo=True, unit="‰"),
        var(0x6075, "motor_rated_current", u32, "const", unit="mA", default=r.rated_current_ma),
        var(0x6076, "motor_rated_torque", u32, "const", unit="mN·m", default=r.rated_torque_mnm),
        var(0x6077, "torque_actual", i16, "ro", pdo=True, unit="‰"),
        var(0x6078, "current_actual", i16, "ro", pdo=True, unit="‰", desc="per mille of 0x6075"),
        var(0x607A, "target_position", i32, "rw", pdo=True, unit="counts", desc="CSP target"),
        compound(0x607D, "software_position_limit", "ARRAY", [
            sub(0x607D, 1, "min_position_limit", i32, "rw", unit="counts", default=pmin, low=pmin, high=pmax),
            sub(0x607D, 2, "max_position_limit", i32, "rw", unit="counts", default=pmax, low=pmin, high=pmax),
        ], "CSP targets are clamped to [min, max]"),
        var(0x6080, "max_motor_speed", u32, "rw", unit="counts/s", default=max_v, low=0,
            high=max_v, desc="velocity clamp (output side, in velocity units)"),
        var(0x6084, "profile_deceleration", u32, "rw", unit="counts/s²", default=int(50.0 * VELOCITY_COUNTS_PER_RAD_S),
            low=1, high=2**31 - 1, desc="slow-down ramp"),
        var(0x6085, "quick_stop_deceleration", u32, "rw", unit="counts/s²",
            default=int(200.0 * VELOCITY_COUNTS_PER_RAD_S), low=1, high=2**31 - 1, desc="quick-stop ramp"),
        var(0x60B1, "velocity_offset", i32, "rw", pdo=True, unit="counts/s", desc="CSP/CSV velocity feed-forward"),
        var(0x60B2, "torque_offset", i16, "rw", pdo=True, unit="‰",
            low=-max_t, high=max_t, desc="torque feed-forward"),
        var(0x60FF, "target_velocity", i32, "rw", pdo=True, unit="counts/s", desc="CSV target"),
        var(0x6502, "supported_drive_modes", u32, "ro", default=SUPPORTED_MODES, desc="CSP, CSV, CST, impedance (bit 16)"),
    ]



def build_table(board: str = "joint", *, fd: bool = False, ratings: JointRatings | None = None) -> Table:
    """The object dictionary of ``board`` ('joint' or 'hand'); ``fd`` = CANopen FD (64 map entries);
    ``ratings``: the joint module's figures (default: :data:`DEFAULT_RATINGS`)."""
    if board == "joint":
        app = joint_objects(ratings or DEFAULT_RATINGS)
        rspec, tspec = RPDO_SPEC, TPDO_SPEC
        product, name = 0x4A4E5431, "cerebellum joint board"  # 'JNT1'
    elif board == "hand":
        from cerebellum_rt.drivers.od_hand import HAND_RPDO_SPEC, HAND_TPDO_SPEC, hand_objects

        app = hand_objects()
        rspec, tspec = HAND_RPDO_SPEC, HAND_TPDO_SPEC
        product, name = 0x48414E31, "cerebellum tendon hand board"  # 'HAN1'
    else:
        raise ConfigError(f"board type {board!r} is not one of 'joint', 'hand'")
    t = Table(board=board, fd=fd)
    _add(t, comm_objects(product, name))
    _add(t, program_download_objects(product))
    _add(t, app)
    entries = MAP_ENTRIES_FD if fd else MAP_ENTRIES_CLASSIC
    _add(t, _pdo_objects(t.objects, rspec, 0x1400, 0x1600, False, entries))
    _add(t, _pdo_objects(t.objects, tspec, 0x1800, 0x1A00, True, entries))
    t.objects = dict(sorted(t.objects.items()))
    return t


JOINT = build_table("joint")


def default_rpdos(table: Table = JOINT, include_disabled: bool = False) -> list[tuple[int, list[tuple[str, str]]]]:
    """RPDO layouts (host -> board) as data: [(cob_id_base, [(name, dtype), ...]), ...]."""
    return table.pdo_layout(tx=False, include_disabled=include_disabled)


def default_tpdos(table: Table = JOINT, include_disabled: bool = False) -> list[tuple[int, list[tuple[str, str]]]]:
    """TPDO layouts (board -> host) as data: [(cob_id_base, [(name, dtype), ...]), ...]."""
    return table.pdo_layout(tx=True, include_disabled=include_disabled)
