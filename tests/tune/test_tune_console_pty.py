"""The console as a user drives it: through a pseudo-terminal (pexpect), against an emulated joint.

Completion, a step test, Ctrl-C in the middle of an experiment (the drive ends disabled), save
then power-cycle then read back, no network listener, and `cbl completion bash`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

CBL = str(Path(sys.executable).parent / "cbl")
PROMPT = "node 1>"  # prompt_toolkit draws the trailing space as a cursor move


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    d = tmp_path_factory.mktemp("pty")
    env = dict(os.environ, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", HOME=str(d))
    child = pexpect.spawn(CBL, ["tune", "--emulate", "--flash", str(d / "flash.json"), "--project",
                                str(d / "project.toml")], env=env, encoding="utf-8", timeout=60,
                          dimensions=(40, 160))
    child.expect_exact(PROMPT)
    yield child
    child.sendcontrol("d")
    child.expect(pexpect.EOF, timeout=30)


def _run(child: pexpect.spawn, line: str, expect: str, timeout: float = 60) -> str:
    child.sendline(line)
    child.expect(expect, timeout=timeout)
    out = child.before + child.after
    child.expect_exact(PROMPT, timeout=timeout)
    return out


def test_tab_completes_object_names(term):
    term.send("get position_k\t")  # the completion appends 'p': the command only runs if it did
    time.sleep(0.5)
    term.send("\r")
    term.expect(r"position_kp \(0x2010:1\) = [0-9.]+ 1/s")
    term.expect_exact(PROMPT)
    term.send("help ste\t")
    time.sleep(0.5)
    term.send("\r")
    term.expect(r"step position\|velocity\|torque\|impedance SIZE")
    term.expect_exact(PROMPT)


def test_impedance_autotune_at_the_prompt(term):
    _run(term, "autotune impedance 1e9 N*m/rad", r"error: autotune impedance: impedance_stiffness \(0x2011:1\) = "
         r"1e\+09 N\*m/rad is out of the board's limits \[0, [0-9.]+\] N\*m/rad")
    out = _run(term, "autotune impedance zeta 0.7", r"not applied: 'apply' writes it")
    assert re.search(r"natural frequency [0-9.]+ Hz, damping ratio 0.700, phase margin [0-9.]+ deg", out), out
    _run(term, "apply", r"applied: impedance_stiffness = [0-9.]+, impedance_damping = [0-9.]+")
    _run(term, "step impedance 10 N*m", r"deflection [0-9.e-]+ rad \(stiffness [0-9.]+ N\*m/rad\), overshoot")
    _run(term, "revert board", r"reverted from board")


def test_step_test_reports_its_metrics(term):
    out = _run(term, "step position 0.05", r"overshoot [0-9.]+ %, settling \(2 %\) [0-9.]+ ms")
    assert "rise" in out


def test_ctrl_c_in_the_middle_of_an_experiment_ends_disabled(term):
    term.sendline("step position 0.05 rad 60")
    time.sleep(2.0)  # the experiment runs (60 s of virtual time: far longer than this)
    term.sendintr()
    # the guard had an enabled drive to stop, and it ended in SWITCH ON DISABLED
    term.expect(r"interrupted; drive stopped and disabled \(\{1: 'switch_on_disabled'\}\)", timeout=60)
    term.expect_exact(PROMPT)
    _run(term, "state", r"switch_on_disabled \(statusword 0x[0-9A-F]{4}")


def test_save_power_cycle_read_back(term):
    _run(term, "set kv 9.25", r"velocity_kp \(0x2010:2\) = 9.25 N\*m\*s/rad")
    _run(term, "save", r"saved on the board \(0x1010:1\)")
    _run(term, "set kv 4", r"= 4 N\*m\*s/rad")
    _run(term, "power-cycle", r"board power-cycled \(1\)")
    _run(term, "get kv", r"velocity_kp \(0x2010:2\) = 9.25 N\*m\*s/rad")


def test_live_watch_draws_values_and_plot(term):
    out = _run(term, "watch 0.5", r"telemetry: \d+ samples at \d+ Hz, 0 TPDOs missing")
    assert "position_rad" in out and "rad/s" in out  # values with their units, then the sparklines


def test_out_of_range_is_refused_with_the_limit(term):
    _run(term, "set kp 5000", r"error: position_kp \(0x2010:1\) = 5000 is out of the board's limits \[0, 2000\] 1/s")


def _listening_inodes() -> set[str]:
    inodes = set()
    for name in ("tcp", "tcp6", "udp", "udp6"):
        p = Path("/proc/net") / name
        if not p.exists():
            continue
        for line in p.read_text().splitlines()[1:]:
            f = line.split()
            if name.startswith("udp") or f[3] == "0A":  # 0A = LISTEN; any bound UDP socket counts
                inodes.add(f[9])
    return inodes


def test_console_opens_no_network_listener(term):
    socks = set()
    for fd in Path(f"/proc/{term.pid}/fd").iterdir():
        try:
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
        except OSError:
            continue
        if m:
            socks.add(m.group(1))
    assert not socks & _listening_inodes()


def test_shell_completion_script():
    out = subprocess.run([CBL, "completion", "bash"], capture_output=True, text=True, check=True).stdout
    assert "tune" in out and "--emulate" in out and "complete" in out


@pytest.mark.parametrize("signum, name", [(2, "SIGINT"), (15, "SIGTERM")])
def test_a_signal_during_an_exec_experiment_stops_the_drive_and_exits_130(tmp_path, signum, name):
    proc = subprocess.Popen([CBL, "tune", "--emulate", "--flash", str(tmp_path / "f.json"), "--exec", "state",
                             "--exec", "step position 0.05 rad 60"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "switch_on_disabled" in proc.stdout.readline()  # connected
        started = proc.stderr.readline()  # the drive is enabled and the 60 s step (virtual time) runs
        assert "node 1 enabled at the work position" in started and "step runs for" in started, started
        time.sleep(0.3)  # some ticks into the step: the signal lands wherever the loop happens to be
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "drives stopped and disabled: {1: 'switch_on_disabled'}" in err


def test_exec_json_contract_and_refusal(tmp_path):
    import json

    r = subprocess.run([CBL, "tune", "--emulate", "--flash", str(tmp_path / "f.json"), "--exec", "get kp",
                        "--exec", "set kv 8.5 N*m*s/rad", "--exec", "set kp 120 N*m/rad", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    d = json.loads(r.stdout)
    assert d["board"]["node"] == 1 and [x["command"] for x in d["results"]] == ["get kp", "set kv 8.5 N*m*s/rad"]
    assert d["results"][1]["value"] == 8.5 and d["results"][1]["unit"] == "N*m*s/rad"
    assert "takes 1/s" in d["error"] and r.stderr.count("\n") == 1  # one line on stderr
