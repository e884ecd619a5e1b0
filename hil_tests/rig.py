"""The HIL rig file (RIG.toml): buses, the boards on each bus, the cycle rate.

Format (every key is checked; errors name the file, the key, the value and the limit)::

    rate_hz = 1000                 # cycle rate of the host loop, Hz, [1, 10000]

    [[bus]]
    name = "legs"                  # unique, [A-Za-z0-9_-]+
    interface = "slcan"            # python-can interface name, or "emulated" / "virtual";
                                   # `cbl emulate` serves "slcan" buses on pseudo-terminals
    channel = ""                   # optional: /dev/pts/N, can0, ... (emulate fills it in)
    bitrate = 1000000              # nominal bit rate, bit/s (a standard CAN rate)
    fd = false                     # CAN-FD frames
    data_bitrate = 5000000         # FD data-phase bit rate, bit/s, [bitrate, 8000000]; FD only
    boards_per_process = 0         # emulate: split this bus's boards over processes (0 = one)
    pdo_packing = false            # CANopen FD: one RPDO + one TPDO per board (needs fd = true)
    pdo_compact = false            # classic CAN: one 8-byte RPDO + TPDO per joint board
                                   # (drivers.can.layout.compact; the host remaps the boards by SDO)

      [[bus.board]]               # at least one per bus
      node = 1                     # CANopen node id, [1, 127], unique on the bus
      type = "joint"               # "joint" | "hand"
      preset = "knee"              # actuator preset: a shipped name (actuators/presets/<preset>.toml)
                                   # or a .toml path relative to the rig file, inside its directory;
                                   # optional (joint: no plant; hand: hand_prs6)

    [plant]                        # optional: what the boards move
    kind = "presets"               # "presets" (default): each joint board its preset's module;
                                   # "body": a whole body plugged in by the run (the pytest
                                   # plugin's ``robot_body`` fixture, a session's ``body``)
    model = "g1"                   # body: the model's name or path, for the body to load
    [plant.joints]                 # body: "bus/node" = the body's joint name
    "legs/1" = "left_hip_pitch_joint"

A bus's ``interface = "ethercat"`` is reserved (EtherCAT rigs): the loader refuses it with a
one-line error until sessions serve EtherCAT.

The interface must be one python-can knows (``can.interfaces.VALID_INTERFACES``) or
``emulated``; every preset is loaded and validated when the rig is (a binary or broken preset
is a one-line error naming it).
      firmware = "c"               # "c" (default): the board's C firmware image through cffi
                                   # (joint and hand, classic CAN or CAN FD);
                                   # "python": the executable specification (drivers/board);
                                   # "qemu": the Cortex-M4F image under QEMU (classic CAN)

Example rigs ship in ``hil_tests/rigs/``. :func:`default_rig` is what ``cbl emulate`` starts
with no file: one bus, six joint boards at node ids 1-6.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cerebellum_rt.rtcore.errors import ConfigError

INTERFACES_EXTRA = ("emulated",)
BOARD_TYPES = ("joint", "hand")
FIRMWARES = ("python", "c", "qemu")
# What a board runs when nothing names its firmware (rig key, --firmware): the C image that is
# flashed, since the differential tests (tests/firmware) show it replies as the specification does.
DEFAULT_FIRMWARE = "c"
CLASSIC_BITRATES = (10_000, 20_000, 50_000, 83_300, 100_000, 125_000, 250_000, 500_000, 750_000, 1_000_000)
RIGS_DIR = Path(__file__).parent / "rigs"


@dataclass(frozen=True)
class BoardSpec:
    node: int
    type: str = "joint"
    preset: str | None = None
    firmware: str = DEFAULT_FIRMWARE


@dataclass(frozen=True)
class BusSpec:
    name: str
    interface: str = "slcan"
    channel: str = ""
    bitrate: int = 1_000_000
    fd: bool = False
    data_bitrate: int | None = None
    boards: tuple[BoardSpec, ...] = ()
    boards_per_process: int = 0
    pdo_packing: bool = False
    pdo_compact: bool = False

    @property
    def nodes(self) -> list[int]:
        return [b.node for b in self.boards]


@dataclass(frozen=True)
class PlantSpec:
    """What a rig's boards move: their presets' modules, or a body the run plugs in."""

    kind: str = "presets"
    model: str | None = None
    joints: tuple[tuple[str, str], ...] = ()  # ("bus/node", joint name)


PLANT_KINDS = ("presets", "body")


@dataclass(frozen=True)
class Rig:
    rate_hz: float = 1000.0
    buses: tuple[BusSpec, ...] = ()
    source: str = "<default>"
    extra: dict[str, Any] = field(default_factory=dict)
    plant: PlantSpec = PlantSpec()


def default_rig() -> Rig:
    """One SLCAN bus at 1 Mbit/s with six joint boards (node ids 1-6, knee preset)."""
    boards = tuple(BoardSpec(n, "joint", "knee") for n in range(1, 7))
    return Rig(1000.0, (BusSpec("bus0", "slcan", "", 1_000_000, False, None, boards),), "<default>")


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, value: Any, limit: str) -> ConfigError:
        return ConfigError(f"rig {self.source}: {key} = {value!r} {limit}")

    def get(self, table: dict, key: str, where: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in table:
            if default is ...:
                raise ConfigError(f"rig {self.source}: {where}{key} is missing")
            return default
        v = table[key]
        if kind in (int, float) and isinstance(v, bool):
            raise self.fail(where + key, v, f"is not a {kind.__name__}")
        if kind is float and isinstance(v, int):
            v = float(v)
        if not isinstance(v, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(where + key, v, f"is not a {names}")
        return v

    def in_range(self, key: str, v: float, lo: float, hi: float) -> None:
        if not lo <= v <= hi:
            raise self.fail(key, v, f"is out of range [{lo}, {hi}]")


def load_board_preset(btype: str, preset: str | None) -> Any:
    """The actuator preset of a board (joint: ``JointPreset`` or None without a preset; hand:
    ``HandPreset``, default hand_prs6), loaded and validated; ConfigError (one line) if it is
    missing, not text, or broken."""
    try:
        if btype == "joint":
            if preset is None:
                return None
            from cerebellum_rt.actuators.joint import load_preset

            return load_preset(preset)
        from cerebellum_rt.actuators.hand.preset import load_preset as load_hand_preset

        return load_hand_preset(preset or "hand_prs6")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{btype} preset {preset}: not a text file (byte {exc.start} is not UTF-8)") from exc
    except OSError as exc:
        raise ConfigError(f"{btype} preset {preset}: cannot read ({exc.strerror})") from exc


def _preset_path(c: _Checker, key: str, preset: str, base: Path | None) -> str:
    """A shipped preset name as is; a path resolved against the rig's directory, which must hold it."""
    if not preset.endswith(".toml") and "/" not in preset:
        return preset
    root = (base or Path.cwd()).resolve()
    p = (root / preset).resolve()
    if not p.is_relative_to(root):
        raise c.fail(key, preset, f"is outside the rig's directory {root}")
    return str(p)


def check_firmware(firmware: str, fd: bool, fail: Any) -> None:
    """A board's firmware choice (any board type): 'c' on classic CAN or CAN FD, 'qemu' on classic CAN."""
    if firmware not in FIRMWARES:
        raise fail(f"is not one of {list(FIRMWARES)}")
    if firmware == "qemu" and fd:
        raise fail("needs a classic CAN bus (the QEMU link carries classic frames only)")


def _known_interfaces() -> tuple[str, ...]:
    import can.interfaces

    return (*sorted(can.interfaces.VALID_INTERFACES), *INTERFACES_EXTRA)


def parse_rig(data: dict[str, Any], source: str = "<dict>", base: Path | None = None) -> Rig:
    """Validate a rig given as the dict a TOML file loads to (``base``: the directory preset
    paths are relative to, default the current directory)."""
    c = _Checker(source)
    known = {"rate_hz", "bus", "plant"}
    for k in data:
        if k not in known:
            raise c.fail(k, data[k], f"is not a rig key (keys: {sorted(known)})")
    rate = c.get(data, "rate_hz", "", float, 1000.0)
    c.in_range("rate_hz", rate, 1.0, 10_000.0)
    raw_buses = c.get(data, "bus", "", list, [])
    if not raw_buses:
        raise ConfigError(f"rig {source}: no [[bus]] table (a rig needs at least one bus)")
    buses, names = [], set()
    bus_keys = {"name", "interface", "channel", "bitrate", "fd", "data_bitrate", "board", "boards_per_process",
                "pdo_packing", "pdo_compact"}
    for i, b in enumerate(raw_buses):
        w = f"bus[{i}]."
        if not isinstance(b, dict):
            raise c.fail(f"bus[{i}]", b, "is not a table")
        for k in b:
            if k not in bus_keys:
                raise c.fail(w + k, b[k], f"is not a bus key (keys: {sorted(bus_keys)})")
        name = c.get(b, "name", w, str, f"bus{i}")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise c.fail(w + "name", name, "must match [A-Za-z0-9_-]+")
        if name in names:
            raise c.fail(w + "name", name, "is used by another bus")
        names.add(name)
        w = f"bus '{name}'."
        interface = c.get(b, "interface", w, str, "slcan")
        if interface == "ethercat":
            raise c.fail(w + "interface", interface, "is reserved for EtherCAT rigs (not served by a rig yet)")
        if interface not in _known_interfaces():
            raise c.fail(w + "interface", interface, f"is not one of {list(_known_interfaces())}")
        channel = c.get(b, "channel", w, str, "")
        bitrate = c.get(b, "bitrate", w, int, 1_000_000)
        if bitrate not in CLASSIC_BITRATES:
            raise c.fail(w + "bitrate", bitrate, f"is not one of {list(CLASSIC_BITRATES)} bit/s")
        fd = c.get(b, "fd", w, bool, False)
        data_bitrate = c.get(b, "data_bitrate", w, int, None)
        if data_bitrate is not None:
            if not fd:
                raise c.fail(w + "data_bitrate", data_bitrate, "needs fd = true")
            c.in_range(w + "data_bitrate", data_bitrate, bitrate, 8_000_000)
        packing = c.get(b, "pdo_packing", w, bool, False)
        if packing and not fd:
            raise c.fail(w + "pdo_packing", packing, "needs fd = true (packed PDOs are longer than 8 bytes)")
        compact = c.get(b, "pdo_compact", w, bool, False)
        if compact and packing:
            raise c.fail(w + "pdo_compact", compact, "excludes pdo_packing = true (choose one PDO layout)")
        per_proc = c.get(b, "boards_per_process", w, int, 0)
        c.in_range(w + "boards_per_process", per_proc, 0, 127)
        boards, nodes = [], set()
        for j, bd in enumerate(c.get(b, "board", w, list, [])):
            wb = f"{w}board[{j}]."
            if not isinstance(bd, dict):
                raise c.fail(f"{w}board[{j}]", bd, "is not a table")
            for k in bd:
                if k not in ("node", "type", "preset", "firmware"):
                    raise c.fail(wb + k, bd[k], "is not a board key (keys: ['firmware', 'node', 'preset', 'type'])")
            node = c.get(bd, "node", wb, int)
            c.in_range(wb + "node", node, 1, 127)
            if node in nodes:
                raise c.fail(wb + "node", node, f"is used by another board on bus '{name}'")
            nodes.add(node)
            btype = c.get(bd, "type", wb, str, "joint")
            if btype not in BOARD_TYPES:
                raise c.fail(wb + "type", btype, f"is not one of {list(BOARD_TYPES)}")
            preset = c.get(bd, "preset", wb, str, None)
            if preset is not None:
                preset = _preset_path(c, wb + "preset", preset, base)
            try:
                load_board_preset(btype, preset)
            except ConfigError as exc:
                raise ConfigError(f"rig {source}: {wb}preset: {exc}") from exc
            firmware = c.get(bd, "firmware", wb, str, DEFAULT_FIRMWARE)
            check_firmware(firmware, fd, lambda limit, f=firmware, w=wb: c.fail(w + "firmware", f, limit))
            boards.append(BoardSpec(node, btype, preset, firmware))
        if not boards:
            raise ConfigError(f"rig {source}: bus '{name}' has no [[bus.board]] (a bus needs at least one board)")
        buses.append(BusSpec(name, interface, channel, bitrate, fd, data_bitrate, tuple(boards), per_proc, packing,
                             compact))
    plant = _parse_plant(c, c.get(data, "plant", "", dict, {}), buses)
    return Rig(rate, tuple(buses), source, plant=plant)


def _parse_plant(c: _Checker, t: dict[str, Any], buses: list[BusSpec]) -> PlantSpec:
    for k in t:
        if k not in ("kind", "model", "joints"):
            raise c.fail(f"plant.{k}", t[k], "is not a plant key (keys: ['joints', 'kind', 'model'])")
    kind = c.get(t, "kind", "plant.", str, "presets")
    if kind not in PLANT_KINDS:
        raise c.fail("plant.kind", kind, f"is not one of {list(PLANT_KINDS)}")
    model = c.get(t, "model", "plant.", str, None)
    joints = c.get(t, "joints", "plant.", dict, {})
    if kind == "presets" and (model is not None or joints):
        raise c.fail("plant.kind", kind, "takes no model or joints (they describe a body)")
    if kind == "body" and model is None:
        raise ConfigError(f"rig {c.source}: plant.model is missing (a body plant names its model)")
    boards = {f"{b.name}/{bd.node}" for b in buses for bd in b.boards}
    for key, name in joints.items():
        if key not in boards:
            raise c.fail(f"plant.joints.{key}", name, f"names no board (boards: {sorted(boards)})")
        if not isinstance(name, str) or not name:
            raise c.fail(f"plant.joints.{key}", name, "is not a joint name")
    return PlantSpec(kind, model, tuple(sorted(joints.items())))


def load_rig(path: str | Path) -> Rig:
    """Load and validate RIG.toml (a path, or the name of a rig in hil_tests/rigs/)."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = RIGS_DIR / f"{path}.toml"
    if p.is_dir():
        raise ConfigError(f"rig file {p}: is a directory, not a RIG.toml")
    try:
        text = p.read_text()
    except OSError as exc:
        shipped = sorted(q.stem for q in RIGS_DIR.glob("*.toml"))
        raise ConfigError(f"rig file {p}: cannot read ({exc.strerror}); shipped rigs: {shipped}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"rig file {p}: not a text file (byte {exc.start} is not UTF-8)") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"rig file {p}: not valid TOML ({exc})") from exc
    return parse_rig(data, str(p), p.parent)
