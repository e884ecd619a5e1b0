"""Lockstep hand simulation: the firmware laws at ``loop_hz`` driving the plant at ``plant_hz``.

Each control tick: sample the sensors (nut x, v, motor current, nut-side tension sensor,
joint encoders, per-finger tactile pad force), run per actuator ``coupled_joint_step`` and
``slack_step``, then the actuator's mode law, then ``plant_hz / loop_hz`` plant steps.

Per tick the board's firmware also derates each motor's current limit linearly from
``derate_start_c`` to ``temperature_max_c`` of its winding (two-node thermal model of the motor
datasheet, heated by R(T) i^2 with the plant's resistance following the winding temperature)
and switches an actuator off on a latched fault (``fault``: FAULT_OVERTEMPERATURE, tendon
tension above its strength FAULT_TENDON_STRENGTH, or above its creep limit for longer than the
creep time FAULT_TENDON_CREEP; ``reset_faults`` clears them).

Behind a board running the C image (drivers/board/cfirmware.py) the firmware's part of a tick
(the laws, the derating, the fault cut-off) is the image's own: :meth:`HandSim.bind_laws` gives
the kernel the image's control-tick interrupt (``cbl_hand_ctl.h``), called by its address once
per tick with the tick's samples; the generated C is bit-identical to the laws' numba IR.

Actuator modes: 0 current (``i_cmd`` [A]), 1 screw position (``x_cmd`` [m]), 2 tension
(``t_cmd`` [N]), 3 grasp (``f_ref`` [N] pad force, at most the finger's ``[grasp] max_force_n``), 4 joint position (``q_ref`` [rad] through
the coupling row).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cerebellum_rt.actuators.hand import laws as L
from cerebellum_rt.actuators.hand.plant import A_IMAX, A_R, X_CUR, X_POS, X_VEL, plant_step, stored_energy
from cerebellum_rt.actuators.hand.preset import HandPreset, drive_figures, load_preset
from cerebellum_rt.codegen import host_law
from cerebellum_rt.rtcore.errors import ConfigError, check_range
from cerebellum_rt.rtcore.jit import call_c, njit

M_CURRENT, M_POSITION, M_TENSION, M_GRASP, M_JOINT = range(5)
# per-actuator fault bits (HandSim.fault), latched until reset_faults(): the motor is switched off
FAULT_OVERTEMPERATURE, FAULT_TENDON_STRENGTH, FAULT_TENDON_CREEP = 1, 2, 4
# thermal/tendon parameter slots (HandSim.th) and state columns (HandSim.therm)
TH_R0, TH_ALPHA, TH_RW, TH_RH, TH_CW, TH_CH, TH_TDER, TH_TMAX, TH_TAMB, TH_STRENGTH, TH_CREEP, TH_TCREEP = range(12)
T_WIND, T_HOUSE, T_CREEP = range(3)
# per-tick log columns per actuator
LOG_X, LOG_V, LOG_I, LOG_T, LOG_F, LOG_IREF, LOG_SLACK, LOG_PHASE = range(8)

_screw = host_law(L.screw_position_step)
_tension = host_law(L.tendon_tension_step)
_grasp = host_law(L.grasp_force_step)
_couple = host_law(L.coupled_joint_step)
_slack = host_law(L.slack_step)
_observe = host_law(L.screw_tension_observer_step)

HOOK_AXES, HOOK_JOINTS = 6, L.N_COUPLED
# The hook to a firmware image's control tick: its address, the image's context, then the
# interrupt's records as cbl_hand_ctl.h's cbl_hand_tick_in_t (at HOOK_IN) and cbl_hand_tick_out_t
# (at HOOK_OUT); the board checks the layout against the image's. ctx 0: the sim's own laws run.
HOOK_DTYPE = np.dtype([
    ("fn", "i8"), ("ctx", "i8"),
    ("x", "f8", (6,)), ("v", "f8", (6,)), ("i", "f8", (6,)), ("t", "f8", (6,)), ("fm", "f8", (6,)),
    ("tw", "f8", (6,)), ("q", "f8", (HOOK_JOINTS,)), ("fault", "i4", (6,)),
    ("i_ref", "f8", (6,)), ("i_law", "f8", (6,)), ("phase", "i4", (6,)), ("slack", "i4", (6,)),
], align=True)  # fmt: skip
HOOK_IN, HOOK_OUT = HOOK_DTYPE.fields["x"][1], HOOK_DTYPE.fields["i_ref"][1]


def law_gains(p: HandPreset) -> dict[str, Any]:
    """Controller gains from the preset's bandwidths (see :mod:`cerebellum_rt.actuators.hand.laws`).

    position: kp = w^2 m_eq / K_F, kd = 2 zeta w m_eq / K_F (w = 2 pi f_pos)
    tension:  :func:`tension_gains` at each tendon's design load stiffness k_d (its pad contact
              seen in tendon space, ``[firmware] tension_design_stiffness_n_per_m``, one per
              tendon), ki = 2 pi f_int kp: ``ten_kp``, ``ten_kd``, ``ten_ki`` are arrays (n_act)
    force:    ki_f = 2 pi f_force c_TF, kp_f = 0.2 c_TF (c_TF = tension per pad force)
    """
    d = drive_figures(p.raw)
    fw = p.raw["firmware"]
    kf, m = d["k_force"], d["m_eq"]
    wp = 2 * math.pi * fw["position_bandwidth_hz"]
    ctf = p.raw["grasp"]["tension_per_force"]
    ten = np.array([tension_gains(d, k_l, fw["tension_bandwidth_hz"], fw["tension_damping"])
                    for k_l in fw["tension_design_stiffness_n_per_m"]])
    return {
        "pos_kp": wp * wp * m / kf, "pos_kd": 2 * fw["position_damping"] * wp * m / kf,
        "pos_i_ff": d["f_c0"] / kf, "ten_kp": ten[:, 0], "ten_kd": ten[:, 1],
        "ten_ki": 2 * math.pi * fw["tension_integral_hz"] * ten[:, 0],
        "f_ki": 2 * math.pi * fw["force_integral_hz"] * ctf, "f_kp": 0.2 * ctf,
        **{k: d[k] for k in ("k_force", "m_eq", "k_tendon", "eta_f", "eta_b", "f_c0")},
    }


def tension_gains(d: dict[str, float], k_load: float, f_hz: float, zeta: float) -> tuple[float, float]:
    """(kp [A/N], kd [A/(m/s)]) placing the tension loop on a load of tendon-space stiffness
    ``k_load`` [N/m] at ``f_hz`` with damping ``zeta``: w^2 = k_L (1/eta_f + K_F kp) / m_eq,
    2 zeta w = K_F kd / m_eq (``d`` = :func:`drive_figures`). The loop cannot place its mode below
    the drive train's own mode on that load, w_0 = sqrt(k_L / (eta_f m_eq)) (kp = 0): w is
    max(2 pi f, w_0), so the damping is designed where the mode really is."""
    w = max(2 * math.pi * f_hz, math.sqrt(k_load / (d["eta_f"] * d["m_eq"])))
    kp = max(w * w * d["m_eq"] / k_load - 1.0 / d["eta_f"], 0.0) / d["k_force"]
    return kp, 2 * zeta * w * d["m_eq"] / d["k_force"]


class HandSim:
    """A six-actuator hand (any preset) with its firmware, stepped in lockstep.

    Public arrays (edit between :meth:`run` calls): ``mode`` (n_act), ``i_cmd`` [A],
    ``x_cmd`` [m], ``t_cmd`` [N], ``f_ref`` [N], ``q_ref`` [rad] (n_joints); state ``xs``
    (n_act, 3: x, v, i), ``q``, ``qd``; energy sums ``E`` [J] (see plant).
    """

    def __init__(self, preset: HandPreset | str = "hand_prs6", obj: str | None = "cylinder",
                 plant_hz: float | None = None, loop_hz: float | None = None,
                 tension_sensor: bool | None = None) -> None:
        p = preset if isinstance(preset, HandPreset) else load_preset(preset)
        fw = p.raw["firmware"]
        if obj is not None and obj not in p.objects:
            raise ConfigError(f"hand object '{obj}' is not in preset {p.name} (known: {sorted(p.objects)})")
        if p.n_joints > L.N_COUPLED:
            raise ConfigError(f"hand {p.name}: {p.n_joints} joints, limit {L.N_COUPLED} for the coupling law")
        self.p = p
        self.obj_name = obj
        self.obj = p.objects[obj].copy() if obj else np.zeros(11)
        self.loop_hz = check_range("loop_hz", float(loop_hz or fw["loop_hz"]), 50.0, 2e4, "Hz")
        plant = check_range("plant_hz", float(plant_hz or fw["plant_hz"]), self.loop_hz, 1e5, "Hz")
        self.sub = max(1, round(plant / self.loop_hz))
        self.dt = 1.0 / (self.loop_hz * self.sub)
        s = p.raw["screw"]
        self.stroke = np.array([s["stroke_min_m"], s["stroke_max_m"]])
        na, nj = p.n_act, p.n_joints
        self.g = law_gains(p)
        self.xs = np.zeros((na, 3))
        self.q = np.zeros(nj)
        self.qd = np.zeros(nj)
        self.E = np.zeros(8)
        self.tens = np.zeros((na, 2))
        self.fpad = np.zeros(len(p.cpt_f))
        self.cst = np.zeros((len(p.cpt_f), 4))  # pad anchors (plant: stiction)
        self.wk = np.zeros((22, 4))
        self.mode = np.zeros(na, np.int64)
        self.i_cmd = np.zeros(na)
        self.x_cmd = np.zeros(na)
        self.t_cmd = np.zeros(na)
        self.f_ref = np.zeros(na)
        self.q_ref = np.zeros(nj)
        self.t = 0.0
        self._log = np.zeros((1, na, 8))
        self._i_ref = np.zeros(na)
        # per-simulation copy of the actuator table: the winding resistance follows its temperature
        self.act = p.act.copy()
        m, td = p.raw["motor"], p.raw["tendon"]
        if m["derate_start_c"] >= m["temperature_max_c"]:
            raise ConfigError(f"hand {p.name}: motor derate_start_c = {m['derate_start_c']} must be below "
                              f"temperature_max_c = {m['temperature_max_c']}")
        self.th = np.array([m["phase_resistance_ohm"], m["resistance_tempco_per_k"], m["r_th_winding_k_per_w"],
                            m["r_th_housing_k_per_w"], m["tau_winding_s"] / m["r_th_winding_k_per_w"],
                            m["tau_housing_s"] / m["r_th_housing_k_per_w"], m["derate_start_c"],
                            m["temperature_max_c"], m["ambient_c"], td["strength_n"], td["creep_limit_n"],
                            td["creep_time_s"]])
        self.therm = np.zeros((na, 3))
        self.therm[:, T_WIND] = self.therm[:, T_HOUSE] = m["ambient_c"]
        self.fault = np.zeros(na, np.int64)
        # the firmware's pad-force limit per actuator (its finger's [grasp] max_force_n; none: no limit)
        mf = p.raw["grasp"].get("max_force_n")
        self.f_max = np.array([mf[p.finger_of_tendon[k]] if mf is not None else 1e9 for k in range(na)], float)
        self.use_sensor = bool(fw.get("tension_sensor", True) if tension_sensor is None else tension_sensor)
        self._hook = np.zeros(1, HOOK_DTYPE)
        self._make_laws()

    def _make_laws(self) -> None:
        p, g, na = self.p, self.g, self.p.n_act
        dt = 1.0 / self.loop_hz
        imax = p.raw["motor"]["current_max_a"]
        s, gr, fw = p.raw["screw"], p.raw["grasp"], p.raw["firmware"]
        self.c_pos = L.ScrewPosConfig.array(na)
        self.s_pos = L.ScrewPosState.array(na)
        for k, v in dict(kp=g["pos_kp"], kd=g["pos_kd"], ki=0.0, i_ff=g["pos_i_ff"], i_max=imax, dt=dt).items():
            self.c_pos[k] = v
        self.c_obs = L.ObserverConfig.array(na)
        self.s_obs = L.ObserverState.array(na)
        for k in ("k_force", "eta_f", "eta_b", "f_c0", "m_eq"):
            self.c_obs[k] = g[k]
        self.c_obs["dt"] = dt
        self.c_ten = L.TensionConfig.array(na)
        self.s_ten = L.TensionState.array(na)
        for k, v in dict(k_force=g["k_force"], eta_f=g["eta_f"], eta_b=g["eta_b"], f_c0=g["f_c0"],
                         use_sensor=self.use_sensor, kp=g["ten_kp"], ki=g["ten_ki"], kd=g["ten_kd"],
                         i_max=imax, dt=dt).items():
            self.c_ten[k] = v
        self.c_gr = L.GraspConfig.array(na)
        self.s_gr = L.GraspState.array(na)
        # the grasp never asks for more than the drive can pull, nor for more than 95 % of the
        # tendon's creep limit (held for a whole grasp: a cap at the limit itself rode 0.03 N over
        # it and tripped FAULT_TENDON_CREEP after creep_time_s)
        tmax = min(0.95 * g["eta_f"] * (g["k_force"] * imax - g["f_c0"]), 0.95 * p.raw["tendon"]["creep_limit_n"])
        for k, v in dict(f_touch=gr["touch_force_n"], v_approach=gr["approach_speed_m_s"],
                         x_max=s["stroke_max_m"] - 1e-3, t_per_f=gr["tension_per_force"], kp_f=g["f_kp"],
                         t_block=gr["block_tension_n"],
                         ki_f=g["f_ki"], t_max=tmax, dt=dt).items():
            self.c_gr[k] = v
        self.c_cp = L.CouplingConfig.array(na)
        self.s_cp = L.CouplingState.array(na)
        self.c_cp["r"][:, : p.n_joints] = p.coupling
        x0 = p.raw["tendon"]["slack_m"]
        for k, v in dict(x_0=x0, x_min=s["stroke_min_m"], x_max=s["stroke_max_m"], dt=dt).items():
            self.c_cp[k] = v
        self.c_sl = L.SlackConfig.array(na)
        self.s_sl = L.SlackState.array(na)
        self.c_sl["t_slack"] = fw["slack_tension_n"]
        self.c_sl["margin"] = fw["slack_margin_m"]
        self.c_sl["n_debounce"] = fw["slack_debounce_ticks"]
        self.io = (L.ObserverInput.array(1), L.ObserverOutput.array(1), L.ScrewPosInput.array(1), L.ScrewPosOutput.array(1), L.TensionInput.array(1),
                   L.TensionOutput.array(1), L.GraspInput.array(1), L.GraspOutput.array(1),
                   L.CouplingInput.array(1), L.CouplingOutput.array(1), L.SlackInput.array(1),
                   L.SlackOutput.array(1))

    def run(self, n_ticks: int, log: np.ndarray | None = None) -> np.ndarray:
        """Advance ``n_ticks`` control ticks; returns the log (n_ticks, n_act, 8) (see ``LOG_*``)."""
        if log is None:
            log = np.zeros((n_ticks, self.p.n_act, 8))
        if log.shape[0] < n_ticks:
            raise ConfigError(f"hand log has {log.shape[0]} rows, limit: at least n_ticks = {n_ticks}")
        p = self.p
        _run_ticks(n_ticks, self.sub, self.dt, self.act, p.jnt, p.coupling, p.fing_i, p.fing_f, p.cpt_i, p.cpt_f,
                   p.contact, self.obj, p.finger_of_tendon, self.stroke, self.mode, self.i_cmd, self.x_cmd,
                   self.t_cmd, self.f_ref, self.q_ref, self.xs, self.q, self.qd, self.E, self.tens, self.fpad,
                   self.cst, self.wk, self.c_pos, self.s_pos, self.c_ten, self.s_ten, self.c_gr, self.s_gr, self.c_cp,
                   self.s_cp, self.c_sl, self.s_sl, self.c_obs, self.s_obs, *self.io, log, self._i_ref,
                   self.th, self.therm, self.fault, self.f_max, self._hook)
        self.t += n_ticks / self.loop_hz
        return log

    # --- the firmware image's laws ----------------------------------------------------------
    def calibration(self) -> dict[str, Any]:
        """What a firmware image needs to run this hand's laws (six actuators): each law's config
        records, the pad-force and current limits, the derating temperatures, the joint count."""
        if self.p.n_act != HOOK_AXES or self.p.n_joints > HOOK_JOINTS:
            raise ConfigError(f"hand {self.p.name}: {self.p.n_act} actuators / {self.p.n_joints} joints, a hand "
                              f"image serves {HOOK_AXES} / at most {HOOK_JOINTS}")
        return {"pos": self.c_pos, "ten": self.c_ten, "grasp": self.c_gr, "couple": self.c_cp, "slack": self.c_sl,
                "obs": self.c_obs, "f_max": self.f_max, "i_max": self.act[:, A_IMAX].copy(),
                "derate_start_c": float(self.th[TH_TDER]), "temp_max_c": float(self.th[TH_TMAX]),
                "n_joints": self.p.n_joints}

    def bind_laws(self, tick_fn: int, ctx: int) -> None:
        """From the next :meth:`run` the kernel calls a firmware image's control-tick interrupt
        ``tick_fn(ctx, tick_in, tick_out)`` (a C function's address; ``HOOK_DTYPE``'s records)
        instead of its own laws, derating and fault cut-off; the image owns the targets then.
        The caller keeps the image alive until :meth:`unbind_laws`. ``ctx = 0`` unbinds."""
        if ctx and not tick_fn:
            raise ConfigError("HandSim bind_laws: no entry point")
        if ctx:
            self.calibration()  # six actuators
        h = self._hook[0]
        h["fn"], h["ctx"] = (tick_fn, ctx) if ctx else (0, 0)

    def unbind_laws(self) -> None:
        """The sim's own (numba) laws run again from the next :meth:`run`."""
        self.bind_laws(0, 0)

    @property
    def law_context(self) -> int:
        """The context of the firmware image whose laws run this hand, 0 while it runs its own."""
        return int(self._hook[0]["ctx"])

    def stored_energy(self) -> float:
        """Kinetic + magnetic + elastic energy of the plant now [J]."""
        p = self.p
        return stored_energy(self.act, p.jnt, p.coupling, p.fing_i, p.fing_f, p.cpt_i, p.cpt_f, p.contact,
                             self.obj, self.xs, self.q, self.qd, self.cst)

    @property
    def winding_temp_c(self) -> np.ndarray:
        """Winding temperature of each actuator's motor [degC] (two-node thermal model)."""
        return self.therm[:, T_WIND].copy()

    def reset_faults(self) -> None:
        """Clear the latched faults (the tendon creep timer too)."""
        self.fault[:] = 0
        self.therm[:, T_CREEP] = 0.0

    def finger_forces(self, out: np.ndarray | None = None) -> np.ndarray:
        """Sum of pad normal forces per finger [N] (the tactile measurement). With ``out``
        (float64, one slot per finger) it is filled in place without allocation (per-tick path)."""
        if out is None:
            out = np.zeros(len(self.p.fingers))
        _finger_sums(self.p.cpt_i, self.fpad, out)
        return out

    def step(self, n_ticks: int) -> np.ndarray:
        """:meth:`run` into a log buffer kept by the simulation (``last_log``, reused): the
        allocation-free per-cycle path of a board. The returned view is overwritten by the next
        ``step``; a caller that keeps logs uses :meth:`run`."""
        if self._log.shape[0] < n_ticks:
            self._log = np.zeros((n_ticks, self.p.n_act, 8))  # grows once, then reused
        self.run(n_ticks, self._log)
        return self._log[:n_ticks]


@njit(cache=False, error_model="numpy")
def _thermal_and_tendon(act, th, therm, fault, xs, tens, dt):
    """Per actuator, one control tick ``dt``: the motor's two-node thermal model (FAULHABER
    datasheet form: winding C_w = tau_w1 / R_th1 to the housing through R_th1, housing C_h =
    tau_w2 / R_th2 to ambient through R_th2) heated by R(T) i^2, with R(T) = R_0 (1 + alpha (T -
    25 degC)) fed back into the plant; faults: winding at its maximum, tendon tension above its
    strength, or above its creep limit for longer than the creep time."""
    for k in range(xs.shape[0]):
        tw, tho = therm[k, T_WIND], therm[k, T_HOUSE]
        r = th[TH_R0] * (1.0 + th[TH_ALPHA] * (tw - 25.0))
        act[k, A_R] = r
        i = xs[k, X_CUR]
        q_wh = (tw - tho) / th[TH_RW]
        therm[k, T_WIND] = tw + dt * (r * i * i - q_wh) / th[TH_CW]
        therm[k, T_HOUSE] = tho + dt * (q_wh - (tho - th[TH_TAMB]) / th[TH_RH]) / th[TH_CH]
        if therm[k, T_WIND] >= th[TH_TMAX]:
            fault[k] |= FAULT_OVERTEMPERATURE
        t = tens[k, 0]
        if t > th[TH_STRENGTH]:
            fault[k] |= FAULT_TENDON_STRENGTH
        therm[k, T_CREEP] = therm[k, T_CREEP] + dt if t > th[TH_CREEP] else 0.0
        if therm[k, T_CREEP] > th[TH_TCREEP]:
            fault[k] |= FAULT_TENDON_CREEP


@njit(cache=False, error_model="numpy")
def _finger_sums(cpt_i, fpad, out):
    """out[f] = sum of the pad forces of finger f's contact points (no allocation)."""
    out[:] = 0.0
    for c in range(fpad.shape[0]):
        out[cpt_i[c, 0]] += fpad[c]


@njit(cache=False, error_model="numpy")
def _run_ticks(n, sub, dt, act, jnt, R, fing_i, fing_f, cpt_i, cpt_f, contact, obj, fot, stroke, mode, i_cmd,
               x_cmd, t_cmd, f_ref, q_ref, xs, q, qd, E, tens, fpad, cst, wk, c_pos, s_pos, c_ten, s_ten, c_gr, s_gr,
               c_cp, s_cp, c_sl, s_sl, c_obs, s_obs, oin, oout, pin, pout, tin, tout, gin, gout, cin, cout, sin_, sout, log,
               i_ref, th, therm, fault, f_max, hka):
    na, nj = xs.shape[0], q.shape[0]
    dt_tick = dt * sub
    hk = hka[0]
    for tick in range(n):
        if hk.ctx != 0:  # the firmware image's control tick (HandSim.bind_laws)
            for k in range(na):
                fm = 0.0
                for ci in range(fing_i[fot[k], 5], fing_i[fot[k], 5] + fing_i[fot[k], 6]):
                    fm += fpad[ci]
                hk.x[k], hk.v[k], hk.i[k] = xs[k, X_POS], xs[k, X_VEL], xs[k, X_CUR]
                hk.t[k] = tens[k, 0]
                hk.fm[k] = fm
                hk.tw[k] = therm[k, T_WIND]
                hk.fault[k] = fault[k]
                log[tick, k, 0] = xs[k, X_POS]
                log[tick, k, 1] = xs[k, X_VEL]
                log[tick, k, 2] = xs[k, X_CUR]
                log[tick, k, 3] = tens[k, 0]
                log[tick, k, 4] = fm
            for j in range(nj):
                hk.q[j] = q[j]
            call_c(hk.fn, hk.ctx, hka, HOOK_IN, HOOK_OUT)
            for k in range(na):
                i_ref[k] = hk.i_ref[k]
                log[tick, k, 5] = hk.i_law[k]
                log[tick, k, 6] = 1.0 if hk.slack[k] != 0 else 0.0
                log[tick, k, 7] = hk.phase[k]
        else:
            _laws_tick(tick, na, nj, fing_i, fot, fpad, xs, q, q_ref, c_cp, s_cp, c_obs, s_obs, c_ten, s_ten, c_gr,
                       s_gr, c_pos, s_pos, c_sl, s_sl, oin, oout, pin, pout, tin, tout, gin, gout, cin, cout, sin_,
                       sout, mode, i_cmd, x_cmd, t_cmd, f_ref, f_max, tens, log, i_ref, th, therm, fault, act)
        for _ in range(sub):
            plant_step(act, jnt, R, fing_i, fing_f, cpt_i, cpt_f, contact, obj, fot, stroke, dt, i_ref, xs, q,
                       qd, E, tens, fpad, cst, wk)
        _thermal_and_tendon(act, th, therm, fault, xs, tens, dt_tick)


@njit(cache=False, error_model="numpy")
def _laws_tick(tick, na, nj, fing_i, fot, fpad, xs, q, q_ref, c_cp, s_cp, c_obs, s_obs, c_ten, s_ten, c_gr, s_gr,
               c_pos, s_pos, c_sl, s_sl, oin, oout, pin, pout, tin, tout, gin, gout, cin, cout, sin_, sout, mode,
               i_cmd, x_cmd, t_cmd, f_ref, f_max, tens, log, i_ref, th, therm, fault, act):
    """The sim's own firmware tick: per actuator the laws of its mode, then the derating."""
    for k in range(na):
        f = fot[k]
        fm = 0.0
        for ci in range(fing_i[f, 5], fing_i[f, 5] + fing_i[f, 6]):
            fm += fpad[ci]
        x, v, i = xs[k, X_POS], xs[k, X_VEL], xs[k, X_CUR]
        for j in range(nj):
            cin[0].q_ref[j] = q_ref[j]
            cin[0].q_meas[j] = q[j]
        cin[0].use_meas = True
        _couple(c_cp[k], s_cp[k], cin[0], cout[0])
        # tension used by the firmware: sensor, or the screw-force estimate
        oin[0].i_meas = i
        oin[0].v = v
        _observe(c_obs[k], s_obs[k], oin[0], oout[0])
        t_used = tens[k, 0] if c_ten[k].use_sensor else oout[0].t_est
        tin[0].t_sensor = tens[k, 0]
        tin[0].t_est = oout[0].t_est
        tin[0].v = v
        tin[0].t_ref = t_cmd[k]
        m = mode[k]
        phase = 0
        if m == 3:
            gin[0].enable = True
            gin[0].f_ref = min(f_ref[k], f_max[k])
            gin[0].f_meas = fm
            gin[0].t_meas = t_used
            gin[0].x = x
            _grasp(c_gr[k], s_gr[k], gin[0], gout[0])
            phase = s_gr[k].phase
            tin[0].t_ref = gout[0].t_ref
            pin[0].x_ref = gout[0].x_ref
            pin[0].v_ref = gout[0].v_ref
            m = 2 if gout[0].mode == 1 else 1
        elif m == 4:
            pin[0].x_ref = cout[0].x_ref
            pin[0].v_ref = 0.0
            m = 1
        elif m == 1:
            pin[0].x_ref = x_cmd[k]
            pin[0].v_ref = 0.0
        if m == 1:
            pin[0].x = x
            pin[0].v = v
            _screw(c_pos[k], s_pos[k], pin[0], pout[0])
            i_ref[k] = pout[0].i_ref
        elif m == 2:
            _tension(c_ten[k], s_ten[k], tin[0], tout[0])
            i_ref[k] = tout[0].i_ref
        else:
            i_ref[k] = i_cmd[k]
        sin_[0].t_meas = t_used
        sin_[0].x = x
        sin_[0].x_taut = cout[0].x_taut
        _slack(c_sl[k], s_sl[k], sin_[0], sout[0])
        log[tick, k, 0] = x
        log[tick, k, 1] = v
        log[tick, k, 2] = i
        log[tick, k, 3] = tens[k, 0]
        log[tick, k, 4] = fm
        log[tick, k, 5] = i_ref[k]
        log[tick, k, 6] = 1.0 if sout[0].slack else 0.0
        log[tick, k, 7] = phase
    for k in range(na):  # firmware: thermal derating of the current limit, faults switch off
        if fault[k] != 0:
            i_ref[k] = 0.0
        else:
            frac = min(max((th[TH_TMAX] - therm[k, T_WIND]) / (th[TH_TMAX] - th[TH_TDER]), 0.0), 1.0)
            lim = act[k, A_IMAX] * frac
            i_ref[k] = min(max(i_ref[k], -lim), lim)
