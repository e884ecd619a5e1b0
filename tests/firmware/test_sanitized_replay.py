"""The fuzz sequences through the firmware built with AddressSanitizer and UBSan: a standalone
driver (src/replay.c: ASan cannot be loaded into a Python process started without it) replays
hypothesis-generated traffic, malformed frames included; it must exit cleanly (any sanitizer
report aborts it) and answer exactly as the Python board does."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from cerebellum_rt.drivers.firmware import host
from cerebellum_rt.drivers.firmware.differential import START_US, LockstepBoard
from cerebellum_rt.drivers.od import build_table
from cerebellum_rt.hil_tests.prereq import require_tools

_spec = importlib.util.spec_from_file_location("fuzz", Path(__file__).with_name("test_differential_fuzz.py"))
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)
TABLE = build_table("joint")
SEQUENCES: list[list] = []


def _script(seqs: list[list]) -> str:
    lines = []
    for events in seqs:
        lines.append(f"B {fuzz.NODE} {START_US}")
        for ev in events:
            if ev[0] == "wait":
                lines.append(f"W {ev[1]}")
            else:
                lines.append(f"F {ev[1]:x} {ev[3]} {bytes(ev[2]).hex() or '-'}")
    return "\n".join(lines) + "\n"


def _parse(out: str) -> list[list[tuple[int, bytes]]]:
    events: list[list[tuple[int, bytes]]] = []
    for line in out.splitlines():
        if line == "E":
            events.append([])
        else:
            cob, _, data = line.partition(" ")
            events[-1].append((int(cob, 16), bytes.fromhex(data)))
    return events


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(fuzz.sequence)
def _collect(events):
    SEQUENCES.append(events)


def test_fuzz_sequences_under_asan_and_ubsan_match_the_python_board():
    require_tools("gcc")
    exe = host.build_replay(TABLE, sanitize=True)
    _collect()
    r = subprocess.run([str(exe)], input=_script(SEQUENCES), capture_output=True, text=True, timeout=600,
                       env={"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1", "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "runtime error" not in r.stderr, r.stderr[-3000:]
    got = _parse(r.stdout)
    want: list = []
    frames = 0
    for events in SEQUENCES:
        b = LockstepBoard("python", fuzz.NODE, table=TABLE)
        try:
            want += [b.boot(), *b.run(events)]
        finally:
            b.close()
        frames += sum(1 for e in events if e[0] == "frame")
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"event {k}: sanitized C {g} python {w}"
    print(f"\nASan+UBSan replay: {len(SEQUENCES)} sequences, {frames} frames, identical to the Python board")


def test_negative_control_the_sanitizer_catches_an_out_of_bounds_write(tmp_path):
    """A heap overflow built with the same flags aborts with a sanitizer report (UBSan's object-size
    check or ASan, whichever sees it first): the flags are really in effect."""
    require_tools("gcc")
    src = tmp_path / "oob.c"
    src.write_text("#include <stdlib.h>\nint main(void){volatile char *p = malloc(8); p[8] = 1; return p[8];}\n")
    exe = tmp_path / "oob"
    subprocess.run(["gcc", *host.SANITIZE, str(src), "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True, env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert r.returncode != 0
    assert "heap-buffer-overflow" in r.stderr or "runtime error: store to address" in r.stderr
