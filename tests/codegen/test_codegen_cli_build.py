"""`cbl build`: exactly N vectors with branch coverage, any difference or bad input is exit 2 with
one line, law files are code (import runs them) but annotations are never evaluated."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cerebellum_rt.codegen import report
from cerebellum_rt.codegen.law import Record, resolve_annotation
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

PLAIN = "cerebellum_rt.codegen.examples.plain:leadlag_pi_step"


def _cbl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "build", *args], capture_output=True,
                          text=True, timeout=300)


def test_runs_exactly_n_vectors_with_full_branch_coverage(tmp_path):
    p = _cbl(PLAIN, "-o", str(tmp_path), "--vectors", "4321", "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["vectors"] == 4321 and rep["bit_exact"] and rep["branch_coverage"] == 1.0
    assert rep["host_law_vs_reference"] == "bit-identical" and rep["undefined_symbols"] == []


@pytest.mark.toolchain
def test_pil_runs_exactly_n_vectors(tmp_path):
    p = _cbl(PLAIN, "--target", "cortex-m4f", "-o", str(tmp_path), "--vectors", "2500", "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["vectors"] == 2500 and rep["bit_exact"] and rep["insns_per_step"] > 10
    assert rep["insns_per_step_deepest_path"] >= rep["insns_per_step"]


@pytest.mark.parametrize("opt", ["-ffast-math", "-Ofast", "-O2 -ffp-contract=fast", "-ffp-contract=fast"])
def test_opt_outside_the_allowed_levels_is_exit_2(tmp_path, opt):
    p = _cbl(PLAIN, "-o", str(tmp_path), f"--opt={opt}")
    assert p.returncode == 2 and "--opt" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_law_file_calling_exit_is_an_error(tmp_path):
    law = tmp_path / "quits.py"
    law.write_text("import sys\nsys.exit(0)\n")
    p = _cbl(f"{law}:step", "-o", str(tmp_path / "o"))
    assert p.returncode == 2 and "SystemExit" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_a_difference_is_an_error_naming_vector_and_field():
    with pytest.raises(DeviceError, match=r"leadlag_pi on host: .*vector 7 of 100: st\.integ"):
        report.check({"name": "leadlag_pi", "target": "host", "mismatch": "vector 7 of 100: st.integ = [1.0] vs [2.0]"})
    report.check({"name": "x", "target": "host", "mismatch": None, "undefined_symbols": []})


def test_annotations_are_resolved_never_evaluated(tmp_path):
    import cerebellum_rt.codegen.law as law_mod

    ns = vars(law_mod)
    assert resolve_annotation("f32", ns) is law_mod.f32
    assert resolve_annotation("array(f32, 3 * 4)", ns).n == 12
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError, match="is not a type name"):
        resolve_annotation(f"open({str(marker)!r}, 'w')", {**ns, "open": open})
    assert not marker.exists()
    with pytest.raises(ConfigError, match=r"x\.y\.a: annotation .*is not a type name"):
        type("y", (Record,), {"__module__": __name__, "__qualname__": "x.y",
                              "__annotations__": {"a": "__import__('os').getcwd()"}})


def test_unusable_output_directory_is_one_line_before_any_work(tmp_path, capsys):
    from cerebellum_rt.tools.cli import main

    afile = tmp_path / "a-file"
    afile.write_text("x")
    for out, why in (("/proc/x", "cannot create"), (str(afile), "is not a directory")):
        assert main(["build", "cerebellum_rt.codegen.examples.pi:pi_step", "--target", "host", "-o", out]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"-o {out}: {why}" in err
