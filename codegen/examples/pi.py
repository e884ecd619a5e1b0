"""A PI controller with anti-windup: the smallest useful law (moteus ``simple_pi`` shape).

    e      = ref - meas
    I     <- clamp(I + ki e dt, -i_limit, i_limit)
    u      = clamp(kp e + I, -limit, limit)          [V], returned and stored in st.last
"""

from __future__ import annotations

from cerebellum_rt.codegen.law import Record, f32, i32
from cerebellum_rt.codegen.mathf32 import clamp


class PIConfig(Record):
    kp: f32 = 0.5  # [V/A]
    ki: f32 = 200.0  # [V/(A s)]
    i_limit: f32 = 12.0  # [V]
    limit: f32 = 24.0  # [V]


class PIState(Record):
    integ: f32  # [V]
    last: f32  # [V]
    steps: i32


def pi_step(cfg: PIConfig, st: PIState, ref: f32, meas: f32, dt: f32) -> f32:
    """One PI update; returns the command [V]. Real-time safe."""
    e = ref - meas
    st.integ = clamp(st.integ + cfg.ki * e * dt, -cfg.i_limit, cfg.i_limit)
    u = clamp(cfg.kp * e + st.integ, -cfg.limit, cfg.limit)
    st.last = u
    st.steps += 1
    return u
