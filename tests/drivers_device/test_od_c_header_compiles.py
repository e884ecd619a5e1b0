"""The firmware's C99 header generated from the table: compiled by gcc (host) and
arm-none-eabi-gcc (Cortex-M), its PDO structs have exactly the layouts of the host codec
(numpy dtypes from the same table), and its object table matches the table entry by entry."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from cerebellum_rt.drivers import od
from cerebellum_rt.drivers.od_c import c_header
from cerebellum_rt.hil_tests.prereq import require_tools
from cerebellum_rt.tools.cli import main as cbl

PROBE = r"""
#include <stdio.h>
#include "od.h"
int main(void) {
%s
    for (unsigned k = 0; k < CBL_%s_OD_ENTRIES; k++) {
        const cbl_od_entry_t *e = &cbl_%s_od[k];
        printf("od %%u %%u %%u %%u %%u %%.9g %%.9g\n", e->index, e->subindex, e->data_type, e->access, e->size,
               e->low, e->high);
    }
    return 0;
}
"""


@pytest.mark.parametrize("board", ["joint", "hand"])
def test_header_structs_and_table_match_the_python_side(tmp_path, board):
    table = od.build_table(board)
    (tmp_path / "od.h").write_text(c_header(table), encoding="ascii")
    prints, layouts = [], []
    for tx, layout in ((False, od.default_rpdos(table, include_disabled=True)),
                       (True, od.default_tpdos(table, include_disabled=True))):
        for cob, fields in layout:
            k = {0x180: 1, 0x280: 2, 0x380: 3, 0x480: 4, 0x200: 1, 0x300: 2, 0x400: 3, 0x500: 4}[cob]
            t = f"cbl_{board}_{'tpdo' if tx else 'rpdo'}{k}_t"
            dt = np.dtype(fields)
            layouts.append((t, dt))
            prints.append(f'    printf("{t} %zu\\n", sizeof({t}));')
            for name in dt.names:
                prints.append(f'    printf("{t}.{name} %zu\\n", offsetof({t}, {name}));')
    src = tmp_path / "probe.c"
    src.write_text(PROBE % ("\n".join(prints), board.upper(), board))
    exe = tmp_path / "probe"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", str(tmp_path), str(src),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines()
    got = dict(line.rsplit(" ", 1) for line in out if not line.startswith("od "))
    for t, dt in layouts:
        assert int(got[t]) == dt.itemsize
        for name in dt.names:
            assert int(got[f"{t}.{name}"]) == dt.fields[name][1]
    rows = [line.split()[1:] for line in out if line.startswith("od ")]
    entries = list(table.entries())
    assert len(rows) == len(entries)
    for row, e in zip(rows, entries):
        assert (int(row[0]), int(row[1]), int(row[2])) == (e.index, e.subindex, od.DTYPES[e.dtype][0])
        if e.is_numeric:
            lo, hi = e.limits
            assert float(row[5]) == pytest.approx(max(lo, -3.4028235e38)) and float(row[6]) == pytest.approx(
                min(hi, 3.4028235e38))


@pytest.mark.toolchain
def test_header_compiles_for_cortex_m(tmp_path):
    require_tools("arm-none-eabi-gcc")
    assert cbl(["eds", "--board", "joint", "-o", str(tmp_path / "j.eds"), "--header", str(tmp_path / "od.h")]) == 0
    (tmp_path / "fw.c").write_text('#include "od.h"\nunsigned n(void) { return CBL_JOINT_OD_ENTRIES + '
                                   "sizeof(cbl_joint_tpdo1_t) + cbl_joint_od[3].index; }\n")
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                    "-mfpu=fpv4-sp-d16", "-Wall", "-Werror", "-pedantic", "-c", "-I", str(tmp_path),
                    str(tmp_path / "fw.c"), "-o", str(tmp_path / "fw.o")], check=True, capture_output=True, text=True)
