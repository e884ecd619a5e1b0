"""The verbs end to end: `cbl keys`, `cbl build firmware --image`, `cbl image inspect`, and
`cbl flash` against `cbl emulate --image-key` boards in another process over SLCAN (dry run, two
boards updated with read-back of the new version, a wrong board type refused naming the values)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from cerebellum_rt.hil_tests.fixtures import stop_process
from cerebellum_rt.tools import cli

ROOT = Path(__file__).resolve().parents[2]


def _json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = cli.main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_keys_are_private_and_never_overwritten(tmp_path, capsys):
    key = tmp_path / "k.pem"
    code, info = _json(capsys, ["keys", "new", str(key), "--json"])
    assert code == 0 and info["private"] and info["type"] == "ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and (tmp_path / "k.pem.pub").exists()
    before = key.read_bytes()
    assert cli.main(["keys", "new", str(key)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err and key.read_bytes() == before
    code, pub = _json(capsys, ["keys", "show", str(tmp_path / "k.pem.pub"), "--json"])
    assert code == 0 and not pub["private"] and pub["keyhash"] == info["keyhash"]


def test_build_inspect_and_flash_over_slcan(tmp_path, capsys, keys):
    key = tmp_path / "k.pem"
    assert cli.main(["keys", "new", str(key)]) == 0
    capsys.readouterr()
    out = tmp_path / "fw"
    code, rep = _json(capsys, ["build", "firmware", "--board", "joint", "--target", "host", "-o", str(out), "--image",
                               "--key", str(key), "--version", "1.4.2", "--security-counter", "3", "--json"])
    assert code == 0 and rep["image_version"] == "1.4.2"
    image = rep["image"]
    code, info = _json(capsys, ["image", "inspect", image, "--key", f"{key}.pub", "--board", "joint", "--json"])
    assert code == 0 and info["signature"] == "valid" and info["sha256_ok"] and info["version"] == "1.4.2"
    assert info["board_type"] == 0x4A4E5431 and info["security_counter"] == 3 and info["error"] is None
    code, info = _json(capsys, ["image", "inspect", image, "--key", str(keys.good), "--json"])
    assert code == 2 and info["check"] == "signature" and info["signature"] == "other key"
    hand = tmp_path / "hand.img"
    hand.write_bytes(keys.image("9.0.0", counter=9, board=0x48414E31))

    proc = subprocess.Popen([sys.executable, "-m", "cerebellum_rt.tools.cli", "emulate", "--json", "--report-s", "0",
                             "--state-dir", str(tmp_path / "state"), "--image-key", f"{key}.pub"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        ch = json.loads(line)["buses"][0]["channel"]
        bus = ["-i", "slcan", "-c", ch]
        code, dry = _json(capsys, ["flash", image, *bus, "--node", "1-2", "--dry-run", "--json"])
        assert code == 0 and [b["status"] for b in dry["boards"]] == ["compatible", "compatible"]
        assert all(b["old_version"] == "0.0.0" for b in dry["boards"])
        code, done = _json(capsys, ["flash", image, *bus, "--node", "1,2", "--json"])
        assert code == 0 and done["ok"], done
        assert [(b["node"], b["status"], b["new_version"], b["test_boot"]) for b in done["boards"]] == [
            (1, "ok", "1.4.2", False), (2, "ok", "1.4.2", False)]
        code, again = _json(capsys, ["flash", image, *bus, "--node", "1", "--dry-run", "--json"])
        assert again["boards"][0]["old_version"] == "1.4.2"  # the read-back of 0x1F56 after the update
        code = cli.main(["flash", str(hand), *bus, "--node", "3"])
        captured = capsys.readouterr()
        assert code == 1
        assert ("node 3: wrong board type: image is for 0x48414E31 (hand), board is 0x4A4E5431 (joint) "
                "(stage compatibility)") in captured.out
        assert cli.main(["flash", image, *bus]) == 2  # no --node / --all
        assert "--node N" in capsys.readouterr().err
    finally:
        stop_process(proc)
    assert "--image-key: every board runs firmware = 'python'" in proc.stderr.read()  # said, not silent
    slots = tmp_path / "state" / "bus0" / "node1.slots"
    assert slots.exists()  # the board's image slots, beside its parameters


def test_image_key_needs_the_python_board(tmp_path, capsys):
    """Program download is served by the Python board only: `--image-key` runs the boards on it
    (said on stderr, see above), and with `--firmware c` it is refused at once, in one line."""
    import can
    import pytest

    from cerebellum_rt.hil_tests.emulator import make_board
    from cerebellum_rt.hil_tests.rig import BoardSpec
    from cerebellum_rt.rtcore.errors import ConfigError

    key = tmp_path / "k.pem"
    assert cli.main(["keys", "new", str(key)]) == 0
    capsys.readouterr()
    assert cli.main(["emulate", "--image-key", f"{key}.pub", "--firmware", "c", "--state-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--image-key with --firmware c: program download is served by the Python board only" in err
    assert len(err.splitlines()) == 1
    bus = can.Bus(interface="virtual", channel=f"imgkey-{tmp_path.name}")
    try:
        with pytest.raises(ConfigError, match=r"an image key .* needs firmware = 'python'"):
            make_board(BoardSpec(1, "joint", "knee", "c"), bus, threaded=False, image_key=f"{key}.pub")
    finally:
        bus.shutdown()
