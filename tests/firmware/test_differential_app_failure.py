"""A fault of the board's own code (its plant raising) in the C image and in the Python board
(the specification): EMCY 0x6100, fault reaction then fault, the rest of that event abandoned,
the node goes on serving; a fault reset clears it; a second failure latches it again. Both
boards in front of the same failing plant, in lockstep: identical replies frame for frame and
identical object dictionaries."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from cerebellum_rt.actuators.joint import JointModule, load_preset
from cerebellum_rt.drivers.board.cfirmware import joint_table
from cerebellum_rt.drivers.firmware.differential import compare

NODE = 2


class FailingPlant:
    """A JointModule whose ``method`` raises at the given calls (1-based): the board's own code failing."""

    def __init__(self, method: str, calls: tuple[int, ...]) -> None:
        self._m = JointModule(load_preset("knee"), seed=3)
        self._method, self._calls, self._n = method, calls, 0
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._m, name)
        if name != self._method:
            return attr

        def call(*a: Any) -> Any:
            self._n += 1
            if self._n in self._calls:
                self.failures += 1
                raise RuntimeError(f"plant {name} failed (call {self._n})")
            return attr(*a)

        return call


def _cycle(ev: list, cw: int, target: int = 0) -> None:
    ev.append(("frame", 0x200 + NODE, struct.pack("<HbI", cw, 8, target), 0))
    ev.append(("wait", 1001))
    ev.append(("frame", 0x080, b"", 0))


def _events() -> list:
    ev: list = [("frame", 0, bytes([0x01, NODE]), 0)]
    for cw in (0x06, 0x07, 0x0F):
        _cycle(ev, cw)
    for _ in range(30):  # the failure lands in here (enabled, CSP)
        _cycle(ev, 0x0F, 1000)
    for cw in (0x80, 0x06, 0x07, 0x0F):  # fault reset, enable again
        _cycle(ev, cw)
    for _ in range(30):  # a second failure: latched again
        _cycle(ev, 0x0F, 2000)
    ev.append(("frame", 0x600 + NODE, bytes([0x2B, 0x40, 0x60, 0, 0x80, 0, 0, 0]), 0))  # fault reset by SDO
    ev.append(("frame", 0x600 + NODE, bytes([0x40, 0x41, 0x60, 0, 0, 0, 0, 0]), 0))  # statusword
    _cycle(ev, 0x06)
    return ev


@pytest.mark.parametrize("method,calls", [("read", (12, 52)), ("advance", (10, 49))])
def test_plant_failure_is_the_boards_fault_on_both(method, calls):
    plants: list[FailingPlant] = []

    def factory() -> FailingPlant:
        plants.append(FailingPlant(method, calls))
        return plants[-1]

    table = joint_table(JointModule(load_preset("knee"), seed=3))
    res = compare(_events(), NODE, table, module_factory=factory)
    assert [p.failures for p in plants] == [2, 2]  # both plants failed twice: the comparison saw it
    k = res["first_reply_difference"]
    assert k is None, f"reply {k}: python {res['python'][k]} c {res['c'][k]}"
    assert res["od_difference"] == []
    emcy = [d for rep in res["c"] for cob, d in rep if cob == 0x80 + NODE]
    assert sum(1 for d in emcy if d[:2] == b"\x00\x61") == 2  # EMCY 0x6100 once per failure
    statuswords = [struct.unpack_from("<H", d)[0] for rep in res["c"] for cob, d in rep if cob == 0x180 + NODE]
    assert any(sw & 0x4F == 0x08 for sw in statuswords)  # FAULT reached
    assert res["c_state"] == res["python_state"] == "ready_to_switch_on"  # reset and walked on: served on
    print(f"\napp failure ({method}): {res['frames_in']} frames in, {res['frames_out']} replies, identical")
