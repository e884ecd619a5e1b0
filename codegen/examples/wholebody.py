"""The whole-body controller workload the loop benchmark steps every tick (a law, codegen form).

29 joints under joint-space impedance control plus 2 hands with 3 tendon axes each under
tension PI control: the per-tick compute of a G1-class humanoid's low-level loop.

Joint ``j`` (angles [rad], velocities [rad/s], torques [N m]):

    v_j    <- v_j + alpha (dq_j - v_j)                       velocity low-pass (state)
    tau_j   = tau_ff_j + kp_j (q_ref_j - q_j) + kd_j (dq_ref_j - v_j) + g_j sin(q_j)
    tau_j  += k_lim (q_min_j - q_j)  if q_j < q_min_j;   k_lim (q_max_j - q_j)  if q_j > q_max_j
    tau_j   = clamp(tau_j, -tau_max_j, tau_max_j)            (``out.saturated`` counts clamps)

(``g_j sin(q_j)`` is a one-link gravity feed-forward, ``g_j`` = m g l [N m].)

Hand axis ``a`` (tendon tensions [N], motor current command [A]):

    e_a   = T_ref_a - T_a
    I_a  <- clamp(I_a + ki_a e_a dt, -i_max, i_max)          integrator with anti-windup
    u_a   = clamp(kp_a e_a + I_a, -u_max, u_max)

The C twin used by the C reference loop of ``cbl bench loop`` is ``tools/bench/refloop/wholebody.h``
(same operations).
"""

from __future__ import annotations

import numpy as np

from cerebellum_rt.codegen.law import Record, array, f32, i32
from cerebellum_rt.codegen.mathf32 import clamp, sin_cos

N_JOINTS = 29
N_HAND_AXES = 6  # 2 hands x 3 tendon axes


class WholeBodyConfig(Record):
    kp: array(f32, 29)  # [N m/rad]
    kd: array(f32, 29)  # [N m s/rad]
    gravity: array(f32, 29)  # m g l [N m]
    tau_max: array(f32, 29)  # [N m]
    q_min: array(f32, 29)  # [rad]
    q_max: array(f32, 29)  # [rad]
    k_limit: f32 = 200.0  # soft joint-limit stiffness [N m/rad]
    alpha: f32 = 0.2  # velocity low-pass coefficient (0..1], per tick
    hand_kp: array(f32, 6)  # [A/N]
    hand_ki: array(f32, 6)  # [A/(N s)]
    hand_i_max: f32 = 2.0  # integrator limit [A]
    hand_u_max: f32 = 5.0  # current command limit [A]
    dt: f32 = 0.001  # [s]


class WholeBodyState(Record):
    v_filt: array(f32, 29)  # filtered joint velocity [rad/s]
    hand_integ: array(f32, 6)  # tension PI integrators [A]


class WholeBodyInput(Record):
    q: array(f32, 29)  # [rad]
    dq: array(f32, 29)  # [rad/s]
    q_ref: array(f32, 29)  # [rad]
    dq_ref: array(f32, 29)  # [rad/s]
    tau_ff: array(f32, 29)  # [N m]
    tension: array(f32, 6)  # [N]
    tension_ref: array(f32, 6)  # [N]


class WholeBodyOutput(Record):
    tau: array(f32, 29)  # [N m]
    hand_current: array(f32, 6)  # [A]
    saturated: i32  # joints clamped at tau_max this tick


def wholebody_step(cfg: WholeBodyConfig, st: WholeBodyState, inp: WholeBodyInput, out: WholeBodyOutput) -> None:
    """One tick of the whole-body controller (equations in the module doc). Real-time safe."""
    nsat = 0
    for j in range(29):
        v = st.v_filt[j] + cfg.alpha * (inp.dq[j] - st.v_filt[j])
        st.v_filt[j] = v
        q = inp.q[j]
        s, _c = sin_cos(q)
        tau = inp.tau_ff[j] + cfg.kp[j] * (inp.q_ref[j] - q) + cfg.kd[j] * (inp.dq_ref[j] - v)
        tau = tau + cfg.gravity[j] * s
        if q < cfg.q_min[j]:
            tau = tau + cfg.k_limit * (cfg.q_min[j] - q)
        elif q > cfg.q_max[j]:
            tau = tau + cfg.k_limit * (cfg.q_max[j] - q)
        lim = cfg.tau_max[j]
        if tau > lim or tau < -lim:
            nsat = nsat + 1
        out.tau[j] = clamp(tau, -lim, lim)
    for a in range(6):
        e = inp.tension_ref[a] - inp.tension[a]
        integ = clamp(st.hand_integ[a] + cfg.hand_ki[a] * e * cfg.dt, -cfg.hand_i_max, cfg.hand_i_max)
        st.hand_integ[a] = integ
        out.hand_current[a] = clamp(cfg.hand_kp[a] * e + integ, -cfg.hand_u_max, cfg.hand_u_max)
    out.saturated = nsat


def g1_like_records(seed: int = 0) -> tuple[np.void, np.void, np.void, np.void]:
    """Records of a G1-class robot (gains, limits and gravity terms by joint group) with inputs
    near the reference, from ``seed``: (cfg, st, inp, out)."""
    rng = np.random.default_rng(seed)
    # legs 2 x 6, waist 3, arms 2 x 7 = 29 joints; hip/knee strongest, wrists weakest.
    kp = np.r_[np.tile([150, 150, 150, 200, 40, 40], 2), [200, 200, 200], np.tile([40, 40, 40, 40, 20, 20, 20], 2)]
    tau_max = np.r_[np.tile([88, 88, 88, 139, 50, 50], 2), [88, 50, 50], np.tile([25, 25, 25, 25, 25, 5, 5], 2)]
    cfg = WholeBodyConfig.new(
        kp=kp, kd=kp / 40.0, tau_max=tau_max, gravity=tau_max * 0.2,
        q_min=np.full(N_JOINTS, -2.5), q_max=np.full(N_JOINTS, 2.5),
        hand_kp=np.full(N_HAND_AXES, 0.05), hand_ki=np.full(N_HAND_AXES, 2.0),
    )
    q_ref = rng.uniform(-1.0, 1.0, N_JOINTS)
    inp = WholeBodyInput.new(
        q=q_ref + rng.normal(0, 0.05, N_JOINTS), dq=rng.normal(0, 0.5, N_JOINTS), q_ref=q_ref,
        dq_ref=np.zeros(N_JOINTS), tau_ff=rng.normal(0, 2.0, N_JOINTS),
        tension=rng.uniform(5, 40, N_HAND_AXES), tension_ref=np.full(N_HAND_AXES, 20.0),
    )
    return cfg, WholeBodyState.new(), inp, WholeBodyOutput.new()
