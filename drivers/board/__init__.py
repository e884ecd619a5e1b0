"""Emulated CANopen actuator boards on any python-can bus (virtual in tests and the demo).

``JointBoard(node_id, bus, module=None, *, fd=False)``: a CiA 402 joint drive (see
:mod:`cerebellum_rt.drivers.board.joint`). ``HandBoard(node_id, bus, hand=None, *, fd=False)``: six tendon
actuators behind one node (:mod:`cerebellum_rt.drivers.board.hand`). The CANopen machinery (object store, SDO server, PDOs, NMT,
heartbeat, EMCY) is shared by every board type (:mod:`cerebellum_rt.drivers.board.node`).
"""

from cerebellum_rt.drivers.board.drive import DriveBoard
from cerebellum_rt.drivers.board.hand import HandBoard
from cerebellum_rt.drivers.board.joint import JointBoard
from cerebellum_rt.drivers.board.node import BoardNode
from cerebellum_rt.drivers.board.store import ObjectStore, SdoAbort

__all__ = ["BoardNode", "DriveBoard", "HandBoard", "JointBoard", "ObjectStore", "SdoAbort"]
