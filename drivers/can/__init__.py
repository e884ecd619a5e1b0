"""CAN / CAN-FD: open a bus, exchange a tick's CANopen PDOs in one batch, emulate buses.

``open_bus(interface, channel, bitrate=..., fd=False)`` -> ``can.BusABC``;
``CanTransport(bus, nodes=[...], board="joint", sync=True, timeout_s=0.05)`` -> the batched
exchange (``tx_array()``, ``rx_array()``, ``cycle(tx, rx)``, ``stats``) plus the slow path
(``network``, ``node(n)``, ``start()``, ``read_limits(n)``, ``sdo_read``/``sdo_write``);
``packed(board_layout("joint"))`` is the CANopen FD one-PDO-per-direction layout.
"""

from drivers.can.bus import open_bus, valid_interfaces
from drivers.can.layout import board_layout, packed
from drivers.can.transport import CanTransport

__all__ = ["CanTransport", "board_layout", "open_bus", "packed", "valid_interfaces"]
