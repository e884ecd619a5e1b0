"""CAN / CAN-FD: open a bus, exchange a tick's CANopen PDOs in one batch, emulate buses.

``open_bus(interface, channel, bitrate=..., fd=False)`` -> ``can.BusABC``;
``CanTransport(bus, nodes=[...], board="joint", sync=True, timeout_s=0.05)`` -> the batched
exchange (``tx_array()``, ``rx_array()``, ``cycle(tx, rx)``, ``stats``) plus the slow path
(``network``, ``node(n)``, ``start()``, ``read_limits(n)``, ``sdo_read``/``sdo_write``);
``packed(board_layout("joint"))`` is the CANopen FD one-PDO-per-direction layout.
``compact(board_layout("joint"))`` is the classic-CAN one-8-byte-PDO-per-direction layout.
"""

from typing import Any

# name -> module; imported on first use so that `cerebellum_rt.drivers.can.bus` (CLI flags) stays light
_LAZY = {
    "CanTransport": "cerebellum_rt.drivers.can.transport",
    "open_bus": "cerebellum_rt.drivers.can.bus",
    "valid_interfaces": "cerebellum_rt.drivers.can.bus",
    "board_layout": "cerebellum_rt.drivers.can.layout",
    "packed": "cerebellum_rt.drivers.can.layout",
    "compact": "cerebellum_rt.drivers.can.layout",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cerebellum_rt.drivers.can' has no attribute {name!r}")
