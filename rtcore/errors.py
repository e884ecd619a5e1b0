"""The project's one exception hierarchy, split by phase (init / operation / timeout).

Raised at the edges (configuration, I/O set-up, CLI input); inside the real-time tick code
returns status codes instead. Every message names the object, the value and the limit, so the
CLI can print it as one line without a traceback.
"""

from __future__ import annotations


class CblError(Exception):
    """Base of every error the toolkit raises on purpose (a user-facing, one-line message)."""


class ConfigError(CblError, ValueError):
    """Init phase: bad input (option out of range, malformed file, unknown name)."""


class DeviceError(CblError):
    """Operation phase: a bus or a device misbehaved (unreachable bus, fault, bad reply)."""


class DeviceTimeout(DeviceError, TimeoutError):
    """Operation phase: a device or a bus did not answer in time."""


def check_range(obj: str, value: float, lo: float, hi: float, unit: str = "") -> float:
    """Return ``value`` if ``lo <= value <= hi``, else raise ConfigError naming obj, value and limits."""
    if not (lo <= value <= hi):  # also rejects NaN
        u = f" {unit}" if unit else ""
        raise ConfigError(f"{obj} = {value}{u} is out of range [{lo}, {hi}]{u}")
    return value


class RtSetupError(CblError):
    """Init phase: the OS refused a real-time set-up step and strict real-time was asked for."""

