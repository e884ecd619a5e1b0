"""A rig brought up for a run: a :class:`~cerebellum_rt.hil_tests.lockstep.World` built from a
RIG.toml, the host's ``CanTransport`` per bus, telemetry that counts every sample, the bus
traffic, and the hooks faults act through.

One tick (:meth:`RigSession.tick`), the same in lockstep and in real time::

    world up to the tick's start  (lockstep: boards' timers and frames; real time: sleep)
    body.before_tick(session)     (a robot body couples its plant, e.g. MuJoCo)
    per bus: CanTransport.cycle_send (RPDOs + SYNC on every bus), then per bus cycle_collect
                                  (replies within the bus's reply window; the buses run together)
    slow-path frames (EMCY, boot-up, heartbeat) into ``events``
    telemetry row per board: a sample received this tick, or one counted lost
    body.after_tick(session)

Every board of a joint rig gets a :class:`PlantTap` between its module and the board: the
sensors' fault hooks (encoder glitch / loss, torque-sensor saturation / bias, over-temperature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import can
import numpy as np

from cerebellum_rt.drivers import od
from cerebellum_rt.drivers.can.emulated import Faults
from cerebellum_rt.hil_tests.lockstep import LockstepBus, SdoClient, World
from cerebellum_rt.hil_tests.rig import BusSpec, Rig
from cerebellum_rt.rtcore.errors import ConfigError

TELEMETRY = ("position_rad", "velocity_rad_s", "torque_nm", "statusword", "target_rad", "fresh")
EMCY_BASE, BOOTUP_BASE = 0x080, 0x700


class Body(Protocol):
    """What a robot body plugs into a session (the ``robot`` fixture's plant; e.g. the G1 in MuJoCo).

    ``module_for(bus, node)`` gives the joint module a board drives (coupled to the body), or None
    for the preset's own; ``before_tick`` / ``after_tick`` run around each tick's exchange (couple
    the modules to the body, step the physics); ``state()`` is what a scenario asserts on (a dict
    of floats in SI units, e.g. ``{"pelvis_height_m": 0.79}``)."""

    def module_for(self, bus: str, node: int) -> Any | None: ...

    def before_tick(self, session: RigSession) -> None: ...

    def after_tick(self, session: RigSession) -> None: ...

    def state(self) -> dict[str, float]: ...


class PlantTap:
    """A joint module seen through faulty sensors (a proxy: everything but ``read`` is the module's).

    ``position_offset_rad`` (encoder glitch), ``position_frozen`` (encoder loss: the last value
    stays), ``torque_bias_nm``, ``torque_limit_nm`` (sensor range), ``torque_stuck_nm`` (the sensor
    pinned at a value, e.g. its full scale), ``temperature_c``
    (a forced winding temperature)."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.position_offset_rad = 0.0
        self.position_frozen = False
        self.torque_bias_nm = 0.0
        self.torque_limit_nm: float | None = None
        self.torque_stuck_nm: float | None = None
        self.temperature_c: float | None = None
        self._last_pos: float | None = None

    def read(self) -> Any:
        r = self.module.read()
        pos = r.position_rad + self.position_offset_rad
        if self.position_frozen and self._last_pos is not None:
            pos = self._last_pos
        self._last_pos = pos
        tq = r.torque_sensor_nm + self.torque_bias_nm
        if self.torque_limit_nm is not None:
            tq = max(-self.torque_limit_nm, min(self.torque_limit_nm, tq))
        if self.torque_stuck_nm is not None:
            tq = self.torque_stuck_nm
        temp = r.winding_temp_c if self.temperature_c is None else self.temperature_c
        return r._replace(position_rad=pos, torque_sensor_nm=tq, winding_temp_c=temp)

    def clear(self) -> None:
        self.position_offset_rad, self.position_frozen, self.torque_bias_nm = 0.0, False, 0.0
        self.torque_limit_nm = self.torque_stuck_nm = self.temperature_c = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)


@dataclass
class BusRun:
    spec: BusSpec
    host: LockstepBus
    transport: Any
    tx: np.ndarray
    rx: np.ndarray
    sdo: SdoClient
    boards: list[Any]
    sniffer: Any = None
    traffic: list[tuple[float, tuple[int, int, bytes]]] = field(default_factory=list)  # (t, (id, flags, data))
    bus_off_ticks: int = 0


class RigSession:
    """Bring up ``rig`` (see module doc). ``lockstep``: virtual time, deterministic; else real time.
    ``seed`` seeds the plants and the buses' fault generators; ``record_traffic`` keeps every
    frame on every bus (for candump / ASC logs)."""

    def __init__(self, rig: Rig, seed: int = 0, lockstep: bool = True, ticks: int = 1000,
                 body: Body | None = None, record_traffic: bool = True) -> None:
        from cerebellum_rt.actuators.joint import JointModule
        from cerebellum_rt.drivers.can import CanTransport, layout
        from cerebellum_rt.hil_tests.emulator import make_board
        from cerebellum_rt.hil_tests.rig import load_board_preset

        self.rig, self.seed, self.lockstep, self.body = rig, int(seed), bool(lockstep), body
        if rig.plant.kind == "body" and body is None:
            raise ConfigError(f"rig {rig.source}: plant.kind = 'body' (model {rig.plant.model}): plug a body in "
                              "(the pytest plugin's robot_body fixture, RigSession(body=...))")
        self.period_ns = round(1e9 / rig.rate_hz)
        self.world = World(lockstep)
        self.buses: list[BusRun] = []
        self.taps: dict[tuple[str, int], PlantTap] = {}
        self.events: list[tuple[float, str, int, int]] = []  # (t, bus, cob_id, first 2 bytes as int)
        self.k = 0
        self.t0_ns: int | None = None
        self.injected: list[dict[str, Any]] = []
        try:
            for i, spec in enumerate(rig.buses):
                types = {b.type for b in spec.boards}
                if len(types) != 1:
                    raise ConfigError(f"rig {rig.source}: bus '{spec.name}' mixes board types {sorted(types)} "
                                      "(a session runs one board type per bus)")
                if spec.pdo_compact:
                    raise ConfigError(f"rig {rig.source}: bus '{spec.name}' pdo_compact = true is not run by a "
                                      "session yet (use the default or packed layout)")
                medium = self.world.add_bus(spec.name, spec.bitrate, spec.fd, spec.data_bitrate,
                                            Faults(seed=self.seed * 1000 + i))
                boards = []
                for b in spec.boards:
                    module = body.module_for(spec.name, b.node) if body is not None else None
                    if b.type == "joint" and module is None:
                        preset = load_board_preset("joint", b.preset)
                        if preset is not None:
                            module = JointModule(preset, seed=self.seed * 1000 + b.node)
                    if module is not None:
                        module = self.taps.setdefault((spec.name, b.node), PlantTap(module))
                    bb = self.world.board_bus(medium, f"node{b.node}")
                    board = make_board(b, bb, spec.fd, threaded=not lockstep, module=module, clock=self.world.clock)
                    self.world.add_board(board, bb)
                    boards.append(board)
                host = self.world.host_bus(medium)
                host.reply_window_ns = self.period_ns
                lay = layout.board_layout(types.pop())
                if spec.pdo_packing:
                    lay = layout.packed(lay)
                t = CanTransport(host, spec.nodes, board=lay, sync=True, fd=spec.fd, listen=False,
                                 timeout_s=0.002 if lockstep else 0.8 * self.period_ns * 1e-9)
                tables = {b.node_id: b.table for b in boards if hasattr(b, "table")}
                sdo = SdoClient(host, lambda n, tb=tables, tr=t: tb.get(n) or tr._table())
                run = BusRun(spec, host, t, t.tx_array(), t.rx_array(), sdo, boards)
                if record_traffic:
                    run.sniffer = self.world.board_bus(medium, "sniffer")
                self.buses.append(run)
            self.nodes = [(r.spec.name, n) for r in self.buses for n in r.spec.nodes]
            self.tel = np.zeros((ticks, len(self.nodes), len(TELEMETRY)))
            self.received = np.zeros(len(self.nodes), dtype=np.int64)
            self.lost = np.zeros(len(self.nodes), dtype=np.int64)
        except BaseException:
            self.close()
            raise

    # -- bring-up --------------------------------------------------------------------------------
    def setup(self, nodes: list[tuple[str, int]] | None = None) -> None:
        """Set each board's cycle period (0x1006), its PDO mapping when the bus's layout is not the
        default (packed CANopen FD PDOs), and start it (NMT operational); slow path."""
        for run in self.buses:
            for n in run.spec.nodes:
                if nodes is not None and (run.spec.name, n) not in nodes:
                    continue
                run.sdo.write(n, 0x1006, 0, self.period_ns // 1000)
                if run.transport.remapped:
                    run.transport.configure_pdos(n, write=lambda i, sub, v, n=n, run=run: run.sdo.write(n, i, sub, v))
                run.sdo.nmt(0x01, n)
            self._drain_slow(run)

    def _drain_slow(self, run: BusRun) -> None:
        while (msg := run.host.recv(0.0)) is not None:
            self._event(run, msg)

    def _event(self, run: BusRun, msg: can.Message) -> None:
        cid, d = msg.arbitration_id, bytes(msg.data)
        if EMCY_BASE < cid < EMCY_BASE + 0x80 and len(d) >= 2:
            self.events.append((self.now_s, run.spec.name, cid, int.from_bytes(d[:2], "little")))
        elif BOOTUP_BASE < cid < BOOTUP_BASE + 0x80 and d[:1] == b"\x00":
            self.events.append((self.now_s, run.spec.name, cid, 0))

    @property
    def now_s(self) -> float:
        return self.world.now_ns * 1e-9

    # -- the tick ----------------------------------------------------------------------------------
    def tick(self, skip_host: bool = False) -> int:
        """One tick (see module doc); returns the samples missing this tick. ``skip_host``: the
        host sends nothing this tick (a stalled loop); its samples count as lost."""
        k = self.k
        if self.t0_ns is None:  # ticks start on the first period boundary after the bring-up
            self.t0_ns = (self.world.now_ns // self.period_ns + 1) * self.period_ns
        self.world.advance_to(self.t0_ns + k * self.period_ns)
        if self.body is not None:
            self.body.before_tick(self)
        sent = []
        for run in self.buses:  # every bus's RPDOs + SYNC first: the buses exchange at the same time
            ok = False
            if not skip_host:
                try:
                    run.transport.cycle_send(run.tx, run.rx)
                    ok = True
                except can.CanOperationError:  # the host's controller is bus-off: nothing sent
                    run.bus_off_ticks += 1
            sent.append(ok)
        missing, col = 0, 0
        for run, ok in zip(self.buses, sent):
            nb = len(run.spec.nodes)
            if ok:
                m = run.transport.cycle_collect()
            else:
                m = run.transport.expected
                run.rx["fresh"] = 0
            if not skip_host:
                while (msg := run.transport.recv(0.0)) is not None:
                    self._event(run, msg)
            missing += m
            self._record(run, k, col, nb)
            col += nb
        for r in self.buses:
            if r.sniffer is not None:
                self._sniff(r)
        if self.body is not None:
            self.body.after_tick(self)
        self.k += 1
        return missing

    def _record(self, run: BusRun, k: int, col: int, nb: int) -> None:
        rx, tx = run.rx, run.tx
        full = run.transport.fresh_all
        names = rx.dtype.names or ()
        for i in range(nb):
            fresh = int(rx[i]["fresh"]) == full
            self.received[col + i] += fresh
            self.lost[col + i] += not fresh
            if k >= len(self.tel):
                continue
            row = self.tel[k, col + i]
            row[0] = rx[i]["position_actual"] / od.POSITION_COUNTS_PER_RAD if "position_actual" in names else math.nan
            row[1] = rx[i]["velocity_actual"] / od.VELOCITY_COUNTS_PER_RAD_S if "velocity_actual" in names else math.nan
            row[2] = rx[i]["torque_sensor"] * 1e-3 if "torque_sensor" in names else math.nan
            row[3] = rx[i]["statusword"]
            row[4] = tx[i]["target_position"] / od.POSITION_COUNTS_PER_RAD if "target_position" in tx.dtype.names else math.nan
            row[5] = fresh

    def _sniff(self, run: BusRun) -> None:
        """Every frame delivered to the bus's passive listener by now, in one batch (raw tuples:
        no ``can.Message`` per frame in the tick; :meth:`messages` builds them for the writers)."""
        ep = run.sniffer.endpoint
        run.traffic += run.sniffer.medium.receive(ep, 0.0, limit=len(ep.rx) or 1)

    @staticmethod
    def messages(run: BusRun) -> list[can.Message]:
        """A bus's recorded traffic as python-can Messages (for its log writers)."""
        from cerebellum_rt.drivers.can.codec import FLAG_BRS, FLAG_EXT, FLAG_FD, FLAG_RTR

        return [can.Message(timestamp=t, arbitration_id=cid, data=data, is_extended_id=bool(fl & FLAG_EXT),
                            is_fd=bool(fl & FLAG_FD), bitrate_switch=bool(fl & FLAG_BRS),
                            is_remote_frame=bool(fl & FLAG_RTR), channel=run.spec.name)
                for t, (cid, fl, data) in run.traffic]

    def board(self, bus: str, node: int) -> Any:
        for run in self.buses:
            if run.spec.name == bus:
                return run.boards[run.spec.nodes.index(node)]
        raise ConfigError(f"session: no board {node} on bus '{bus}'")

    def bus(self, name: str) -> BusRun:
        for run in self.buses:
            if run.spec.name == name:
                return run
        raise ConfigError(f"session: no bus '{name}' (buses: {[r.spec.name for r in self.buses]})")

    def firmware_versions(self) -> dict[str, str]:
        """Per board: its firmware kind and the software version it reports (0x100A)."""
        out = {}
        for run in self.buses:
            for b, board in zip(run.spec.boards, run.boards):
                ver = ""
                try:
                    raw = board.od_read(0x100A, 0) if hasattr(board, "od_read") else board.store.get(0x100A, 0)
                    ver = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
                except Exception as exc:  # a board without 0x100A reports why
                    ver = f"(0x100A unreadable: {exc})"
                out[f"{run.spec.name}/node{b.node}"] = f"{b.firmware} {ver}".strip()
        return out

    def close(self) -> None:
        for run in self.buses:
            run.transport.close()
            if run.sniffer is not None:
                self._sniff(run)
                run.sniffer.shutdown()
        self.world.close()

    def __enter__(self) -> RigSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
