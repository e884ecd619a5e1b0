"""Threads for a JointBank: its modules cut into contiguous chunks that the caller's thread and
``workers`` worker threads claim and advance with the one-thread kernel (``bank._advance_bank``
on the chunk's rows).

The modules of a bank are independent (each owns its rows of every array; nothing is shared
between rows), so a chunk advances to the same bits whichever thread claims it: the results are
those of one thread, bit for bit, whatever the scheduling.

Per ``advance`` the caller publishes the period count and opens the chunks (one atomic word:
the lowest and the highest chunk left), takes chunks from the front while the workers take
them from the back (one chunk per thread, so a module stays on its core while every thread
keeps up), then waits
until every chunk is done. A worker the OS has not scheduled in time costs nothing but its
share: the caller takes every chunk left. The caller waits by spinning for ``WAIT_SPIN`` polls,
then sleeps on the done count (a futex the worker finishing the last chunk wakes), so that a
worker preempted mid-chunk can get the caller's core. Such a wait lasts an OS time slice
(milliseconds, against ~50 us of work per tick), so after one the caller advances alone for
``SOLO_TICKS`` advances (doubling at each further wait, up to ``SOLO_TICKS_MAX``, back to the
start after ``SOLO_TICKS_MAX`` advances without one): on a machine whose other cores are busy
the bank runs at about its one-thread speed instead of waiting on preempted workers. A worker spins between advances (a
hand-over costs ~0.1-1 us, against ~10-40 us for numba's ``prange`` fork-join here) and after
``SPIN_LIMIT`` idle polls (~0.5-1 ms) raises its park flag and sleeps on the generation word
until the next advance wakes it. Everything runs in nogil kernels: no GIL, no Python, no
system call per tick while the threads are busy.

Control words (int64, one cache line each, ``SLOT`` words apart): ``GEN`` the advance's
generation (negative: stop), ``TASKS`` the chunks left (low 32 bits: next from the front, high
32: one past the next from the back), ``DONE`` chunks finished, ``N_CUR`` the periods,
``WAITING`` the caller sleeps on DONE, then one ``PARK`` flag per worker. Futexes compare the
low 32 bits of a word (little-endian).
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from cerebellum_rt.rtcore.jit import entry_point

SLOT = 8  # int64 words per control word (64 bytes: no false sharing)
GEN, TASKS, DONE, N_CUR, WAITING, PARK = 0, SLOT, 2 * SLOT, 3 * SLOT, 4 * SLOT, 5 * SLOT
SPIN_LIMIT = 10_000  # idle polls (pause each) before a worker sleeps (~0.5-1 ms)
WAIT_SPIN = 1_000  # polls the caller spins on the done count before it sleeps (~50-100 us)
SOLO_TICKS, SOLO_TICKS_MAX = 32, 8192  # advances the caller runs alone after it had to sleep


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
    """``workers`` worker threads and the caller's advancing the ``chunks`` (row ranges) of a
    bank's ``arrays`` with ``kernels`` = (serve, publish, run_and_wait) of ``bank.py``.
    ``close()`` stops the workers (also when ``owner`` is collected)."""

    def __init__(self, kernels: tuple, arrays: tuple[np.ndarray, ...], chunks: list[tuple[int, int]],
                 workers: int, owner: object) -> None:
        serve, publish, run_and_wait = kernels
        self._chunks = tuple(tuple(a[lo:hi] for a in arrays) for lo, hi in chunks)
        self._n_chunks = len(chunks)
        self._workers = workers
        self._ctl = np.zeros(PARK + max(1, workers) * SLOT, np.int64)
        # compiled (or loaded from the cache) here, before any thread starts; called through
        # their entries (no per-call type resolution, ~2 us)
        serve = entry_point(serve, (self._ctl, PARK, self._chunks))
        self._publish = entry_point(publish, (self._ctl, workers, 1, self._n_chunks, False, False))
        self._solo_left = 0  # advances the caller still runs alone
        self._solo_next = SOLO_TICKS  # ... after its next wait on a worker
        self._calm = 0  # advances shared since the last wait
        self._run_and_wait = entry_point(run_and_wait, (self._ctl, self._n_chunks, self._chunks))
        self._threads = [threading.Thread(target=serve, args=(self._ctl, PARK + k * SLOT, self._chunks),
                                          name=f"JointBank-{k + 1}", daemon=True) for k in range(workers)]
        for t in self._threads:
            t.start()
        self._closer = weakref.finalize(owner, _stop, self._publish, self._ctl, workers, self._threads)

    @property
    def threads(self) -> list[threading.Thread]:
        """The worker threads (alive until ``close``)."""
        return list(self._threads)

    def parked(self) -> list[bool]:
        """Whether each worker has stopped spinning (asleep until the next advance) now."""
        return [bool(self._ctl[PARK + k * SLOT] == 1) for k in range(self._workers)]

    def advance(self, n_cur: int) -> None:
        """Every chunk advances ``n_cur`` PWM periods; returns when all are done."""
        solo = self._solo_left > 0
        woke = self._publish(self._ctl, self._workers, n_cur, self._n_chunks, False, solo)
        slept = self._run_and_wait(self._ctl, self._n_chunks, self._chunks)
        if solo:
            self._solo_left -= 1
        elif slept and not woke:  # a running worker was preempted: alone for a while (backing off)
            self._solo_left = self._solo_next
            self._solo_next = min(2 * self._solo_next, SOLO_TICKS_MAX)
            self._calm = 0
        else:
            self._calm += 1
            if self._calm >= SOLO_TICKS_MAX:
                self._solo_next = SOLO_TICKS

    def close(self) -> None:
        """Stop and join the workers (idempotent)."""
        self._closer()


def _stop(publish, ctl: np.ndarray, workers: int, threads: list) -> None:
    publish(ctl, workers, 0, 0, True, False)
    for t in threads:
        t.join()
