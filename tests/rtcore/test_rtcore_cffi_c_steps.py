"""The Cython runner driving plain C functions loaded through cffi (the path generated C takes):
read -> step -> write order, the (t, dt) each receives, and a status that stops the loop."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cffi
import numpy as np
import pytest

from cerebellum_rt.rtcore.clock import LockstepClock
from cerebellum_rt.rtcore.cyrunner import CyLoopRunner

pytestmark = pytest.mark.needs("gcc")

SRC = """
#include <stdint.h>
/* ctx: int64 log[0] = entries, log[1..] = phase id * 1e9 + t in µs; log[1023] = stop tick */
static int32_t note(int64_t *log, int64_t id, double t) {
    int64_t n = ++log[0];
    if (n < 1000) log[n] = id * 1000000000LL + (int64_t)(t * 1e6 + 0.5);
    return 0;
}
int32_t rd(double t, double dt, void *ctx) { return note(ctx, 1, t); }
int32_t st(double t, double dt, void *ctx) {
    int64_t *log = ctx;
    note(log, 2, t);
    return (int64_t)(t * 1e3 + 0.5) >= log[1023] ? 9 : 0;
}
int32_t wr(double t, double dt, void *ctx) { return note(ctx, 3, dt); }
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory):
    d: Path = tmp_path_factory.mktemp("cffi_steps")
    (d / "steps.c").write_text(SRC)
    so = d / "libsteps.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(so), str(d / "steps.c")], check=True)
    ffi = cffi.FFI()
    ffi.cdef("int32_t rd(double, double, void *); int32_t st(double, double, void *);"
             "int32_t wr(double, double, void *);")
    return ffi, ffi.dlopen(str(so))


def test_phases_run_in_order_with_time_and_period(lib) -> None:
    _ffi, c = lib
    log = np.zeros(1024, dtype=np.int64)
    log[1023] = 1 << 40  # never stop
    runner = CyLoopRunner(1_000_000, LockstepClock(), c.st, log, read=c.rd, read_ctx=log, write=c.wr, write_ctx=log)
    stats = runner.run(5)
    assert stats.cycles == 5 and stats.status == 0 and log[0] == 15
    want = []
    for k in range(5):
        t_us = (k + 1) * 1000
        want += [1_000_000_000 + t_us, 2_000_000_000 + t_us, 3_000_000_000 + 1000]  # write gets dt = 1 ms
    assert log[1:16].tolist() == want


def test_nonzero_status_stops_the_loop_after_that_tick(lib) -> None:
    _ffi, c = lib
    log = np.zeros(1024, dtype=np.int64)
    log[1023] = 7  # the step returns 9 at t = 7 ms (tick 6)
    got: list[str] = []
    stats = CyLoopRunner(1_000_000, LockstepClock(), c.st, log, read=c.rd, read_ctx=log, write=c.wr,
                         write_ctx=log, on_fault=got.append).run(100)
    assert stats.status == 9 and stats.cycles == 7
    assert log[0] == 6 * 3 + 2  # the stopping tick skipped its write phase
    assert got == ["loop: step returned status 9 at tick 6"]
