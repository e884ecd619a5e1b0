"""Physical quantities typed at the console: ``"120 N*m/rad"``, ``"0.2 rad"``, ``"30 deg"``.

A unit is a product of symbols with integer powers (``N*m/rad``, ``N·m·s/rad``, ``rad/s^2``,
``1/s``, ``counts/s``); each symbol has a scale to SI and a dimension vector over
(kg, m, s, rad, A, °C, ‰). Radians are kept as a dimension of their own so that a stiffness
given for a rate gain (``N*m/rad`` for ``1/s``) is refused instead of silently converted.
``°C`` is a temperature difference-free scale (no offset: objects hold absolute °C already).
"""

from __future__ import annotations

import math
import re

from cerebellum_rt.drivers.od import POSITION_COUNTS_PER_RAD
from cerebellum_rt.rtcore.errors import ConfigError

# dimension order
DIMS = ("kg", "m", "s", "rad", "A", "°C", "‰")
_KG, _M, _S, _RAD, _A, _C, _PM = (tuple(1 if i == k else 0 for i in range(7)) for k in range(7))
_NEWTON = (1, 1, -2, 0, 0, 0, 0)

# symbol -> (scale to SI, dims)
SYMBOLS: dict[str, tuple[float, tuple[int, ...]]] = {
    "1": (1.0, (0,) * 7),
    "kg": (1.0, _KG), "g": (1e-3, _KG),
    "m": (1.0, _M), "mm": (1e-3, _M),
    "s": (1.0, _S), "ms": (1e-3, _S), "us": (1e-6, _S), "µs": (1e-6, _S), "min": (60.0, _S),
    "Hz": (1.0, tuple(-x for x in _S)), "kHz": (1e3, tuple(-x for x in _S)),
    "rad": (1.0, _RAD), "mrad": (1e-3, _RAD), "deg": (math.pi / 180.0, _RAD), "°": (math.pi / 180.0, _RAD),
    "rev": (2.0 * math.pi, _RAD), "turn": (2.0 * math.pi, _RAD),
    "counts": (1.0 / POSITION_COUNTS_PER_RAD, _RAD), "count": (1.0 / POSITION_COUNTS_PER_RAD, _RAD),
    "rpm": (2.0 * math.pi / 60.0, (0, 0, -1, 1, 0, 0, 0)),
    "N": (1.0, _NEWTON), "mN": (1e-3, _NEWTON), "kN": (1e3, _NEWTON), "Nm": (1.0, (1, 2, -2, 0, 0, 0, 0)),
    "A": (1.0, _A), "mA": (1e-3, _A),
    "°C": (1.0, _C), "degC": (1.0, _C), "C": (1.0, _C),
    "‰": (1.0, _PM), "permille": (1.0, _PM), "%": (10.0, _PM),
}
_SUPERSCRIPT = {"²": "2", "³": "3", "⁻¹": "-1"}


def parse_unit(text: str) -> tuple[float, tuple[int, ...]]:
    """(scale to SI, dimension vector) of a unit string; ConfigError naming the unknown symbol."""
    t = text.strip()
    if not t:
        return 1.0, (0,) * 7
    for sup, rep in _SUPERSCRIPT.items():
        t = t.replace(sup, "^" + rep)
    t = t.replace("·", "*").replace(" ", "*").replace("**", "^")
    scale, dims = 1.0, [0] * 7
    sign = 1
    for tok in re.split(r"([*/])", t):
        if tok == "*" or tok == "":
            continue
        if tok == "/":
            sign = -1
            continue
        sym, _, power = tok.partition("^")
        try:
            p = int(power) if power else 1
        except ValueError:
            raise ConfigError(f"unit {text!r}: power {power!r} of {sym!r} is not an integer") from None
        if sym not in SYMBOLS:
            raise ConfigError(f"unit {text!r}: symbol {sym!r} is not one of {', '.join(sorted(SYMBOLS))}")
        s, d = SYMBOLS[sym]
        scale *= s ** (sign * p)
        for i in range(7):
            dims[i] += sign * p * d[i]
        sign = 1  # '/' applies to the next symbol only: "N*m/rad" = N m rad^-1, "rad/s^2" = rad s^-2
    return scale, tuple(dims)


def dims_text(dims: tuple[int, ...]) -> str:
    num = [f"{n}^{p}" if p != 1 else n for n, p in zip(DIMS, dims) if p > 0]
    den = [f"{n}^{-p}" if p != -1 else n for n, p in zip(DIMS, dims) if p < 0]
    return ("*".join(num) or "1") + ("/" + "/".join(den) if den else "")


_NUMBER = re.compile(r"^\s*([-+]?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|nan))\s*(.*)$")


def split_quantity(text: str) -> tuple[float, str]:
    """``"120 N*m/rad"`` -> (120.0, "N*m/rad"); ConfigError if it does not start with a number."""
    m = _NUMBER.match(text)
    if m is None:
        raise ConfigError(f"value {text!r} is not a number with an optional unit (e.g. '0.2 rad', '30 deg')")
    num, unit = m.group(1), m.group(2).strip()
    value = float(int(num, 16)) if num.lower().lstrip("+-").startswith("0x") else float(num)
    if num.startswith("-") and num.lower().lstrip("-").startswith("0x"):
        value = -float(int(num.lstrip("-"), 16))
    return value, unit


def to_unit(value: float, unit_from: str, unit_to: str, what: str) -> float:
    """``value`` in ``unit_from`` expressed in ``unit_to``; ConfigError if the dimensions differ."""
    s_from, d_from = parse_unit(unit_from)
    s_to, d_to = parse_unit(unit_to)
    if d_from != d_to:
        raise ConfigError(f"{what} takes {unit_to or 'a plain number'} ({dims_text(d_to)}), "
                          f"not {unit_from} ({dims_text(d_from)})")
    return value * s_from / s_to
