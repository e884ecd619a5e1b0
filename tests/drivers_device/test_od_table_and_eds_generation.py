"""The object-dictionary table against the process-data spec (pdo.md), its invariants, and the
CiA 306 EDS generated from it (loaded by python canopen, the independent reader), incl. `cbl eds`."""

from __future__ import annotations

import math
import subprocess
import sys

import canopen
import pytest

from cerebellum_rt.actuators.joint.preset import load_preset
from cerebellum_rt.drivers import od
from cerebellum_rt.drivers.eds import eds_text, write_eds
from cerebellum_rt.tools.cli import main as cbl

# pdo.md, copied by hand on purpose: the oracle the generated layouts must equal
SPEC_RPDO = [
    (0x200, [("controlword", "<u2"), ("modes_of_operation", "i1"), ("target_position", "<i4")]),
    (0x300, [("velocity_offset", "<i4"), ("torque_offset", "<i2"), ("target_torque", "<i2")]),
]
SPEC_RPDO3 = (0x400, [("target_velocity", "<i4")])
SPEC_TPDO = [
    (0x180, [("statusword", "<u2"), ("modes_of_operation_display", "i1"), ("position_actual", "<i4")]),
    (0x280, [("velocity_actual", "<i4"), ("torque_actual", "<i2"), ("current_actual", "<i2")]),
    (0x380, [("torque_sensor", "<i4"), ("torque_demand", "<i2"), ("winding_temperature", "<i2")]),
]


def test_default_pdo_layouts_are_pdo_md():
    assert od.default_rpdos() == SPEC_RPDO
    assert od.default_rpdos(include_disabled=True)[2] == SPEC_RPDO3
    assert od.default_tpdos() == SPEC_TPDO
    assert od.JOINT.entry(0x1402, 1).default & od.PDO_NOT_VALID  # RPDO3 disabled by default
    for comm in (0x1400, 0x1401, 0x1800, 0x1801, 0x1802):
        assert od.JOINT.entry(comm, 2).default == 1  # synchronous, every SYNC


@pytest.mark.parametrize("board", ["joint", "hand"])
def test_mapped_defaults_are_mappable_in_their_direction(board):
    t = od.build_table(board)
    for base, tx in ((0x1600, False), (0x1A00, True)):
        for k in range(4):
            mobj = t.objects[base + k]
            n = mobj.entries[0].default
            bits = 0
            for e in mobj.entries[1 : n + 1]:
                m = t.entry(e.default >> 16, (e.default >> 8) & 0xFF)
                assert m.pdo_mappable and (m.access == "ro") == tx and m.bits == e.default & 0xFF
                bits += m.bits
            assert bits <= 64


def test_units_and_limits():
    assert pytest.approx(2**20 / (2 * math.pi)) == od.POSITION_COUNTS_PER_RAD
    j = od.JOINT
    assert j.entry(0x6072).high == j.entry(0x2020, 1).default  # max torque cannot exceed the hard limit
    assert j.entry(0x6080).high == j.entry(0x2020, 2).default
    assert j.entry(0x6060).values == (-1, 0, 8, 9, 10) and j.entry(0x6502).default == 0x10380  # -1: impedance
    assert j.entry(0x2011, 1).high == j.entry(0x2020, 4).default and j.entry(0x2011, 2).high == j.entry(0x2020, 5).default
    names = [e.name for e in j.entries() if e.subindex == 0 and j.objects[e.index].kind == "VAR"]
    assert len(names) == len(set(names))


def test_ratings_from_a_module_preset():
    p = load_preset("knee")
    t = od.build_table("joint", ratings=od.JointRatings.from_preset(p))
    assert t.entry(0x6076).default == round(p.rated_torque_nm * 1000)
    assert t.entry(0x6072).high == round(p.peak_torque_nm / p.rated_torque_nm * 1000)
    lo, hi = p.position_limits_rad
    assert t.entry(0x607D, 1).default == round(lo * od.POSITION_COUNTS_PER_RAD)
    assert t.entry(0x607D, 2).high == round(hi * od.POSITION_COUNTS_PER_RAD)


@pytest.mark.parametrize(("board", "fd"), [("joint", False), ("joint", True), ("hand", False), ("hand", True)])
def test_eds_loads_in_python_canopen_and_round_trips_the_table(tmp_path, board, fd):
    t = od.build_table(board, fd=fd)
    path = write_eds(t, tmp_path / f"{board}.eds")
    assert eds_text(t) == eds_text(od.build_table(board, fd=fd))  # deterministic
    path.read_text(encoding="ascii")
    d = canopen.import_od(str(path), 7)
    assert {o.index for o in d.values() if o.index >= 0x1000} == set(t.objects)
    for e in t.entries():
        obj = d[e.index]
        v = obj if isinstance(obj, canopen.objectdictionary.ODVariable) else obj[e.subindex]
        assert v.data_type == od.DTYPES[e.dtype][0]
        default = e.default_for(7)
        if isinstance(default, int | float) and not isinstance(default, bool):
            assert v.default == pytest.approx(default), (hex(e.index), e.subindex)
    assert d[0x1800][1].default == 0x40000180 + 7  # $NODEID+...
    assert d[0x1A00][0].max == (64 if fd else 8)


def test_cbl_eds_cli(tmp_path, capsys):
    out = tmp_path / "j.eds"
    assert cbl(["eds", "--board", "joint", "-o", str(out), "--check"]) == 0
    assert "python canopen loads" in capsys.readouterr().out
    assert out.read_text().startswith("[FileInfo]")
    assert cbl(["eds", "--board", "hand"]) == 0
    assert "[2111sub6]" in capsys.readouterr().out
    r = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "eds", "-o", str(tmp_path / "x.txt")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "must end in .eds" in r.stderr
