"""The tuning console's commands: one interpreter for ``--exec`` lines and the interactive prompt.

:meth:`Console.execute` takes one command line and returns ``(result dict, text)``; errors are
:class:`~cerebellum_rt.rtcore.errors.CblError` (one line naming the object, the value, the limit).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cerebellum_rt.drivers.tune import autotune, experiment, impedance, record
from cerebellum_rt.drivers.tune.session import TuneSession
from cerebellum_rt.rtcore.errors import ConfigError


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Callable[[list[str]], tuple[dict[str, Any], str]]


def _fmt(v: float) -> str:
    return f"{v:.6g}"


class Console:
    """Commands over one :class:`TuneSession` (see module doc). ``yes``: apply auto-tuned gains
    without asking (scripts); otherwise ``autotune`` proposes and ``apply`` writes."""

    def __init__(self, session: TuneSession, lockstep: bool, yes: bool = False,
                 listener_bus: Callable[[], Any] | None = None) -> None:
        """``listener_bus``: opens another endpoint of the same bus (for ``buslog``), None where the
        interface has a single client (slcan)."""
        self.s = session
        self.listener_bus = listener_bus
        self._buslog: tuple[Any, Any, Any, str] | None = None
        self.exp = experiment.PdoExperiment(session, lockstep)
        self.yes = yes
        self.last: experiment.Capture | None = None
        self.last_chirp: experiment.Capture | None = None
        self.proposal: dict[str, Any] | None = None
        self.model: autotune.JointModel | None = None
        c = Command
        self.commands: dict[str, Command] = {x.name: x for x in (
            c("help", "help [COMMAND]", "list the commands, or one command's usage and help", self._help),
            c("info", "info", "the board's identity, ratings and limits", self._info),
            c("list", "list [PATTERN]", "objects of the board (name, index, type, access, limits in SI units)", self._list),
            c("get", "get NAME...", "read objects by name, alias (kp kv ki) or index (0x2010:1), in SI units", self._get),
            c("set", "set NAME VALUE [UNIT]", "write one parameter in RAM (e.g. 'set kv 6 N*m*s/rad', "
              "'set max_position_limit 30 deg'); values outside the board's limits are refused", self._set),
            c("diff", "diff [toml|connect]", "parameters that differ from the project TOML (default) or from connect time", self._diff),
            c("dump", "dump FILE.toml", "write the whole configuration to a TOML file", self._dump),
            c("restore", "restore FILE.toml", "write a dumped configuration back (all checked before any write)", self._restore),
            c("save", "save", "persist on the board (0x1010) and to the project TOML, with the diff", self._save),
            c("revert", "revert [board|toml|defaults]", "reload the board's saved set (NMT reset), the project TOML, or the defaults (0x1011)", self._revert),
            c("power-cycle", "power-cycle", "emulated board only: power it off and on (RAM lost, flash kept)", self._power_cycle),
            c("step", "step position|velocity|torque|impedance SIZE [UNIT] [SECONDS]", "a step in that mode; rise, overshoot, settling, steady-state error (torque: of the torque "
              "sensor, which on a free joint sees only the output side's share; impedance: a torque perturbation "
              "on the impedance (0x2011) about the work position: deflection, stiffness, overshoot)", self._step),
            c("chirp", "chirp position|velocity AMPLITUDE [UNIT] [F0 F1 SECONDS]", "logarithmic swept sine; measured closed-loop bandwidth (bode FILE.png plots it)", self._chirp),
            c("relay", "relay [TORQUE N*m]", "torque relay on the velocity: identifies inertia, friction", self._relay),
            c("identify", "identify", "relay + velocity step: the joint model (inertia, viscous, Coulomb, delay)", self._identify),
            c("autotune", "autotune [OVERSHOOT_PCT] | autotune impedance [STIFFNESS [N*m/rad]] [zeta Z]",
              "identify, then propose velocity and position gains with predicted bandwidth and margins, or the "
              "impedance mode's K and D (default: critically damped at the stiffest K the margins allow) with "
              "predicted natural frequency, damping ratio, overshoot and margins (applied with --yes, else with "
              "'apply')", self._autotune),
            c("apply", "apply", "write the last auto-tune proposal into RAM", self._apply),
            c("state", "state", "the drive's CiA 402 state and mode (statusword 0x6041)", self._state),
            c("watch", "watch [SECONDS]", "live telemetry from the board's process data at 1 kHz (values, rate, plot)", self._watch),
            c("buslog", "buslog start FILE.asc|.log|.blf | buslog stop", "log the bus traffic (every frame, "
              "process data included) through python-can's writers: ASC, candump .log, BLF", self._buslog_cmd),
            c("record", "record FILE.csv|.npz|.mcap", "write the last capture (units header)", self._record),
            c("plot", "plot FILE.png", "plot the last capture with its tracking-error panel", self._plot),
            c("bode", "bode FILE.png", "Bode plot of the last chirp (closed and open loop)", self._bode),
        )}

    # ------------------------------------------------------------------ dispatch
    def execute(self, line: str) -> tuple[dict[str, Any], str]:
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise ConfigError(f"command {line!r}: {exc}") from None
        if not argv:
            return {}, ""
        cmd = self.commands.get(argv[0])
        if cmd is None:
            raise ConfigError(f"command {argv[0]!r} is not one of: {', '.join(self.commands)}")
        result, text = cmd.run(argv[1:])
        return {"command": line, **result}, text

    def _need(self, args: list[str], n: int, cmd: str) -> None:
        if len(args) < n:
            raise ConfigError(f"{cmd}: missing arguments; usage: {self.commands[cmd].usage}")

    # ------------------------------------------------------------------ parameters
    def _help(self, args: list[str]) -> tuple[dict, str]:
        if args:
            c = self.commands.get(args[0])
            if c is None:
                raise ConfigError(f"help: {args[0]!r} is not a command")
            return {"usage": c.usage, "help": c.help}, f"{c.usage}\n  {c.help}"
        lines = [f"{c.usage:<58} {c.help}" for c in self.commands.values()]
        return {"commands": list(self.commands)}, "\n".join(lines)

    def _info(self, args: list[str]) -> tuple[dict, str]:
        s = self.s
        lim = self.exp.limits()
        d = {"node": s.node, **s.identity, "rated_torque_nm": s.objs.rated_torque_nm,
             "rated_current_a": s.objs.rated_current_a, **lim, "project": str(s.project)}
        return d, "\n".join(f"{k}: {_fmt(v) if isinstance(v, float) else v}" for k, v in d.items())

    def _list(self, args: list[str]) -> tuple[dict, str]:
        pat = args[0].lower() if args else ""
        refs = {r.key: r for r in self.s.objs.by_key.values() if pat in r.name.lower() or pat in r.key.lower()}
        rows = [r.describe() for r in refs.values()]
        return {"objects": [r.name for r in refs.values()]}, "\n".join(rows)

    def _get(self, args: list[str]) -> tuple[dict, str]:
        self._need(args, 1, "get")
        vals = [self.s.get(a) for a in args]
        text = "\n".join(f"{v['name']} ({v['index']}) = {_fmt(v['value'])} {v['unit']}".rstrip() for v in vals)
        return {"values": vals}, text

    def _set(self, args: list[str]) -> tuple[dict, str]:
        self._need(args, 2, "set")
        v = self.s.set(args[0], " ".join(args[1:]))
        return v, (f"{v['name']} ({v['index']}) = {_fmt(v['value'])} {v['unit']} "
                   f"(was {_fmt(v['before'])}; in RAM: 'save' persists it)")

    @staticmethod
    def _changes_text(changes: list[dict[str, Any]]) -> str:
        if not changes:
            return "no differences"
        return "\n".join(f"{c['name']} ({c['index']}): {_fmt(c['old']) if c['old'] is not None else '-'} -> "
                         f"{_fmt(c['new']) if c['new'] is not None else '-'} {c['unit']}".rstrip() for c in changes)

    def _diff(self, args: list[str]) -> tuple[dict, str]:
        src = args[0] if args else "toml"
        if src == "toml":
            base = self.s.saved()
            if base is None:
                src, base = "connect", self.s.at_connect
        elif src == "connect":
            base = self.s.at_connect
        else:
            raise ConfigError(f"diff: {src!r} is not one of 'toml', 'connect'")
        d = self.s.diff(base)
        return {"against": src, "diff": d}, f"against {src}:\n{self._changes_text(d)}"

    def _dump(self, args: list[str]) -> tuple[dict, str]:
        self._need(args, 1, "dump")
        p = self.s.dump(args[0])
        return {"file": str(p)}, f"configuration written to {p}"

    def _restore(self, args: list[str]) -> tuple[dict, str]:
        self._need(args, 1, "restore")
        ch = self.s.restore(args[0])
        return {"file": args[0], "changes": ch}, self._changes_text(ch)

    def _save(self, args: list[str]) -> tuple[dict, str]:
        r = self.s.save()
        return r, f"saved on the board (0x1010:1) and to {r['project']}\n{self._changes_text(r['diff'])}"

    def _revert(self, args: list[str]) -> tuple[dict, str]:
        r = self.s.revert(args[0] if args else "board")
        return r, f"reverted from {r['source']}:\n{self._changes_text(r['changes'])}"

    def _power_cycle(self, args: list[str]) -> tuple[dict, str]:
        r = self.s.power_cycle()
        return r, f"board power-cycled ({r['power_cycles']}), node {r['node']} back, serial {r['serial']}"

    # ------------------------------------------------------------------ experiments
    def _quantity(self, kind: str, args: list[str], cmd: str) -> tuple[float, list[str]]:
        from cerebellum_rt.drivers.tune.units import split_quantity, to_unit

        self._need(args, 1, cmd)
        value, unit = split_quantity(args[0])
        rest = args[1:]
        if not unit and rest and not _is_number(rest[0]):
            unit, rest = rest[0], rest[1:]
        si_unit = experiment.SIGNAL_UNITS[kind]
        if unit:
            value = to_unit(value, unit, si_unit, f"{cmd} {kind}")
        if not math.isfinite(value):
            raise ConfigError(f"{cmd} {kind}: size {value} is not finite")
        return value, rest

    def _check_step(self, kind: str, size: float) -> None:
        lim = self.exp.limits()
        if kind == "position":
            q = self.exp.work_position(lim) + size
            if not lim["min_position_rad"] <= q <= lim["max_position_rad"]:
                raise ConfigError(f"step position {size} rad from the work position ends at {q:.4f} rad, outside "
                                  f"the software limits [{lim['min_position_rad']:.4f}, {lim['max_position_rad']:.4f}] rad")
        elif kind == "velocity" and abs(size) >= lim["max_velocity_rad_s"]:
            raise ConfigError(f"step velocity {size} rad/s is out of the board's limit "
                              f"±{lim['max_velocity_rad_s']:.4g} rad/s (0x6080)")
        elif kind == "torque" and abs(size) > lim["max_torque_nm"]:
            raise ConfigError(f"step torque {size} N*m is out of the board's limit ±{lim['max_torque_nm']:.4g} N*m (0x6072)")

    def _kind(self, args: list[str], cmd: str, allowed: tuple[str, ...]) -> str:
        self._need(args, 2, cmd)
        if args[0] not in allowed:
            raise ConfigError(f"{cmd}: mode {args[0]!r} is not one of {allowed}")
        return args[0]

    def _step(self, args: list[str]) -> tuple[dict, str]:
        kind = self._kind(args, "step", ("position", "velocity", "torque", "impedance"))
        size, rest = self._quantity(kind, args[1:], "step")
        if kind == "impedance":
            return self._perturb(size, rest)
        seconds = float(rest[0]) if rest else (0.4 if kind != "torque" else 0.03)
        if not 0.01 <= seconds <= 60.0:
            raise ConfigError(f"step: duration {seconds} s is out of range [0.01, 60] s")
        self._check_step(kind, size)
        cap = experiment.step(self.exp, kind, size, seconds)
        self.last = cap
        m = cap.meta["metrics"]
        text = (f"step {kind} {size:g} {cap.setpoint_unit}: rise {m['rise_time_s'] * 1e3:.2f} ms, overshoot "
                f"{m['overshoot_pct']:.2f} %, settling (2 %) {m['settling_time_s'] * 1e3:.2f} ms, "
                f"steady-state error {m['steady_state_error']:.3g} {cap.setpoint_unit}")
        if cap.stopped:
            text += f"\nstopped: {cap.stopped}"
        return {"kind": kind, "size": size, "unit": cap.setpoint_unit, "metrics": m, "stopped": cap.stopped,
                "final": cap.meta["final"]}, text

    def _chirp(self, args: list[str]) -> tuple[dict, str]:
        kind = self._kind(args, "chirp", ("position", "velocity"))
        amp, rest = self._quantity(kind, args[1:], "chirp")
        f0, f1, secs = (float(x) for x in rest[:3]) if len(rest) >= 3 else (2.0, 100.0, 2.0)
        if not (0.1 <= f0 < f1 <= 450.0 and 0.2 <= secs <= 30.0):
            raise ConfigError(f"chirp: f0 {f0} Hz, f1 {f1} Hz, {secs} s outside 0.1 <= f0 < f1 <= 450 Hz, [0.2, 30] s")
        self._check_step(kind, amp)
        self._check_step(kind, -amp)
        cap = experiment.chirp(self.exp, kind, amp, f0, f1, secs)
        self.last = self.last_chirp = cap
        fr = record.frequency_response(cap)
        bw = record.measured_bandwidth_hz(fr)
        cap.meta["bandwidth_hz"] = bw
        text = f"chirp {kind} ±{amp:g} {cap.setpoint_unit}, {f0:g}-{f1:g} Hz: closed-loop bandwidth {bw:.1f} Hz"
        if cap.stopped:
            text += f"\nstopped: {cap.stopped}"
        return {"kind": kind, "bandwidth_hz": bw, "stopped": cap.stopped}, text

    def _relay_torque(self, args: list[str]) -> float:
        if not args:
            return 0.1 * self.s.objs.rated_torque_nm
        v, _ = self._quantity("torque", args, "relay")
        self._check_step("torque", v)
        return v

    def _relay(self, args: list[str]) -> tuple[dict, str]:
        d = self._relay_torque(args)
        cap = experiment.relay(self.exp, d)
        self.last = cap
        j, b, c = autotune.identify_inertia(cap)
        r = {"torque_nm": d, "inertia_kg_m2": j, "viscous_nm_s_per_rad": b, "coulomb_nm": c, "stopped": cap.stopped}
        return r, f"relay ±{d:.3g} N*m: J = {j:.5g} kg*m^2, b = {b:.3g} N*m*s/rad, Coulomb residual {c:.3g} N*m"

    def _gains(self) -> autotune.Gains:
        g = {n: self.s.get(n)["value"] for n in ("position_kp", "velocity_kp", "velocity_ki")}
        return autotune.Gains(**g)

    def _identify(self, args: list[str]) -> tuple[dict, str]:
        rel, _ = self._relay(args)
        m0 = autotune.JointModel(rel["inertia_kg_m2"], rel["viscous_nm_s_per_rad"], rel["coulomb_nm"], 0.0)
        cap = experiment.step(self.exp, "velocity", 1.0, 0.15)
        delay = autotune.fit_delay(m0, self._gains(), cap)
        self.model = autotune.JointModel(m0.inertia_kg_m2, m0.viscous_nm_s_per_rad, m0.coulomb_nm, delay)
        m = self.model.as_dict()
        return {"model": m}, ("model: " + ", ".join(f"{k} {_fmt(v)}" for k, v in m.items()))

    def _perturb(self, torque: float, rest: list[str]) -> tuple[dict, str]:
        seconds = float(rest[0]) if rest else impedance.PERTURBATION_S
        if not 0.05 <= seconds <= 60.0:
            raise ConfigError(f"step impedance: duration {seconds} s is out of range [0.05, 60] s")
        self._check_step("torque", torque)
        k = self.s.get(impedance.STIFFNESS)["value"]
        if k <= 0.0:
            raise ConfigError(f"step impedance: {impedance.STIFFNESS} (0x2011:1) is 0: the joint would not hold")
        cap = experiment.perturbation(self.exp, torque, k, seconds)
        self.last = cap
        m = cap.meta["metrics"]
        text = (f"step impedance {torque:g} N*m (K = {k:.6g} N*m/rad): deflection {m['deflection_rad']:.5g} rad "
                f"(stiffness {m['stiffness_nm_per_rad']:.5g} N*m/rad), overshoot {m['overshoot_pct']:.2f} %, "
                f"settling (2 %) {m['settling_time_s'] * 1e3:.1f} ms")
        if cap.stopped:
            text += f"\nstopped: {cap.stopped}"
        return {"kind": "impedance", "size": torque, "unit": "N*m", "stiffness_set_nm_per_rad": k, "metrics": m,
                "stopped": cap.stopped, "final": cap.meta["final"]}, text

    def _impedance_target(self, args: list[str]) -> tuple[float | None, float]:
        """``[STIFFNESS [UNIT]] [zeta Z]`` -> (K [N*m/rad] or None, zeta)."""
        from cerebellum_rt.drivers.tune.units import split_quantity, to_unit

        stiffness, zeta, rest = None, 1.0, list(args)
        while rest:
            tok = rest.pop(0)
            if tok == "zeta":
                if not rest or not _is_number(rest[0]):
                    raise ConfigError("autotune impedance: 'zeta' needs a number (e.g. 'zeta 0.7')")
                zeta = float(rest.pop(0))
                continue
            if stiffness is not None:
                raise ConfigError(f"autotune impedance: unexpected {tok!r}; usage: {self.commands['autotune'].usage}")
            value, unit = split_quantity(tok)
            if not unit and rest and rest[0] != "zeta" and not _is_number(rest[0]):
                unit = rest.pop(0)
            stiffness = to_unit(value, unit, "N*m/rad", "autotune impedance stiffness") if unit else value
        return stiffness, zeta

    def _autotune_impedance(self, args: list[str]) -> tuple[dict, str]:
        stiffness, zeta = self._impedance_target(args)
        objs = self.s.objs
        limits = {"max_stiffness": objs.resolve(impedance.STIFFNESS).si_limits()[1],
                  "max_damping": objs.resolve(impedance.DAMPING).si_limits()[1]}
        impedance.check_target(stiffness, zeta, limits)  # refused before any experiment runs
        ident, _ = self._identify([])
        max_t = self.exp.limits()["max_torque_nm"]
        before = impedance.ImpedanceGains(*(self.s.get(n)["value"] for n in (impedance.STIFFNESS, impedance.DAMPING)))
        gains, pred = impedance.design(self.model, limits=limits, stiffness=stiffness, zeta=zeta, max_torque=max_t)
        pred_before = impedance.predict(self.model, before, impedance.perturbation_torque(before, max_t), max_torque=max_t) \
            if before.impedance_stiffness > 0.0 else {}
        self.proposal = {"loop": "impedance", "gains": gains.as_dict(), "predicted": pred, "before": before.as_dict(),
                         "predicted_before": pred_before, "model": ident["model"],
                         "target": {"stiffness_nm_per_rad": stiffness, "damping_ratio": zeta}}
        units = {impedance.STIFFNESS: "N*m/rad", impedance.DAMPING: "N*m*s/rad"}
        lines = ["impedance proposal (predicted from the identified model):",
                 *(f"  {k}: {_fmt(before.as_dict()[k])} -> {_fmt(v)} {units[k]}" for k, v in gains.as_dict().items()),
                 f"  natural frequency {pred['natural_frequency_hz']:.1f} Hz, damping ratio {pred['damping_ratio']:.3f}, "
                 f"phase margin {pred['phase_margin_deg']:.1f} deg, gain margin {pred['gain_margin_db']:.1f} dB "
                 f"(crossover {pred['crossover_hz']:.1f} Hz)",
                 f"  perturbation {pred['perturbation_torque_nm']:.4g} N*m: deflection {pred['deflection_rad']:.5g} rad, "
                 f"overshoot {pred['overshoot_pct']:.2f} %, settling {pred['settling_time_s'] * 1e3:.1f} ms"]
        return self._propose(lines)

    def _propose(self, lines: list[str]) -> tuple[dict, str]:
        applied = False
        if self.yes:
            self._apply([])
            applied = True
            lines.append("applied in RAM (--yes); 'save' persists")
        else:
            lines.append("not applied: 'apply' writes it into RAM (or run with --yes)")
        return {**self.proposal, "applied": applied}, "\n".join(lines)

    def _autotune(self, args: list[str]) -> tuple[dict, str]:
        self.proposal = None  # a refused auto-tune leaves nothing for 'apply'
        if args and args[0] == "impedance":
            return self._autotune_impedance(args[1:])
        over = float(args[0]) if args else 2.0
        if not 0.0 <= over <= 50.0:
            raise ConfigError(f"autotune: overshoot {over} % is out of range [0, 50] %")
        ident, _ = self._identify([])
        before = self._gains()
        lim = self.exp.limits()
        clamps = {"max_velocity": lim["max_velocity_rad_s"], "max_torque": lim["max_torque_nm"]}
        pred_before = autotune.predict(self.model, before, **clamps)
        limits = {n: self.s.objs.resolve(n).entry.limits[1] for n in ("position_kp", "velocity_kp", "velocity_ki")}
        gains, pred = autotune.design(self.model, overshoot_pct=over, limits={**limits, **clamps})
        self.proposal = {"loop": "velocity+position", "gains": gains.as_dict(), "predicted": pred, "before": before.as_dict(),
                         "predicted_before": pred_before, "model": ident["model"]}
        lines = ["proposal (predicted from the identified model):",
                 *(f"  {k}: {_fmt(before.as_dict()[k])} -> {_fmt(v)}" for k, v in gains.as_dict().items()),
                 f"  velocity loop: bandwidth {pred['velocity_bandwidth_hz']:.1f} Hz, phase margin "
                 f"{pred['velocity_phase_margin_deg']:.1f} deg, gain margin {pred['velocity_gain_margin_db']:.1f} dB",
                 f"  position loop: bandwidth {pred['position_bandwidth_hz']:.1f} Hz, phase margin "
                 f"{pred['position_phase_margin_deg']:.1f} deg, step overshoot {pred['overshoot_pct']:.2f} %, "
                 f"settling {pred['settling_time_s'] * 1e3:.1f} ms"]
        return self._propose(lines)

    def _apply(self, args: list[str]) -> tuple[dict, str]:
        if self.proposal is None:
            raise ConfigError("apply: no auto-tune proposal yet (run 'autotune')")
        refs = [self.s.check(n, repr(float(v))) for n, v in self.proposal["gains"].items()]  # all checked first
        for ref, raw in refs:
            self.s.write_raw(ref, raw)
        return {"applied": self.proposal["gains"]}, "applied: " + ", ".join(
            f"{n} = {_fmt(v)}" for n, v in self.proposal["gains"].items())

    def _state(self, args: list[str]) -> tuple[dict, str]:
        from cerebellum_rt.drivers.cia402 import decode_state

        sw = int(self.s.read_raw(0x6041, 0))
        mode = int(self.s.read_raw(0x6061, 0))
        state = decode_state(sw)
        return {"state": state, "statusword": sw, "mode": mode}, f"{state} (statusword 0x{sw:04X}, mode {mode})"

    def watch_seconds(self, args: list[str]) -> float:
        secs = float(args[0]) if args else 1.0
        if not 0.01 <= secs <= 3600.0:
            raise ConfigError(f"watch: {secs} s is out of range [0.01, 3600] s")
        return secs

    def _watch(self, args: list[str]) -> tuple[dict, str]:
        from cerebellum_rt.drivers.tune.telemetry import Telemetry, view_lines

        tel = Telemetry(self.s, self.exp.lockstep)
        st = tel.run(self.watch_seconds(args))
        return {"telemetry": st}, "\n".join(view_lines(tel.history, st["telemetry_hz"]))

    def _buslog_cmd(self, args: list[str]) -> tuple[dict, str]:
        import can

        self._need(args, 1, "buslog")
        if args[0] == "stop":
            if self._buslog is None:
                raise ConfigError("buslog stop: no bus log is running")
            return self.stop_buslog(), ""
        if args[0] != "start" or len(args) < 2:
            raise ConfigError(f"buslog: usage: {self.commands['buslog'].usage}")
        if self._buslog is not None:
            raise ConfigError(f"buslog start: already logging to {self._buslog[3]} (buslog stop first)")
        if self.listener_bus is None:
            raise ConfigError("buslog: this interface takes one client (slcan): log on an interface with "
                              "several endpoints (socketcan, virtual, --emulate)")
        path = args[1]
        if not path.endswith((".asc", ".log", ".blf")):
            raise ConfigError(f"buslog: file {path!r} is not .asc (Vector ASC), .log (candump) or .blf")
        bus = self.listener_bus()
        writer = can.Logger(path)
        notifier = can.Notifier(bus, [writer], timeout=0.05)
        self._buslog = (bus, writer, notifier, path)
        return {"file": path}, f"logging the bus to {path} ('buslog stop' ends it)"

    def stop_buslog(self) -> dict[str, Any]:
        if self._buslog is None:
            return {}
        bus, writer, notifier, path = self._buslog
        self._buslog = None
        notifier.stop()
        writer.stop()
        bus.shutdown()
        print(f"bus log written to {path}")
        return {"file": path}

    # ------------------------------------------------------------------ files
    def _last(self, cmd: str) -> experiment.Capture:
        if self.last is None:
            raise ConfigError(f"{cmd}: no capture yet (run step, chirp or relay first)")
        return self.last

    def _record(self, args: list[str]) -> tuple[dict, str]:
        self._need(args, 1, "record")
        p = record.write(self._last("record"), args[0])
        return {"file": str(p)}, f"capture written to {p}"

    def _plot(self, args: list[str]) -> tuple[dict, str]:
        self._need(args, 1, "plot")
        p = record.plot(self._last("plot"), args[0])
        return {"file": str(p)}, f"plot written to {p}"

    def _bode(self, args: list[str]) -> tuple[dict, str]:
        self._need(args, 1, "bode")
        if self.last_chirp is None:
            raise ConfigError("bode: no chirp yet (run 'chirp position 0.01')")
        fr = record.frequency_response(self.last_chirp)
        p = record.bode(fr, args[0], f"cbl tune chirp ({self.last_chirp.kind}): closed-loop bandwidth "
                                     f"{record.measured_bandwidth_hz(fr):.1f} Hz")
        return {"file": str(p)}, f"Bode plot written to {p}"


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False
