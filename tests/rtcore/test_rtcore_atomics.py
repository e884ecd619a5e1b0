"""rtcore.jit atomics: load / swap / compare-and-swap / fetch-and-add on int64 array elements,
and a spin handshake between two threads running nogil kernels."""

from __future__ import annotations

import threading

import numba
import numpy as np

from cerebellum_rt.rtcore.jit import atomic_add, atomic_cas, atomic_load, atomic_swap, spin_pause


@numba.njit(cache=False)
def _ops(a):
    out = np.zeros(6, np.int64)
    out[0] = atomic_swap(a, 1, 7)  # old 0
    out[1] = atomic_cas(a, 1, 5, 9)  # expected 5, holds 7: unchanged, returns 7
    out[2] = atomic_cas(a, 1, 7, 9)  # holds 7: now 9
    out[3] = atomic_add(a, 2, 3)  # old 0, now 3
    out[4] = atomic_load(a, 1)
    spin_pause()
    out[5] = atomic_load(a, 2)
    return out


def test_atomic_ops_return_the_old_value_and_store_the_new():
    a = np.zeros(4, np.int64)
    assert _ops(a).tolist() == [0, 7, 7, 0, 9, 3]
    assert a.tolist() == [0, 9, 3, 0]


@numba.njit(cache=False, nogil=True)
def _add_many(a, n):
    for _ in range(n):
        atomic_add(a, 0, 1)


@numba.njit(cache=False, nogil=True)
def _ping_pong(flag, me, other, rounds):
    """Take turns through one word: wait for ``me``, hand over to ``other``; count our turns."""
    turns = 0
    for _ in range(rounds):
        while atomic_load(flag, 0) != me:
            spin_pause()
        turns += 1
        atomic_swap(flag, 0, other)
    return turns


def test_two_threads_add_exactly_and_hand_over_without_losing_a_turn():
    a = np.zeros(1, np.int64)
    _add_many(a, 1)
    a[0] = 0
    ts = [threading.Thread(target=_add_many, args=(a, 200_000)) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert a[0] == 400_000
    flag = np.zeros(1, np.int64)
    _ping_pong(flag, 0, 0, 1)
    flag[0] = 0
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("b", _ping_pong(flag, 1, 0, 2000)))
    t.start()
    res["a"] = _ping_pong(flag, 0, 1, 2000)
    t.join(timeout=60)
    assert not t.is_alive() and res == {"a": 2000, "b": 2000} and flag[0] == 0
