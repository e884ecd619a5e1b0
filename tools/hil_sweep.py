"""`cbl hil sweep MATRIX.toml`: every cell of a matrix, in parallel, merged into one report.

Local cores: pytest-xdist runs :mod:`cerebellum_rt.hil_tests.sweep_cells` (one test per cell,
``--workers`` processes; its JUnit XML beside the report). ``--ray ADDRESS``: the cells run as
Ray tasks on that existing cluster. Either way ``OUT/summary.json`` and ``OUT/index.html`` hold
pass / fail per cell and the failing cells' logs. Exit 0 when every cell passed, 1 otherwise,
2 bad input.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.hil_tests.sweep import load_matrix, merge, run_on_ray
    from cerebellum_rt.rtcore.errors import check_range

    check_range("--workers", args.workers, 1, 256)
    cells = load_matrix(args.matrix)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in (out / "cells").glob("*.json"):
        old.unlink()  # a previous sweep's cells must not stand in for this one's
    if args.ray:
        run_on_ray(cells, out, args.ray)
    else:
        (out / "pytest.ini").write_text("[pytest]\naddopts =\n")  # the sweep's own settings, not a project's
        import cerebellum_rt.hil_tests.sweep_cells as mod

        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "xdist", "-n", str(args.workers), "-c", str(out / "pytest.ini"),
               "--rootdir", str(out), "-p", "no:cacheprovider", mod.__file__, "--hil-matrix", str(Path(args.matrix).resolve()),
               "--hil-sweep-out", str(out), "--junitxml", str(out / "junit.xml")]
        subprocess.run(cmd, stdout=subprocess.DEVNULL if args.json else None, check=False)
    summary = merge(cells, out)
    if args.json:
        json.dump({k: summary[k] for k in ("cells", "passed", "failed")} | {"report": str(out / "index.html"),
                                                                            "results": summary["results"]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        for r in summary["results"]:
            print(f"{'pass' if r['passed'] else 'FAIL'}  {r['cell']}" + (f": {'; '.join(r['failures'])}" if r["failures"] else ""))
        print(f"{summary['passed']} of {summary['cells']} cells passed; report {out / 'index.html'}")
    return 0 if summary["failed"] == 0 else 1
