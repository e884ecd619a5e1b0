"""`cbl flash IMAGE --rig RIG.toml`: every board of a rig, on all its buses at once, against a
`cbl emulate RIG --image-key` process (two SLCAN buses, two joint boards each); a hand board in the
rig is refused by board type (named), while the joints of the same run are updated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cerebellum_rt.hil_tests.fixtures import stop_process
from cerebellum_rt.tools import cli

ROOT = Path(__file__).resolve().parents[2]

RIG = """rate_hz = 250
[[bus]]
name = "left"
interface = "slcan"{left}
board = [{{ node = 1, type = "joint", preset = "knee" }}, {{ node = 2, type = "joint", preset = "knee" }}]
[[bus]]
name = "right"
interface = "slcan"{right}
board = [{{ node = 1, type = "joint", preset = "knee" }}, {{ node = 10, type = "hand" }}]
"""


def test_flash_a_whole_rig(tmp_path, capsys, keys):
    rig = tmp_path / "rig.toml"
    rig.write_text(RIG.format(left="", right=""))
    image = tmp_path / "joint.img"
    image.write_bytes(keys.image("2.3.4", counter=2))
    proc = subprocess.Popen([sys.executable, "-m", "cerebellum_rt.tools.cli", "emulate", str(rig), "--json",
                             "--report-s", "0", "--firmware", "python", "--state-dir", str(tmp_path / "state"),
                             "--image-key", f"{keys.good}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        ch = {b["name"]: b["channel"] for b in json.loads(line)["buses"]}
        assert set(ch) == {"left", "right"}
        filled = tmp_path / "rig_filled.toml"
        filled.write_text(RIG.format(left=f'\nchannel = "{ch["left"]}"', right=f'\nchannel = "{ch["right"]}"'))

        code = cli.main(["flash", str(image), "--rig", str(filled), "--node", "1"])
        assert code == 2 and "--rig names the boards" in capsys.readouterr().err

        code = cli.main(["flash", str(image), "--rig", str(filled), "--json"])
        rep = json.loads(capsys.readouterr().out)
        assert code == 1 and not rep["ok"]  # the hand board refuses a joint image
        got = {(b["bus"], b["node"]): b for b in rep["boards"]}
        assert set(got) == {("left", 1), ("left", 2), ("right", 1), ("right", 10)}
        for key in (("left", 1), ("left", 2), ("right", 1)):
            assert (got[key]["status"], got[key]["new_version"], got[key]["test_boot"]) == ("ok", "2.3.4", False)
        hand = got[("right", 10)]
        assert hand["status"] == "failed" and "wrong board type" in hand["error"] and "(hand)" in hand["error"]

        code = cli.main(["flash", str(image), "--rig", str(filled), "--dry-run", "--json"])
        rep = json.loads(capsys.readouterr().out)
        versions = {(b["bus"], b["node"]): b["old_version"] for b in rep["boards"]}
        assert versions[("left", 2)] == "2.3.4" and versions[("right", 1)] == "2.3.4"  # read back from the boards
        assert versions[("right", 10)] == "0.0.0"  # the refused hand board kept what it had
    finally:
        stop_process(proc)
