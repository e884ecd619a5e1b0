"""Threads for a JointBank: its modules split into contiguous groups, one per thread, each
group advanced by the same kernel as a one-thread bank (``bank._advance_bank`` on row slices).

The modules of a bank are independent (each owns its rows of every array; nothing is shared
between rows), so a group advances to the same bits whichever thread runs it and whatever the
split: the results are those of one thread, bit for bit.

Per ``advance`` the caller's thread publishes the period count to each worker (an atomic
exchange of the worker's control word to WORK), advances the first group itself and spins
until every worker's word is back to IDLE. A worker spins on its word between advances (no
system call per tick: a hand-over costs ~0.1 us, against ~10-40 us for numba's ``prange``
fork-join here) and, after ``SPIN_LIMIT`` idle polls (~0.5-1 ms), parks: it returns to Python
and blocks on its event until the next advance sets it. Everything in the kernels runs
without the GIL, so a parked worker can wake while the caller advances its own group.

Control words: one per worker, ``SLOT`` int64 apart (a cache line each): ``[state, n_cur]``.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from cerebellum_rt.rtcore.jit import entry_point

IDLE, WORK, PARKED, STOP = 0, 1, 2, 3
SLOT = 8  # int64 words per worker control block (64 bytes: no false sharing)
SPIN_LIMIT = 10_000  # idle polls (pause each) before a worker parks


def split_rows(costs: np.ndarray, groups: int) -> list[tuple[int, int]]:
    """Contiguous ``[lo, hi)`` row ranges, ``groups`` of them (fewer if there are fewer rows),
    with costs as even as a contiguous split allows (cut where the running cost crosses each
    share)."""
    n = len(costs)
    groups = max(1, min(groups, n))
    cum = np.concatenate([[0.0], np.cumsum(costs)])
    cuts = [0]
    for g in range(1, groups):
        k = int(np.searchsorted(cum, cum[-1] * g / groups))
        k = min(max(k, cuts[-1] + 1), n - (groups - g))  # every group keeps at least one row
        cuts.append(k)
    cuts.append(n)
    return [(cuts[g], cuts[g + 1]) for g in range(groups)]


class BankThreads:
    """``len(row_groups)`` threads (the caller's and ``len(row_groups) - 1`` workers) advancing
    the row groups of a bank's arrays with ``kernels`` = (serve, publish, run_and_wait) of
    ``bank.py``. ``close()`` stops the workers (also when ``owner`` is collected)."""

    def __init__(self, kernels: tuple, arrays: tuple[np.ndarray, ...], row_groups: list[tuple[int, int]],
                 owner: object) -> None:
        self._serve, self._publish, self._run_and_wait = kernels
        self._n_cur = -1
        self._mine = tuple(a[row_groups[0][0] : row_groups[0][1]] for a in arrays)
        self._workers = len(row_groups) - 1
        self._ctl = np.zeros(max(1, self._workers) * SLOT, np.int64)
        self._events = [threading.Event() for _ in range(self._workers)]
        self._threads = []
        for k, (lo, hi) in enumerate(row_groups[1:]):
            rows = tuple(a[lo:hi] for a in arrays)
            t = threading.Thread(target=_serve_forever, args=(self._serve, self._ctl, k * SLOT, rows, self._events[k]),
                                 name=f"JointBank-{k + 1}", daemon=True)
            t.start()
            self._threads.append(t)
        self._closer = weakref.finalize(owner, _stop, self._publish, self._ctl, self._workers, self._events, self._threads)

    def advance(self, n_cur: int) -> None:
        """Every group advances ``n_cur`` PWM periods; returns when all are done."""
        if n_cur != self._n_cur:  # compiled entries: no per-call type resolution (~2 us)
            self._n_cur = n_cur
            self._publish_entry = entry_point(self._publish, (self._ctl, self._workers, n_cur, WORK))
            self._run_entry = entry_point(self._run_and_wait, (self._ctl, self._workers, n_cur, self._mine))
        parked = self._publish_entry(self._ctl, self._workers, n_cur, WORK)
        if parked:
            for k, ev in enumerate(self._events):
                if parked >> k & 1:
                    ev.set()
        self._run_entry(self._ctl, self._workers, n_cur, self._mine)

    def close(self) -> None:
        """Stop and join the workers (idempotent)."""
        self._closer()


def _serve_forever(serve, ctl: np.ndarray, base: int, rows: tuple, event: threading.Event) -> None:
    while serve(ctl, base, rows) != STOP:
        event.wait()
        event.clear()


def _stop(publish, ctl: np.ndarray, workers: int, events: list, threads: list) -> None:
    publish(ctl, workers, 0, STOP)
    for ev in events:
        ev.set()
    for t in threads:
        t.join()
