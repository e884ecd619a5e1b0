"""The board's objects as the console names and shows them: names, aliases, display units, limits.

Every entry of the board's object-dictionary table (:mod:`cerebellum_rt.drivers.od`) is reachable
by its index (``0x2010:1``, ``0x2010sub1``), by its entry name when that is unique
(``position_kp``), by ``object.entry`` (``gains.position_kp``) and by the short aliases of the
gains (``kp``, ``kv``, ``ki``). Values are shown and accepted in SI display units; the raw unit
on the wire is the table's (counts, ‰, 0.1 °C...). ``raw = round(si * factor)`` for integers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from cerebellum_rt.drivers import od
from cerebellum_rt.drivers.od import Entry, Table
from cerebellum_rt.drivers.tune.units import split_quantity, to_unit
from cerebellum_rt.rtcore.errors import ConfigError

ALIASES = {"kp": "position_kp", "kv": "velocity_kp", "ki": "velocity_ki"}
CURRENT_PERMILLE_INDEX = 0x6078  # the one ‰ object that is a current (of 0x6075), not a torque


def slug(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z_]+", "_", name.strip()).strip("_").lower()


@dataclass(frozen=True)
class ObjectRef:
    """One entry of the board with its display unit: ``raw = si * factor``."""

    entry: Entry
    name: str  # the console's name (unique)
    unit: str  # display unit ('' = plain number)
    factor: float

    @property
    def key(self) -> str:
        return f"0x{self.entry.index:04X}:{self.entry.subindex}"

    @property
    def writable(self) -> bool:
        return self.entry.access in ("rw", "wo")

    def raw_limits(self) -> tuple[float, float]:
        return self.entry.limits

    def si_limits(self) -> tuple[float, float]:
        lo, hi = self.entry.limits
        return lo / self.factor, hi / self.factor

    def to_si(self, raw: float) -> float:
        return float(raw) / self.factor

    def describe(self) -> str:
        e = self.entry
        lo, hi = self.si_limits()
        u = f" {self.unit}" if self.unit else ""
        lim = f"[{lo:g}, {hi:g}]{u}" if e.is_numeric else ""
        return f"{self.name} {self.key} {e.dtype} {e.access} {lim} {e.desc}".rstrip()


class BoardObjects:
    """Name resolution and unit conversion over one board's table (rated torque/current from the board)."""

    def __init__(self, table: Table, rated_torque_nm: float, rated_current_a: float) -> None:
        self.table = table
        self.rated_torque_nm = rated_torque_nm
        self.rated_current_a = rated_current_a
        counts: dict[str, int] = {}
        for e in table.entries():
            counts[e.name] = counts.get(e.name, 0) + 1
        self.refs: dict[str, ObjectRef] = {}
        self.by_key: dict[tuple[int, int], ObjectRef] = {}
        for obj in table.objects.values():
            for e in obj.entries:
                qual = f"{slug(obj.name)}.{e.name}" if obj.kind != "VAR" else e.name
                name = e.name if counts[e.name] == 1 else qual
                unit, factor = self._display(e)
                ref = ObjectRef(e, name, unit, factor)
                self.refs[name] = ref
                if qual != name:
                    self.refs.setdefault(qual, ref)
                self.by_key[(e.index, e.subindex)] = ref
        for alias, target in ALIASES.items():
            if target in self.refs:
                self.refs[alias] = self.refs[target]

    def _display(self, e: Entry) -> tuple[str, float]:
        u = e.unit
        if u == "counts":
            return "rad", od.POSITION_COUNTS_PER_RAD
        if u == "counts/s":
            return "rad/s", od.VELOCITY_COUNTS_PER_RAD_S
        if u == "counts/s²":
            return "rad/s^2", od.VELOCITY_COUNTS_PER_RAD_S
        if u == "‰":
            if e.index == CURRENT_PERMILLE_INDEX:
                return "A", od.CURRENT_PERMILLE / self.rated_current_a
            return "N*m", od.TORQUE_PERMILLE / self.rated_torque_nm
        if u == "mN·m":
            return "N*m", 1000.0
        if u == "mA":
            return "A", 1000.0
        if u == "0.1 °C":
            return "°C", 10.0
        if u == "ms":
            return "s", 1e3
        if u == "us":
            return "s", 1e6
        if u == "100 us":
            return "s", 1e4
        if u in ("1/s", "N·m·s/rad", "N·m/rad"):
            return u.replace("·", "*"), 1.0
        return "", 1.0

    def names(self) -> list[str]:
        return sorted(self.refs)

    def resolve(self, name: str) -> ObjectRef:
        """An entry by name, alias or index (``0x6064``, ``0x2010:1``, ``0x2010sub1``)."""
        n = name.strip()
        m = re.fullmatch(r"(0x[0-9a-fA-F]{1,4})(?:(?::|sub)(\d+|0x[0-9a-fA-F]+))?", n)
        if m:
            key = (int(m.group(1), 16), int(m.group(2), 0) if m.group(2) else 0)
            ref = self.by_key.get(key)
            if ref is None:
                raise ConfigError(f"object {n} is not in the {self.table.board} board's dictionary")
            return ref
        ref = self.refs.get(n) or self.refs.get(n.lower())
        if ref is None:
            close = [k for k in self.refs if n.lower() in k][:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"object {n!r} is not in the {self.table.board} board's dictionary{hint}")
        return ref

    def parse_value(self, ref: ObjectRef, text: str) -> int | float:
        """The raw value for the typed quantity ``text`` (display unit when none is given), checked
        against the entry's limits: ConfigError naming the object, the value and the limit."""
        value, unit = split_quantity(text)
        if unit and unit not in ("raw",):
            si = to_unit(value, unit, ref.unit, f"{ref.name} ({ref.key})")
            raw = si * ref.factor
        elif unit == "raw":
            raw = value
        else:
            raw = value * ref.factor
        return self.check_raw(ref, raw, text)

    def check_raw(self, ref: ObjectRef, raw: float, shown: str | None = None) -> int | float:
        e = ref.entry
        shown = shown if shown is not None else f"{raw} raw"
        if not e.is_numeric:
            raise ConfigError(f"{ref.name} ({ref.key}) is {e.dtype}: the console sets numbers only")
        if not math.isfinite(raw):
            raise ConfigError(f"{ref.name} ({ref.key}) = {shown} is not a finite number")
        if e.dtype != "REAL32":
            raw = round(raw)
        lo, hi = e.limits
        if not lo <= raw <= hi:
            slo, shi = ref.si_limits()
            u = f" {ref.unit}" if ref.unit else ""
            raise ConfigError(f"{ref.name} ({ref.key}) = {shown} is out of the board's limits "
                              f"[{slo:.6g}, {shi:.6g}]{u} (raw {raw:.6g} outside [{lo}, {hi}])")
        if e.values is not None and raw not in e.values:
            raise ConfigError(f"{ref.name} ({ref.key}) = {shown} is not one of {e.values}")
        return raw
