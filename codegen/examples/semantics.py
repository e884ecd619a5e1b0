"""A law that exercises every construct of the subset (test material for codegen).

Integer arithmetic wraps at 32 bits, ``//`` and ``%`` round toward -inf, float -> int
conversion saturates, loops are bounded, laws call laws and the mathf32 kernels.
"""

from __future__ import annotations

from cerebellum_rt.codegen.law import Record, array, boolean, f32, i32
from cerebellum_rt.codegen.mathf32 import atan2, exp, fmax, sin_cos, sqrt
from cerebellum_rt.rtcore.jit import njit

N_TAPS = 4
GAIN = 0.75


class SemConfig(Record):
    k: f32 = 1.5
    shift: i32 = 3
    div: i32 = 7
    taps: array(f32, 4)
    enable: boolean = True


class SemState(Record):
    acc: i32
    hist: array(f32, 4)
    count: i32
    flag: boolean


class SemIO(Record):
    x: f32
    y: f32
    n: i32
    m: i32
    out_f: array(f32, 8)
    out_i: array(i32, 8)
    b0: boolean
    b1: boolean
    b2: boolean
    b3: boolean


@njit(cache=True)  # a law called by a law must be jitted for numba
def scale_add(cfg: SemConfig, a: f32, b: f32) -> f32:
    """A law called by another law (scalar in, scalar out)."""
    return cfg.k * a + b * GAIN


@njit(cache=True)  # a law called by a law must be jitted for numba
def bump(st: SemState, by: i32) -> None:
    """A law that only writes its record."""
    st.count = st.count * 1664525 + by


def sem_step(cfg: SemConfig, st: SemState, io: SemIO) -> i32:
    """Every construct once. Real-time safe."""
    n = io.n
    m = io.m
    io.out_i[0] = n * m + 2147483647  # wraps
    io.out_i[1] = n // m
    io.out_i[2] = n % m
    io.out_i[3] = (n << 3) ^ (m >> 2) | (n & 255)
    io.out_i[4] = int(io.x * 1000.0)  # saturating conversion
    io.out_i[5] = -n if n < 0 else ~m
    io.out_i[6] = max(n, m) - min(n, m) + abs(n % 100)
    acc = 0
    for i in range(N_TAPS):
        if i == cfg.shift:
            continue
        acc += i * n
        if acc > 1000000:
            break
    io.out_i[7] = acc
    s, c = sin_cos(io.x)
    r = sqrt(io.x * io.x + io.y * io.y)
    io.out_f[0] = s * c + r
    io.out_f[1] = atan2(io.y, io.x)
    io.out_f[2] = exp(io.y * 0.01)
    io.out_f[3] = scale_add(cfg, io.x, io.y)
    io.out_f[4] = io.x / io.y
    io.out_f[5] = float(n) * 0.5 + m
    fir = 0.0
    for k in range(3, -1, -1):
        if k > 0:
            st.hist[k] = st.hist[k - 1]
        else:
            st.hist[0] = io.x
        fir = fir + cfg.taps[k] * st.hist[k]
    io.out_f[6] = fir
    io.out_f[7] = fmax(abs(io.x), -io.y) if cfg.enable else min(io.x, io.y)
    io.b0 = io.x < io.y < 1.0
    io.b1 = not (io.x >= 0.0 and n > 0) or st.flag
    io.b2 = bool(n) != bool(m)
    io.b3 = (io.x > 0.0) ^ (io.y > 0.0)
    st.flag = io.b0 and not st.flag
    bump(st, n)
    st.acc = st.acc + io.out_i[0]
    if st.acc < 0:
        return -1
    elif st.acc == 0:
        return 0
    return st.acc % cfg.div
