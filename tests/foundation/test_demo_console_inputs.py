"""`cbl demo` checks its inputs before the run (issue 11): one line, exit 2, nothing lost after."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cbl(*args: str) -> SimpleNamespace:
    """`cbl ARGS` in this process (the same main() the console runs): exit code and output."""
    from cerebellum_rt.tools.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse
            code = exc.code
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.mark.parametrize(("args", "needle"), [
    (["--plot", "out.txt"], "--plot out.txt: must end in .png"),
    (["--plot", "/proc/cbl-demo/d.png"], "--plot /proc/cbl-demo/d.png: cannot create"),
    (["-i", "slcan", "-c", "/dev/ptmx", "--emulate"], "--emulate on interface 'slcan'"),
    (["--trajectory", "/tmp"], "--trajectory /tmp: is a directory"),
])
def test_bad_outputs_and_inputs_are_refused_before_the_run(args, needle):
    r = _cbl("demo", "--lockstep", "--seconds", "0.2", *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
