"""Laws written in plain Python style (test material for codegen's fidelity).

No ``f32(...)`` anywhere: float literals, module constants (``DEADBAND = 1e-6``, ``math.pi``),
``e = 0.0`` inside a branch, integer mode numbers, loops over fixed ranges and calls to helper
laws. codegen gives them float32 / int32 semantics in the C and on the host
(``codegen.host_law``), so every runner computes the same bits.
"""

from __future__ import annotations

import math

from cerebellum_rt.codegen.law import Record, array, boolean, f32, i32
from cerebellum_rt.codegen.mathf32 import clamp

DEADBAND = 1e-6  # [A] errors below this are zero
MODE_OFF, MODE_HOLD, MODE_RUN = 0, 1, 3
U_MAX = 24.0  # [V]
N_AXES = 4


class LeadLagPIConfig(Record):
    kp: f32 = 0.8
    ki: f32 = 40.0
    kb: f32 = 5.0  # back-calculation gain of the anti-windup [1/s]
    lead: f32 = 0.3
    lag: f32 = 0.9
    rate: f32 = 500.0  # [V/s]
    dt: f32 = 0.001


class LeadLagPIState(Record):
    integ: f32
    x_prev: f32
    y_prev: f32
    u: f32
    tick: i32
    saturated: boolean


class LeadLagPIIO(Record):
    mode: i32
    ref: f32
    meas: f32
    u: f32
    phase: f32


def lead_lag(cfg: LeadLagPIConfig, st: LeadLagPIState, x: f32) -> f32:
    """y = x + lead (x - x_prev) + lag y_prev (1 - lag)."""
    y = x + cfg.lead * (x - st.x_prev) + (1.0 - cfg.lag) * st.y_prev
    st.x_prev = x
    st.y_prev = y
    return y


def rate_limit(cfg: LeadLagPIConfig, prev: f32, target: f32) -> f32:
    step = cfg.rate * cfg.dt
    return clamp(target, prev - step, prev + step)


def leadlag_pi_step(cfg: LeadLagPIConfig, st: LeadLagPIState, io: LeadLagPIIO) -> i32:
    """Lead-lag + PI with back-calculation anti-windup, rate limiter, wrapping tick, mode branch."""
    st.tick = st.tick * 1103515245 + 12345  # wraps like a hardware counter
    if io.mode == MODE_OFF:
        e = 0.0
        st.integ = 0.0
    elif io.mode == MODE_HOLD:
        e = 0.0
    else:
        e = io.ref - io.meas
        if abs(e) <= DEADBAND:
            e = 0.0
    v = lead_lag(cfg, st, e)
    u_raw = cfg.kp * v + st.integ
    u_sat = clamp(u_raw, -U_MAX, U_MAX)
    st.saturated = u_sat != u_raw
    if io.mode == MODE_RUN:
        st.integ = st.integ + cfg.dt * (cfg.ki * e + cfg.kb * (u_sat - u_raw))
    st.u = rate_limit(cfg, st.u, u_sat)
    io.u = st.u
    io.phase = (st.tick & 1023) * (2.0 * math.pi / 1024)
    return 1 if st.saturated else 0


class MixerConfig(Record):
    gain: array(f32, N_AXES)
    offset: array(i32, N_AXES)
    limit: f32 = 2.5


class MixerIO(Record):
    mode: i32
    x: array(f32, N_AXES)
    y: array(f32, N_AXES)
    count: array(i32, N_AXES)
    total: f32


def soft_limit(x: f32, limit: f32) -> f32:
    if x > limit:
        return limit + 0.1 * (x - limit)
    if x < -limit:
        return -limit + 0.1 * (x + limit)
    return x


def mixer_step(cfg: MixerConfig, io: MixerIO) -> f32:
    """Per axis: scale, soft limit, count; modes pick the mix."""
    total = 0.0
    for k in range(N_AXES):
        if io.mode == MODE_RUN:
            y = soft_limit(cfg.gain[k] * io.x[k], cfg.limit)
        elif io.mode == MODE_HOLD:
            y = io.y[k]
        else:
            y = 0
        io.y[k] = y
        io.count[k] = io.count[k] + cfg.offset[k] * 3
        if io.count[k] < 0:
            continue
        total = total + y / 3
    io.total = total
    return total * 0.1


class DeadbandIO(Record):
    e: f32
    integ: f32
    held: boolean


def deadband_step(io: DeadbandIO) -> f32:
    """One function, no helpers: plain numba runs it too, in float64 for the literals (so its
    bits differ from the C; codegen.host_law's do not)."""
    e = io.e
    if abs(e) <= DEADBAND:
        e = 0.0
        io.held = True
    else:
        io.held = False
    io.integ = io.integ * 0.999 + e * 0.001
    return e * math.pi
