"""The front end rejects constructs outside the subset with one line naming file:line and the
construct, and `cbl build` turns that (and bad LAW paths) into exit status 2."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

from cerebellum_rt.codegen.frontend import SubsetError, compile_law
from cerebellum_rt.codegen.law import Record, f32, i32
from cerebellum_rt.codegen.mathf32 import sin_cos


class R(Record):
    x: f32
    n: i32


def law_while(r: R) -> None:
    while r.x > 0.0:
        r.x -= 1.0


def law_list(r: R) -> None:
    v = [1.0, 2.0]
    r.x = v[0]


def law_numpy(r: R) -> None:
    r.x = np.sin(r.x)


def law_string(r: R) -> None:
    r.n = len("abc")


def law_recursive(r: R) -> None:
    law_recursive(r)


def law_unbounded_loop(r: R) -> None:
    for _ in range(r.n):
        r.x += 1.0


def law_bad_field(r: R) -> None:
    r.y = 1.0


def law_pow(r: R) -> None:
    r.x = r.x**2


def law_no_annotation(r) -> None:
    r.x = 0.0


def law_sincos_single(r: R) -> None:
    r.x = sin_cos(r.x)


def law_int_local_gets_float(r: R) -> None:
    k = True
    k = r.x
    r.n = 1 if k else 0


def _line_of(fn, text: str) -> int:
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, s in enumerate(lines) if text in s)


@pytest.mark.parametrize(
    ("law", "needle", "construct"),
    [
        (law_while, "while r.x", "'while' loop"),
        (law_list, "[1.0", "list"),
        (law_numpy, "np.sin", "call of 'np.sin'"),
        (law_string, "len(", "call of 'len'"),
        (law_recursive, "law_recursive(r)\n", "recursion"),
        (law_unbounded_loop, "range(r.n)", "not a constant integer"),
        (law_bad_field, "r.y", "has no field 'y'"),
        (law_pow, "**", "operator 'Pow'"),
        (law_no_annotation, "def law_no_annotation", "no type annotation"),
        (law_sincos_single, "sin_cos(r.x)", "sin_cos returns (s, c)"),
        (law_int_local_gets_float, "k = r.x", "local 'k' is bool"),
    ],
)
def test_rejected_with_file_line_and_construct(law, needle, construct):
    with pytest.raises(SubsetError) as exc:
        compile_law(law)
    msg = str(exc.value)
    assert msg.startswith(f"{__file__}:{_line_of(law, needle)}: "), msg
    assert construct in msg
    assert "\n" not in msg


def _cbl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "build", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(
    ("law", "text"),
    [
        ("no_such_module:f", "cannot be imported"),
        ("codegen/examples/pi.py:nope", "'nope' is not defined"),
        ("missing/file.py:f", "does not exist"),
        ("pi_step", "is not 'module:function'"),
        (f"{__file__}:law_while", "'while' loop"),
    ],
)
def test_cli_errors_are_one_line_exit_2(law, text, tmp_path):
    p = _cbl(law, "-o", str(tmp_path))
    assert p.returncode == 2
    assert text in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_cli_builds_and_verifies_host(tmp_path):
    import json

    p = _cbl("cerebellum_rt.codegen.examples.pi:pi_step", "--target", "host", "-o", str(tmp_path), "--vectors", "2000", "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["bit_exact"] and rep["vectors"] == 2000 and rep["text_bytes"] > 0
    h = (tmp_path / "pi.h").read_text()
    c = (tmp_path / "pi.c").read_text()
    assert "pi_step_r(PIConfig *cfg, PIState *st, float ref, float meas, float dt)" in h
    assert "void pi_init(void);" in h and "float pi_step(float ref, float meas, float dt);" in h
    assert "codegen/examples/pi.py:27" in c and "malloc" not in c
    assert (tmp_path / "pi.host.report.json").exists()
