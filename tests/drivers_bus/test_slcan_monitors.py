"""Several tools on one bus of `cbl emulate`: `cbl demo` commands through the master pty while one
client watches every frame on a monitor pty and keeps trying to command (NMT stop, an RPDO, an SDO
download of the controlword), and another reads by SDO with python-canopen on a second monitor
pty. The rule: monitors see everything and may read; nothing they send commands a board."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import can

from cerebellum_rt.drivers.cia402 import decode_state
from cerebellum_rt.hil_tests.fixtures import stop_process

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "cerebellum_rt.tools.cli"]
COMMANDS = [
    can.Message(arbitration_id=0x000, data=[0x02, 0x01], is_extended_id=False),  # NMT stop node 1
    can.Message(arbitration_id=0x201, data=[0, 0, 8, 0, 0, 0, 0], is_extended_id=False),  # RPDO1: controlword 0
    can.Message(arbitration_id=0x601, data=[0x2B, 0x40, 0x60, 0, 0, 0, 0, 0], is_extended_id=False),  # 0x6040 = 0
    can.Message(arbitration_id=0x080, data=[], is_extended_id=False),  # SYNC
]


def test_monitors_watch_and_read_while_one_master_commands(tmp_path):
    import canopen

    from cerebellum_rt.drivers.eds import write_eds
    from cerebellum_rt.drivers.od import build_table

    emu = subprocess.Popen([*CLI, "emulate", "single_joint", "--json", "--report-s", "0", "--monitors", "2",
                            "--state-dir", str(tmp_path / "state")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
    net = canopen.Network()
    watch = None
    try:
        line = emu.stdout.readline()
        assert line, emu.stderr.read()
        info = json.loads(line)["buses"][0]
        assert len(info["monitor_channels"]) == 2 and info["channel"] not in info["monitor_channels"]
        watch = can.Bus(interface="slcan", channel=info["monitor_channels"][0], bitrate=info["bitrate"],
                        sleep_after_open=0)
        net.connect(interface="slcan", channel=info["monitor_channels"][1], bitrate=info["bitrate"],
                    sleep_after_open=0)
        node = canopen.RemoteNode(1, str(write_eds(build_table("joint"), tmp_path / "joint.eds")))
        net.add_node(node)
        assert node.sdo[0x1018][2].raw == 0x4A4E5431  # a monitor reads

        seen: dict[int, int] = {}
        sent = {"n": 0}
        done, demo_over = threading.Event(), threading.Event()

        def watch_and_meddle() -> None:
            next_send = 0.0
            while not done.is_set():
                msg = watch.recv(timeout=0.01)
                if msg is not None:
                    seen[msg.arbitration_id] = seen.get(msg.arbitration_id, 0) + 1
                if demo_over.is_set():
                    continue
                if time.monotonic() >= next_send and seen.get(0x080, 0) > 50:  # the demo is running
                    for m in COMMANDS:
                        watch.send(m)
                    sent["n"] += 1
                    next_send = time.monotonic() + 0.02

        t = threading.Thread(target=watch_and_meddle, daemon=True)
        t.start()
        demo = subprocess.run([*CLI, "demo", "--json", "--lockstep", "--seconds", "1.5", "--no-emulate", "--no-rt",
                               "-i", "slcan", "-c", info["channel"], "--plot", str(tmp_path / "d.png")],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        demo_over.set()
        # the monitor reads what is still on its way (a loaded machine lags the pty by tens of ms)
        deadline, count = time.monotonic() + 10.0, -1
        while count != sum(seen.values()) and time.monotonic() < deadline:
            count = sum(seen.values())
            time.sleep(0.3)
        done.set()
        t.join(5)
        assert demo.returncode == 0, demo.stderr
        f = json.loads(demo.stdout.strip().splitlines()[-1])
        assert sent["n"] >= 5  # the monitor kept trying to command during the run
        assert f["missed_replies"] == 0 and f["tracking_cycles"] == 1500  # ... and never did
        assert f["final_state"] == "switch_on_disabled"
        assert seen.get(0x080, 0) >= f["cycles"] and seen.get(0x181, 0) >= f["cycles"]  # it saw the traffic
        assert decode_state(node.sdo[0x6041].raw) == "switch_on_disabled"
        assert node.nmt.wait_for_heartbeat(2.0) == "OPERATIONAL"  # the monitor's NMT stop never arrived
    finally:
        net.disconnect()
        if watch is not None:
            watch.shutdown()
        stop_process(emu)
