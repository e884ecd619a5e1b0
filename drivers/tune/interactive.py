"""The interactive prompt of ``cbl tune`` (prompt_toolkit): completion, history, help, live view.

Completion: the command words; after ``get`` / ``set`` / ``list`` every object of the board by
name, alias and index, with its index, unit and limits shown beside it; modes after ``step`` /
``chirp`` (``impedance`` after ``autotune``); unit examples after a value. History in
``~/.cache/cbl/tune_history`` (in memory when that cannot be written). The bottom line shows the usage of the command being typed.
Ctrl-C during an experiment: the drive is brought to a controlled stop and disabled (the
experiment's :class:`DriveGuard`), then the prompt returns; Ctrl-D or ``exit`` ends the console.
The console opens no network listener: it reads this terminal and the CAN bus only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.history import FileHistory, InMemoryHistory

MODES = {"step": ("position", "velocity", "torque", "impedance"), "chirp": ("position", "velocity"),
         "revert": ("board", "toml", "defaults"), "diff": ("toml", "connect"), "autotune": ("impedance",)}
UNIT_HINTS = {"position": ("rad", "deg", "mrad"), "velocity": ("rad/s", "rpm", "deg/s"),
              "torque": ("N*m", "mN*m"), "impedance": ("N*m", "mN*m")}


class TuneCompleter(Completer):
    def __init__(self, console: Any) -> None:
        self.c = console

    def get_completions(self, document, complete_event):
        words = document.text_before_cursor.split()
        ends_space = document.text_before_cursor.endswith(" ")
        idx = len(words) if ends_space else len(words) - 1
        word = "" if ends_space else (words[-1] if words else "")
        if idx <= 0:
            for name, cmd in self.c.commands.items():
                if name.startswith(word):
                    yield Completion(name, -len(word), display_meta=cmd.help[:60])
            return
        cmd = words[0]
        if cmd == "help" and idx == 1:
            for name, c in self.c.commands.items():
                if name.startswith(word):
                    yield Completion(name, -len(word), display_meta=c.usage)
            return
        if cmd in ("get", "set", "list") and (cmd == "get" or idx == 1):
            objs = self.c.s.objs
            for name in objs.names():
                ref = objs.refs[name]
                if name.startswith(word) or ref.key.lower().startswith(word.lower()):
                    meta = f"{ref.key} {ref.unit}".strip()
                    if ref.entry.is_numeric:
                        lo, hi = ref.si_limits()
                        meta += f" [{lo:.4g}, {hi:.4g}]"
                    yield Completion(name, -len(word), display_meta=meta)
            if word.startswith("0x"):
                for key in sorted({r.key for r in objs.by_key.values()}):
                    if key.lower().startswith(word.lower()):
                        yield Completion(key, -len(word), display_meta=objs.resolve(key).name)
            return
        if cmd in MODES and idx == 1:
            for m in MODES[cmd]:
                if m.startswith(word):
                    yield Completion(m, -len(word))
            return
        if cmd in ("step", "chirp") and idx == 3 and len(words) > 1:
            for u in UNIT_HINTS.get(words[1], ()):
                if u.startswith(word):
                    yield Completion(u, -len(word))
        if cmd == "autotune" and idx == 3 and len(words) > 1 and words[1] == "impedance":
            for u in ("N*m/rad", "N*m/deg", "zeta"):
                if u.startswith(word):
                    yield Completion(u, -len(word))
        if cmd == "set" and idx == 3 and len(words) > 1:
            try:
                unit = self.c.s.objs.resolve(words[1]).unit
            except Exception:
                return
            if unit and unit.startswith(word):
                yield Completion(unit, -len(word), display_meta="the object's unit")


def _history() -> Any:
    path = Path.home() / ".cache" / "cbl" / "tune_history"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()


def live_watch(console: Any, seconds: float) -> str:
    """Sample on a background thread; redraw values and sparklines here ~10 times a second."""
    from cerebellum_rt.drivers.tune.telemetry import Telemetry, view_lines

    tel = Telemetry(console.s, console.exp.lockstep)
    tel.start(seconds)
    drawn = 0
    t0 = time.perf_counter()
    try:
        while tel.running():
            time.sleep(0.1)
            lines = view_lines(tel.drain(), len(tel.history) / max(1e-9, time.perf_counter() - t0))
            if drawn:
                print(f"\x1b[{drawn}F\x1b[J", end="")
            print("\n".join(lines), flush=True)
            drawn = len(lines)
    except KeyboardInterrupt:
        pass
    st = tel.join()
    return f"telemetry: {st['samples']} samples at {st['telemetry_hz']:.0f} Hz, {st['missing_tpdos']} TPDOs missing"


def run_prompt(console: Any, info: dict[str, Any], error_type: type[Exception]) -> int:
    session = PromptSession(history=_history(), completer=TuneCompleter(console), complete_while_typing=False)

    def toolbar() -> str:
        words = session.default_buffer.text.split()
        cmd = console.commands.get(words[0]) if words else None
        return cmd.usage if cmd else "Tab completes; 'help' lists the commands; Ctrl-D exits"

    print(f"cbl tune: node {info['node']} (serial {info['serial']}), rated {info['rated_torque_nm']:.4g} N*m; "
          f"'help' for the commands")
    while True:
        try:
            line = session.prompt(f"node {info['node']}> ", bottom_toolbar=toolbar)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        line = line.strip()
        if line in ("exit", "quit"):
            break
        if not line:
            continue
        try:
            words = line.split()
            if words[0] == "watch":
                print(live_watch(console, console.watch_seconds(words[1:])))
                continue
            _, text = console.execute(line)
            if text:
                print(text)
        except KeyboardInterrupt:
            guard = getattr(console.exp, "last_guard_outcome", None)
            print(f"interrupted; drive stopped and disabled ({guard or 'no drive was enabled'})")
        except error_type as exc:
            print(f"error: {exc}")
    return 0
