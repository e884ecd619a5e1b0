"""The recurrent locomotion policy as a law: LSTM(N_OBS -> N_HID) -> Dense(N_HID -> N_MID, ELU) -> Dense(N_MID -> N_ACT).

One call is one policy step (50 Hz on the robot): the observation in, the action out, the LSTM's
hidden and cell state carried in :class:`PolicyState`. Gate order of the stacked weights is
ONNX's (i, o, f, c) — :mod:`.onnx_import` takes it from the file as exported::

    g   = W x + R h + (Wb + Rb)                 (4 N_HID rows, blocks i, o, f, c)
    i = sigmoid(g_i)  o = sigmoid(g_o)  f = sigmoid(g_f)  c~ = tanh(g_c)
    c' = f * c + i * c~       h' = o * tanh(c')
    a   = ELU(W1 h' + b1)      action = W2 a + b2

Every sum accumulates in float32 in index order (the C does the same, without FMA), so the
generated C and the host execution agree bit for bit. sigmoid and tanh are written with the
project's float32 ``exp`` (no libm): sigmoid(x) = 1 / (1 + e^-x), tanh(x) = 2 sigmoid(2x) - 1
(absolute error < 2e-7 against float64 tanh; the tests compare with onnxruntime within 1e-5).
"""

from __future__ import annotations

from cerebellum_rt.codegen.law import Record, array, f32, i32
from cerebellum_rt.codegen.mathf32 import exp

N_OBS = 47  # observation size
N_HID = 64  # LSTM hidden size
N_GATE = 256  # 4 * N_HID stacked gate rows (i, o, f, c)
N_MID = 32  # first dense layer
N_ACT = 12  # actions (joint position offsets)


class PolicyWeights(Record):
    w_ih: array(f32, N_GATE * N_OBS)  # LSTM input weights, row-major [gate row][obs]
    w_hh: array(f32, N_GATE * N_HID)  # LSTM recurrent weights [gate row][hidden]
    b_g: array(f32, N_GATE)  # LSTM bias, input + recurrent bias summed
    w1: array(f32, N_MID * N_HID)  # dense 1 [out][in]
    b1: array(f32, N_MID)
    w2: array(f32, N_ACT * N_MID)  # dense 2 [out][in]
    b2: array(f32, N_ACT)


class PolicyState(Record):
    h: array(f32, N_HID)  # LSTM hidden state
    c: array(f32, N_HID)  # LSTM cell state
    gates: array(f32, N_GATE)  # scratch: gate pre-activations of this step
    mid: array(f32, N_MID)  # scratch: dense-1 activations
    steps: i32  # policy steps taken since reset


class PolicyInput(Record):
    obs: array(f32, N_OBS)


class PolicyOutput(Record):
    action: array(f32, N_ACT)


def sigmoid(x: f32) -> f32:
    """1 / (1 + e^-x) with the float32 exp kernel."""
    return 1.0 / (1.0 + exp(-x))


def tanh(x: f32) -> f32:
    """2 sigmoid(2x) - 1."""
    return 2.0 / (1.0 + exp(-2.0 * x)) - 1.0


def elu(x: f32) -> f32:
    """x for x > 0, e^x - 1 otherwise (alpha = 1)."""
    if x > 0.0:
        return x
    return exp(x) - 1.0


def policy_step(cfg: PolicyWeights, st: PolicyState, inp: PolicyInput, out: PolicyOutput) -> None:
    """One policy step: obs -> action, LSTM state updated in ``st``. Real-time safe (no allocation).

    Gate rows are computed four at a time (four independent float32 sums, each still in index
    order, so the bits equal a row-by-row loop) to give the CPU independent work."""
    for jb in range(N_GATE // 4):
        j = jb * 4
        a0 = cfg.b_g[j]
        a1 = cfg.b_g[j + 1]
        a2 = cfg.b_g[j + 2]
        a3 = cfg.b_g[j + 3]
        r = j * N_OBS
        for k in range(N_OBS):
            x = inp.obs[k]
            a0 = a0 + cfg.w_ih[r + k] * x
            a1 = a1 + cfg.w_ih[r + N_OBS + k] * x
            a2 = a2 + cfg.w_ih[r + 2 * N_OBS + k] * x
            a3 = a3 + cfg.w_ih[r + 3 * N_OBS + k] * x
        r = j * N_HID
        for k in range(N_HID):
            x = st.h[k]
            a0 = a0 + cfg.w_hh[r + k] * x
            a1 = a1 + cfg.w_hh[r + N_HID + k] * x
            a2 = a2 + cfg.w_hh[r + 2 * N_HID + k] * x
            a3 = a3 + cfg.w_hh[r + 3 * N_HID + k] * x
        st.gates[j] = a0
        st.gates[j + 1] = a1
        st.gates[j + 2] = a2
        st.gates[j + 3] = a3
    for j in range(N_HID):
        gi = sigmoid(st.gates[j])
        go = sigmoid(st.gates[N_HID + j])
        gf = sigmoid(st.gates[2 * N_HID + j])
        gc = tanh(st.gates[3 * N_HID + j])
        c_new = gf * st.c[j] + gi * gc
        st.c[j] = c_new
        st.h[j] = go * tanh(c_new)
    for jb in range(N_MID // 4):
        j = jb * 4
        a0 = cfg.b1[j]
        a1 = cfg.b1[j + 1]
        a2 = cfg.b1[j + 2]
        a3 = cfg.b1[j + 3]
        r = j * N_HID
        for k in range(N_HID):
            x = st.h[k]
            a0 = a0 + cfg.w1[r + k] * x
            a1 = a1 + cfg.w1[r + N_HID + k] * x
            a2 = a2 + cfg.w1[r + 2 * N_HID + k] * x
            a3 = a3 + cfg.w1[r + 3 * N_HID + k] * x
        st.mid[j] = elu(a0)
        st.mid[j + 1] = elu(a1)
        st.mid[j + 2] = elu(a2)
        st.mid[j + 3] = elu(a3)
    for jb in range(N_ACT // 4):
        j = jb * 4
        a0 = cfg.b2[j]
        a1 = cfg.b2[j + 1]
        a2 = cfg.b2[j + 2]
        a3 = cfg.b2[j + 3]
        r = j * N_MID
        for k in range(N_MID):
            x = st.mid[k]
            a0 = a0 + cfg.w2[r + k] * x
            a1 = a1 + cfg.w2[r + N_MID + k] * x
            a2 = a2 + cfg.w2[r + 2 * N_MID + k] * x
            a3 = a3 + cfg.w2[r + 3 * N_MID + k] * x
        out.action[j] = a0
        out.action[j + 1] = a1
        out.action[j + 2] = a2
        out.action[j + 3] = a3
    st.steps += 1
