"""JointBank: many joint modules advanced together in one numba call.

A humanoid HIL process runs ~29 joint modules per 1 kHz tick. Advancing each through
``JointModule.advance`` costs a Python call (~1-2 us of dispatch and argument unboxing) on top
of its physics; a bank keeps every module's records as rows of shared arrays and advances all
of them with one call. Each row is still a full ``JointModule`` (``bank[i]``): its
``command``/``read``/``truth`` work as usual and see the bank's arrays, so a board can keep
talking to its module while the HIL loop advances the bank. Results are bit-identical to
advancing the modules one by one (same seeds, same commands).

    bank = JointBank([load_preset("hip"), load_preset("knee")], seeds=[1, 2])
    bank[0].command(MODE_CSP, 0.1, 0.0, 0.0, True)
    bank.advance(0.001)          # every module, one numba call; callable in the tick
    m = bank[1].read()

``threads=k`` advances the modules on k threads (the caller's and k - 1 workers, which claim
chunks of contiguous modules: ``bank_threads``): the same bits as one thread, up to ~k times
faster on k free cores, and no slower than one thread when the workers get no core (the
caller then takes every chunk). Workers spin between advances for up to ~1 ms (then park),
so a bank advanced back to back keeps them hot, at the price of a busy core; ``close()``
stops them. The default is one thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cerebellum_rt.actuators.joint.bank_threads import (
    DONE,
    GEN,
    N_CUR,
    PARK,
    SLOT,
    SPIN_LIMIT,
    TASKS,
    WAIT_SPIN,
    WAITING,
    BankThreads,
    split_rows,
)
from cerebellum_rt.actuators.joint.cascade import CascadeConfig, CascadeInput, CascadeOutput, CascadeState
from cerebellum_rt.actuators.joint.foc import FocConfig, FocInput, FocOutput, FocState
from cerebellum_rt.actuators.joint.module import (
    HOOK_DTYPE,
    N_MEAS,
    STORAGE_KEYS,
    JointModule,
    _advance,
    pwm_periods,
)
from cerebellum_rt.actuators.joint.plant import PARAM_DTYPE, RING, STATE_DTYPE
from cerebellum_rt.actuators.joint.preset import JointPreset
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.jit import (
    FUTEX_AVAILABLE,
    atomic_add,
    atomic_cas,
    atomic_load,
    atomic_swap,
    entry_point,
    futex_wait,
    futex_wake,
    njit,
    spin_pause,
)


@njit(cache=True, error_model="numpy")
def _advance_bank(n_cur, npo, p, s, ring, rng, fc, fs, fi, fo, cc, cs, ci, co, cmd, meas, hook):
    for j in range(p.shape[0]):
        _advance(
            n_cur, npo[j], p[j : j + 1], s[j : j + 1], ring[j], rng[j : j + 1], fc[j : j + 1], fs[j : j + 1],
            fi[j : j + 1], fo[j : j + 1], cc[j : j + 1], cs[j : j + 1], ci[j : j + 1], co[j : j + 1], cmd[j], meas[j],
            hook[j : j + 1],
        )  # fmt: skip


# --- threads (bank_threads.BankThreads): chunks of rows, each advanced by _advance_bank ------
@njit(cache=True, nogil=True, error_model="numpy")
def _claim_and_run(ctl, chunks, from_back):
    """Claim chunks one at a time (the lowest left, or the highest with ``from_back``) until none
    is left; advance each by ``ctl[N_CUR]`` periods and count it in ``ctl[DONE]`` (waking the
    caller if it sleeps on that word)."""
    while True:
        w = atomic_load(ctl, TASKS)
        lo = w & 0xFFFFFFFF
        hi = w >> 32
        if lo >= hi:
            return
        c = hi - 1 if from_back else lo
        claimed = (lo | (c << 32)) if from_back else ((lo + 1) | (hi << 32))
        if atomic_cas(ctl, TASKS, w, claimed) == w:
            _advance_bank(ctl[N_CUR], *chunks[c])
            atomic_add(ctl, DONE, 1)
            if atomic_load(ctl, WAITING) == 1:
                futex_wake(ctl, DONE, 1)


@njit(cache=True, nogil=True, error_model="numpy")
def _serve(ctl, park, chunks):
    """A worker, until the stop (a negative generation): take chunks from the back each time
    the generation ``ctl[GEN]`` moves; after SPIN_LIMIT idle polls, raise its flag ``ctl[park]``
    and sleep on the generation word."""
    seen = 0
    polls = 0
    while True:
        g = atomic_load(ctl, GEN)
        if g < 0:
            return
        if g != seen:
            seen = g
            _claim_and_run(ctl, chunks, True)
            polls = 0
        elif polls < SPIN_LIMIT:
            polls += 1
            spin_pause()
        else:
            atomic_swap(ctl, park, 1)
            if atomic_load(ctl, GEN) == seen:  # nothing published since: sleep until woken
                futex_wait(ctl, GEN, seen)
            atomic_swap(ctl, park, 0)
            polls = 0


@njit(cache=True, nogil=True, error_model="numpy")
def _publish(ctl, workers, n_cur, n_chunks, stop, solo):
    """Publish an advance of ``n_chunks`` chunks by ``n_cur`` periods (or the stop) and wake the
    workers that sleep (returns whether any did); ``solo``: open the chunks for the caller
    alone (the workers see no new generation)."""
    if stop:
        atomic_swap(ctl, GEN, -1)
    else:
        ctl[DONE] = 0
        ctl[N_CUR] = n_cur
        atomic_swap(ctl, TASKS, n_chunks << 32)  # chunks [0, n_chunks) open
        if solo:
            return False
        atomic_swap(ctl, GEN, ctl[GEN] + 1)
    for k in range(workers):
        if atomic_load(ctl, PARK + k * SLOT) == 1:
            futex_wake(ctl, GEN, workers)
            return True
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def _run_and_wait(ctl, n_chunks, chunks):
    """The caller's share: chunks from the front, then wait until every chunk is done (spin,
    then sleep on ``ctl[DONE]``, so that a worker the OS preempted can take this core). Returns
    whether it had to sleep."""
    _claim_and_run(ctl, chunks, False)
    polls = 0
    slept = False
    while True:
        done = atomic_load(ctl, DONE)
        if done >= n_chunks:
            return slept
        if polls < WAIT_SPIN:
            polls += 1
            spin_pause()
        else:
            slept = True
            atomic_swap(ctl, WAITING, 1)
            if atomic_load(ctl, DONE) == done:
                futex_wait(ctl, DONE, done)
            atomic_swap(ctl, WAITING, 0)


@njit(cache=True, error_model="numpy")
def _couple_bank(p, s, ring, jo_own, theta, omega, inertia, torque):
    for j in range(p.shape[0]):  # JointModule.couple_load, every row
        jo = jo_own[j] + inertia[j]
        p[j]["jo"] = jo
        p[j]["inv_jo"] = 1.0 / jo
        p[j]["gravity"] = 0.0
        shift = theta[j] - s[j]["theta_o"]
        ratio = p[j]["ratio"]
        s[j]["theta_m"] += ratio * shift
        s[j]["omega_m"] += ratio * (omega[j] - s[j]["omega_o"])
        for k in range(ring.shape[2]):
            ring[j, 0, k] += shift
            ring[j, 2, k] += ratio * shift
        s[j]["theta_o"] = theta[j]
        s[j]["omega_o"] = omega[j]
        s[j]["tau_ext"] = torque[j]


class JointBank:
    """``len(presets)`` joint modules sharing one current-loop rate, advanced in one call."""

    def __init__(
        self,
        presets: Sequence[JointPreset],
        current_loop_hz: float = 20_000,
        seeds: Sequence[int] | None = None,
        initial_positions_rad: Sequence[float | None] | None = None,
        threads: int = 1,
    ) -> None:
        n = len(presets)
        if not 1 <= threads <= 64:
            raise ConfigError(f"JointBank threads = {threads}; 1 to 64")
        if threads > 1 and not FUTEX_AVAILABLE:
            raise ConfigError(f"JointBank threads = {threads}: more than one thread needs Linux futexes (x86-64, aarch64)")
        if not 1 <= n <= 256:
            raise ConfigError(f"JointBank: {n} presets; a bank holds 1 to 256 modules")
        seeds = list(range(n)) if seeds is None else list(seeds)
        q0s = [None] * n if initial_positions_rad is None else list(initial_positions_rad)
        if len(seeds) != n or len(q0s) != n:
            raise ConfigError(
                f"JointBank: {n} presets but {len(seeds)} seeds and {len(q0s)} initial positions"
            )
        self._arrays = {
            "p": np.zeros(n, PARAM_DTYPE), "s": np.zeros(n, STATE_DTYPE), "ring": np.zeros((n, 3, RING)),
            "rng": np.zeros(n, np.uint64), "fc": np.zeros(n, FocConfig.dtype()), "fs": FocState.array(n),
            "fi": FocInput.array(n), "fo": FocOutput.array(n), "cc": np.zeros(n, CascadeConfig.dtype()),
            "cs": CascadeState.array(n), "ci": CascadeInput.array(n), "co": CascadeOutput.array(n),
            "cmd": np.zeros((n, 10)), "meas": np.zeros((n, N_MEAS)), "hook": np.zeros(n, HOOK_DTYPE),
        }  # fmt: skip
        a = self._arrays
        rows = {"ring", "cmd", "meas"}  # 2-D/3-D: one row per module; the others: 1-element slices
        self.modules: list[JointModule] = []
        for i, preset in enumerate(presets):
            views = {k: (a[k][i] if k in rows else a[k][i : i + 1]) for k in STORAGE_KEYS}
            self.modules.append(JointModule(preset, current_loop_hz, seeds[i], q0s[i], _storage=views))
        self.current_loop_hz = float(current_loop_hz)
        self._npo = np.array([m._n_per_outer for m in self.modules], dtype=np.int64)
        self._jo_own = np.array([p.reducer.output_inertia_kg_m2 for p in presets])
        self._period_s = -1.0
        self._args: tuple = ()
        self.threads = min(int(threads), n)
        self._pool: BankThreads | None = None
        if self.threads > 1:
            # a mechanical substep costs ~1/25 of the rest of a PWM period (measured per preset)
            costs = 25.0 + a["p"]["n_mech"]
            # one chunk per thread: a module that stays on its core keeps its state in that
            # core's cache (4 chunks per thread, claimed dynamically, measured 18-20x vs 21-22x)
            chunks = split_rows(costs, self.threads)
            arrays = (self._npo, *(a[k] for k in STORAGE_KEYS))
            self._pool = BankThreads((_serve, _publish, _run_and_wait), arrays, chunks, self.threads - 1, owner=self)

    def close(self) -> None:
        """Stop the worker threads (``threads > 1``); the bank then advances on one thread."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
            self.threads = 1
            self._period_s = -1.0

    def __len__(self) -> int:
        return len(self.modules)

    def __getitem__(self, i: int) -> JointModule:
        return self.modules[i]

    def couple_loads(self, theta_rad: np.ndarray, omega_rad_s: np.ndarray, inertia_kg_m2: np.ndarray,
                     torque_nm: np.ndarray) -> None:
        """:meth:`JointModule.couple_load` for every module at once (one value per module in each
        array; same results as calling it module by module). Callable in the tick."""
        n = len(self.modules)
        for name, v in (("theta", theta_rad), ("omega", omega_rad_s), ("inertia", inertia_kg_m2), ("torque", torque_nm)):
            if v.shape != (n,):
                raise ConfigError(f"JointBank couple_loads {name}: shape {v.shape}, the bank has {n} modules")
            if not np.isfinite(v).all():
                raise ConfigError(f"JointBank couple_loads {name} = {v} must be finite")
        if (inertia_kg_m2 < 0.0).any():
            raise ConfigError(f"JointBank couple_loads inertia = {inertia_kg_m2} kg m^2 must be >= 0")
        a = self._arrays
        _couple_bank(a["p"], a["s"], a["ring"], self._jo_own, theta_rad, omega_rad_s, inertia_kg_m2, torque_nm)

    def output_velocities(self) -> np.ndarray:
        """The outputs' velocities at the end of the last advance [rad/s] (a view, ground truth)."""
        return self._arrays["s"]["omega_o"]

    def advance(self, period_s: float = 0.001) -> None:
        """Advance every module by ``period_s`` (whole PWM periods) in one numba call.
        Callable in the tick (no allocation)."""
        if period_s != self._period_s:
            n = pwm_periods("JointBank", period_s, self.current_loop_hz)
            self._period_s = period_s
            a = self._arrays
            self._args = (n, self._npo, *(a[k] for k in STORAGE_KEYS))
            self._kernel = entry_point(_advance_bank, self._args)
        if self._pool is not None:
            self._pool.advance(self._args[0])
        else:
            self._kernel(*self._args)
