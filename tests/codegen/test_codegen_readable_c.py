"""The generated C reads well and stands alone: module constants by their Python name with
file:line, no hashed module names, and a law object that needs no symbol from anywhere (no
memset, no libm) and contains no fused multiply-add, built with integrators' default flags."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from cerebellum_rt.codegen import build, targets
from cerebellum_rt.hil_tests.prereq import require_tools

FLAGS = {"host": ("objdump", ["-std=gnu99", "-O2", "-march=native"]),
         "cortex-m4f": ("arm-none-eabi-objdump", ["-std=gnu99", "-Os"]),
         "aarch64": ("aarch64-linux-gnu-objdump", ["-std=gnu99", "-O2"])}
FUSED = re.compile(r"\b(vfma|vfms|vfnma|vfnms|vfmadd\w*|vfmsub\w*|vfnmadd\w*|vfnmsub\w*|fmadd|fmsub|fnmadd|fnmsub|fmla|fmls)\b")


def _object(g: build.Generated, t: targets.Target, flags: list[str]) -> str:
    obj = f"{g.out_dir}/{g.name}.default.{t.name}.o"
    p = subprocess.run([t.cc, *t.cflags, *flags, "-Wall", "-Werror", "-c", f"{g.out_dir}/{g.name}.c", "-o", obj],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return obj


@pytest.mark.parametrize("target_name", list(FLAGS))
def test_law_objects_need_no_symbol_and_never_fuse(fspec, target_name, generated):
    t = targets.get_target(target_name)
    require_tools(*targets.missing_tools(t, run=False), FLAGS[target_name][0])
    g = generated(fspec)
    obj = _object(g, t, FLAGS[target_name][1])
    assert targets.undefined_symbols(t, obj) == []
    dis = subprocess.run([FLAGS[target_name][0], "-d", obj], capture_output=True, text=True, check=True).stdout
    assert not FUSED.search(dis), FUSED.search(dis)


def test_undefined_symbols_sees_a_libc_call(tmp_path):
    """Negative control: an object calling memset lists it."""
    t = targets.get_target("host")
    src = tmp_path / "m.c"
    src.write_text("#include <string.h>\nvoid z(char *p, unsigned n) { memset(p, 0, n); }\n")
    subprocess.run(["gcc", "-O2", "-c", str(src), "-o", str(tmp_path / "m.o")], check=True)
    assert "memset" in targets.undefined_symbols(t, str(tmp_path / "m.o"))


def test_constants_keep_their_names_and_lines(tmp_path):
    from cerebellum_rt.codegen.examples import plain

    g = build.generate(plain.leadlag_pi_step, str(tmp_path))
    c = g.source
    lines = Path(plain.__file__).read_text().splitlines()
    line = next(i for i, ln in enumerate(lines, 1) if ln.startswith("DEADBAND ="))
    assert f"static const float DEADBAND = 1e-06F;  /* codegen/examples/plain.py:{line} */" in c
    assert "static const int32_t MODE_RUN = 3;" in c and "== MODE_RUN" in c
    assert "static const float math_pi = 3.1415927F;  /* math.pi */" in c
    assert re.search(r"/\* leadlag_pi_step: codegen/examples/plain\.py:\d+", c)
    assert "/* :" in c  # statement lines


def test_no_hashed_module_name_for_a_law_file(tmp_path):
    """A law loaded from a path lives in a module named by a hash; the C never shows it."""
    law = tmp_path / "mylaw.py"
    law.write_text("from cerebellum_rt.codegen.law import Record, f32\n\nGAIN = 2.0\n\n\n"
                   "class R(Record):\n    x: f32\n    y: f32\n\n\ndef my_step(r: R) -> None:\n    r.y = r.x * GAIN\n")
    fn = build.load_law(f"{law}:my_step")
    assert fn.__module__.startswith("_cbl_law_")
    g = build.generate(fn, str(tmp_path / "out"), reference=False)
    assert "_cbl_law_" not in g.source and "_cbl_law_" not in g.header
    assert "mylaw.py:6 R" in g.header  # the record's file:line instead
