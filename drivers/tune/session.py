"""TuneSession: one board's parameters over SDO, in SI units, never outside the board's limits.

The slow path of :class:`cerebellum_rt.drivers.can.CanTransport` (SDO through python
``canopen``), with the board's own object table: on :meth:`connect` the session reads the
board's identity, rated torque/current and hard limits (0x6075/0x6076, 0x2020:1-5, 0x607D) and
builds the table the board itself was built from, so every limit the console checks is the
board's. A value outside it is refused here (ConfigError naming the object, the value and the
limit) and never sent; should one reach the board anyway it answers SDO abort 0x0609003x.

Gains change in the board's RAM first. ``save`` writes 0x1010:1 ("save", the board's flash) and
the project TOML (returned with the diff against the previous file); ``revert`` reloads the
board's saved set (NMT reset node: RAM <- flash), the project TOML, or the defaults (0x1011 +
reset). ``dump``/``restore`` move whole configurations as TOML files.
"""

from __future__ import annotations

import datetime
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from cerebellum_rt.drivers import od
from cerebellum_rt.drivers.tune.objects import BoardObjects, ObjectRef
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError, DeviceTimeout

PRODUCT_JOINT, PRODUCT_HAND = 0x4A4E5431, 0x48414E31
NOT_CONFIGURATION = {0x2040}  # fault injection is a test lever, never part of a saved set
SDO_TIMEOUT_S = 0.5


class TuneSession:
    """One board (``node``) reached through ``transport``; ``project``: the project TOML path."""

    def __init__(self, transport: Any, node: int, project: str | Path | None = None, emulated: Any = None) -> None:
        self.transport = transport
        self.node = int(node)
        self.project = Path(project) if project is not None else Path(f"cbl-tune-node{node}.toml")
        self.emulated = emulated
        self.objects: BoardObjects | None = None
        self.identity: dict[str, int] = {}
        self.at_connect: dict[str, int | float] = {}

    # ------------------------------------------------------------------ raw SDO with the board's table
    def _sdo_node(self):
        return self.transport.node(self.node)

    def read_raw(self, index: int, sub: int = 0, dtype: str | None = None) -> int | float:
        import canopen

        node = self._sdo_node()
        node.sdo.RESPONSE_TIMEOUT = SDO_TIMEOUT_S
        try:
            raw = node.sdo.upload(index, sub)
        except canopen.SdoCommunicationError as exc:
            raise DeviceTimeout(f"node {self.node} did not answer an SDO read of 0x{index:04X}:{sub} "
                                f"within {SDO_TIMEOUT_S} s") from exc
        except canopen.SdoAbortedError as exc:
            raise DeviceError(f"node {self.node} refused to read 0x{index:04X}:{sub}: {exc}") from exc
        if dtype is None:
            dtype = self.objects.by_key[(index, sub)].entry.np_dtype if self.objects else "<u4"
        dt = np.dtype(dtype)
        return np.frombuffer(bytes(raw[: dt.itemsize]).ljust(dt.itemsize, b"\0"), dtype=dt)[0].item()

    def write_raw(self, ref: ObjectRef, raw: int | float) -> None:
        import canopen

        node = self._sdo_node()
        node.sdo.RESPONSE_TIMEOUT = SDO_TIMEOUT_S
        data = np.array([raw], dtype=np.dtype(ref.entry.np_dtype)).tobytes()
        try:
            node.sdo.download(ref.entry.index, ref.entry.subindex, data)
        except canopen.SdoCommunicationError as exc:
            raise DeviceTimeout(f"node {self.node} did not answer an SDO write of {ref.name} ({ref.key}) "
                                f"within {SDO_TIMEOUT_S} s") from exc
        except canopen.SdoAbortedError as exc:
            raise DeviceError(f"node {self.node} refused {ref.name} ({ref.key}) = {raw}: "
                              f"SDO abort 0x{exc.code:08X}") from exc

    # ------------------------------------------------------------------ connect
    def connect(self, period_us: int = 1000) -> dict[str, Any]:
        """Identity, the board's ratings and limits -> the table; snapshot; NMT operational."""
        t = self.transport
        t.end_cycling()
        ident = {k: int(self.read_raw(0x1018, s, "<u4")) for s, k in
                 enumerate(("vendor_id", "product_code", "revision", "serial"), 1)}
        self.identity = ident
        if ident["product_code"] == PRODUCT_JOINT:
            rt = self.read_raw(0x6076, 0, "<u4") / 1000.0
            rc = self.read_raw(0x6075, 0, "<u4") / 1000.0
            max_t = self.read_raw(0x2020, 1, "<u2")
            max_v = self.read_raw(0x2020, 2, "<u4")
            temp = self.read_raw(0x2020, 3, "<i2")
            k_max, d_max = self.read_raw(0x2020, 4, "<f4"), self.read_raw(0x2020, 5, "<f4")
            lo = self.read_raw(0x607D, 1, "<i4") / od.POSITION_COUNTS_PER_RAD
            hi = self.read_raw(0x607D, 2, "<i4") / od.POSITION_COUNTS_PER_RAD
            ratings = od.JointRatings(rated_torque_nm=rt, rated_current_a=rc, peak_torque_nm=max_t * rt / 1000.0,
                                      max_velocity_rad_s=max_v / od.VELOCITY_COUNTS_PER_RAD_S,
                                      position_min_rad=lo, position_max_rad=hi,
                                      max_winding_temp_c=temp / od.TEMPERATURE_PER_DEGC,
                                      max_stiffness_nm_per_rad=k_max, max_damping_nm_s_per_rad=d_max)
            table = od.build_table("joint", ratings=ratings)
        elif ident["product_code"] == PRODUCT_HAND:
            table, rt, rc = od.build_table("hand"), 1.0, 1.0
        else:
            raise DeviceError(f"node {self.node}: product code 0x{ident['product_code']:08X} is not a "
                              f"cerebellum joint (0x{PRODUCT_JOINT:08X}) or hand (0x{PRODUCT_HAND:08X}) board")
        self.objects = BoardObjects(table, rt, rc)
        self.at_connect = self.read_config()
        t.start(period_us=period_us)
        return {"node": self.node, **ident, "rated_torque_nm": rt, "rated_current_a": rc}

    @property
    def objs(self) -> BoardObjects:
        if self.objects is None:
            raise ConfigError("the session is not connected to a board")
        return self.objects

    # ------------------------------------------------------------------ get / set
    def get(self, name: str) -> dict[str, Any]:
        ref = self.objs.resolve(name)
        if not ref.entry.is_numeric:
            raise ConfigError(f"{ref.name} ({ref.key}) is {ref.entry.dtype}: the console reads numbers only")
        raw = self.read_raw(ref.entry.index, ref.entry.subindex)
        return {"name": ref.name, "index": ref.key, "value": ref.to_si(raw), "unit": ref.unit, "raw": raw}

    def check(self, name: str, text: str) -> tuple[ObjectRef, int | float]:
        """The raw value ``text`` would write to ``name``, or ConfigError (nothing is sent)."""
        ref = self.objs.resolve(name)
        if not ref.writable:
            raise ConfigError(f"{ref.name} ({ref.key}) is {ref.entry.access}: it cannot be set")
        if ref.entry.pdo_mappable:
            raise ConfigError(f"{ref.name} ({ref.key}) is process data: the experiments drive it, not set")
        return ref, self.objs.parse_value(ref, text)

    def set(self, name: str, text: str) -> dict[str, Any]:
        ref, raw = self.check(name, text)
        before = self.read_raw(ref.entry.index, ref.entry.subindex)
        self.write_raw(ref, raw)
        after = self.read_raw(ref.entry.index, ref.entry.subindex)
        return {"name": ref.name, "index": ref.key, "before": ref.to_si(before), "value": ref.to_si(after),
                "unit": ref.unit, "raw": after}

    # ------------------------------------------------------------------ whole configurations
    def config_refs(self) -> list[ObjectRef]:
        """The application parameters a configuration holds (persistent numbers from 0x2000 on)."""
        return [r for r in self.objs.by_key.values()
                if r.entry.persistent and r.entry.is_numeric and r.entry.index >= 0x2000
                and r.entry.index not in NOT_CONFIGURATION]

    def read_config(self) -> dict[str, int | float]:
        return {r.name: self.read_raw(r.entry.index, r.entry.subindex) for r in self.config_refs()}

    def write_config(self, values: dict[str, int | float], source: str) -> list[dict[str, Any]]:
        """Check every value first (nothing is written if one is refused), then write the changed ones."""
        checked = []
        for name, raw in values.items():
            ref = self.objs.resolve(name)
            if ref not in self.config_refs():
                raise ConfigError(f"{source}: {name} is not a configuration parameter of this board")
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ConfigError(f"{source}: {name} = {raw!r} is not a number")
            checked.append((ref, self.objs.check_raw(ref, float(raw), f"{raw} raw ({source})")))
        current = self.read_config()
        changes = []
        for ref, raw in checked:
            if not _same(current.get(ref.name), raw):
                self.write_raw(ref, raw)
                changes.append(self._change(ref, current.get(ref.name), raw))
        return changes

    def _change(self, ref: ObjectRef, old: Any, new: Any) -> dict[str, Any]:
        return {"name": ref.name, "index": ref.key, "unit": ref.unit,
                "old": None if old is None else ref.to_si(old), "new": None if new is None else ref.to_si(new)}

    def diff(self, against: dict[str, int | float]) -> list[dict[str, Any]]:
        now = self.read_config()
        out = []
        for ref in self.config_refs():
            a, b = against.get(ref.name), now.get(ref.name)
            if a is not None and not _same(a, b):
                out.append(self._change(ref, a, b))
        return out

    def dump(self, path: str | Path) -> Path:
        return write_toml(Path(path), self, self.read_config(), "dump")

    def restore(self, path: str | Path) -> list[dict[str, Any]]:
        return self.write_config(read_toml(Path(path)), str(path))

    def saved(self) -> dict[str, int | float] | None:
        return read_toml(self.project) if self.project.exists() else None

    def save(self) -> dict[str, Any]:
        """0x1010:1 = "save" on the board, then the project TOML; returns the diff vs the last file."""
        ref = self.objs.resolve("0x1010:1")
        previous = self.saved() or self.at_connect
        diff = self.diff(previous)
        self.write_raw(ref, od.STORE_SIGNATURE)
        write_toml(self.project, self, self.read_config(), "save")
        return {"board": "saved (0x1010:1)", "project": str(self.project), "diff": diff}

    def revert(self, source: str = "board") -> dict[str, Any]:
        """``board``: NMT reset node (RAM <- the board's saved set); ``toml``: the project file;
        ``defaults``: 0x1011:1 = "load" then reset (the table defaults, the flash erased)."""
        if source == "toml":
            saved = self.saved()
            if saved is None:
                raise ConfigError(f"revert toml: project file {self.project} does not exist (save first)")
            return {"source": str(self.project), "changes": self.write_config(saved, str(self.project))}
        if source not in ("board", "defaults"):
            raise ConfigError(f"revert source {source!r} is not one of 'board', 'toml', 'defaults'")
        before = self.read_config()
        if source == "defaults":
            self.write_raw(self.objs.resolve("0x1011:1"), od.RESTORE_SIGNATURE)
        self.reset_node()
        changes = [self._change(r, before.get(r.name), v) for r in self.config_refs()
                   if not _same(before.get(r.name), v := self.read_raw(r.entry.index, r.entry.subindex))]
        return {"source": source, "changes": changes}

    def reset_node(self) -> None:
        """NMT reset node, wait for the boot-up, back to operational."""
        import time

        t = self.transport
        t.end_cycling()
        t.node(self.node).nmt.send_command(0x81)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                self.read_raw(0x1018, 4, "<u4")
                break
            except DeviceError:
                time.sleep(0.01)
        t.start(period_us=int(self.read_raw(0x1006, 0, "<u4")))

    def power_cycle(self) -> dict[str, Any]:
        if self.emulated is None:
            raise ConfigError("power-cycle works on an emulated board only (--emulate)")
        self.transport.end_cycling()
        self.emulated.power_cycle()
        ident = self.connect()
        return {"power_cycles": self.emulated.power_cycles, **ident}


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-7, abs_tol=0.0) or float(a) == float(b)


def write_toml(path: Path, session: TuneSession, values: dict[str, int | float], what: str) -> Path:
    objs = session.objs
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = [f"# cbl tune {what}: node {session.node} ({objs.table.board} board, serial "
             f"{session.identity.get('serial', 0)}), {stamp}",
             "# raw values in the board's units; the comment gives the index and the SI value", "",
             "[board]", f"node = {session.node}", f"product_code = {session.identity.get('product_code', 0)}",
             f"serial = {session.identity.get('serial', 0)}", "", "[objects]"]
    for name, raw in values.items():
        ref = objs.resolve(name)
        val = repr(float(raw)) if ref.entry.dtype == "REAL32" else str(int(raw))
        lines.append(f'"{name}" = {val}  # {ref.key} = {ref.to_si(raw):.6g} {ref.unit}'.rstrip())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def read_toml(path: Path) -> dict[str, int | float]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"configuration file {path}: {exc}") from exc
    objs = data.get("objects")
    if not isinstance(objs, dict):
        raise ConfigError(f"configuration file {path} has no [objects] table")
    return objs
