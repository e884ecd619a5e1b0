"""rtcore.jit atomics: load / swap / compare-and-swap / fetch-and-add on int64 array elements,
a spin handshake between two threads running nogil kernels, and a futex sleep / wake."""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest

from cerebellum_rt.rtcore.jit import (
    FUTEX_AVAILABLE,
    atomic_add,
    atomic_cas,
    atomic_load,
    atomic_swap,
    futex_wait,
    futex_wake,
    spin_pause,
)


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


@numba.njit(cache=False, nogil=True)
def _sleep_until_set(a):
    """Sleep on a[0] until it turns nonzero; the number of futex waits it took."""
    waits = 0
    while atomic_load(a, 0) == 0:
        futex_wait(a, 0, 0)
        waits += 1
    return waits


@numba.njit(cache=False, nogil=True)
def _wait_once(a, expected):
    futex_wait(a, 0, expected)


@numba.njit(cache=False, nogil=True)
def _set_and_wake(a):
    atomic_swap(a, 0, 1)
    futex_wake(a, 0, 1)


@pytest.mark.skipif(not FUTEX_AVAILABLE, reason="futexes are Linux-only")
def test_futex_sleeps_until_woken_and_returns_at_once_on_a_changed_word():
    a = np.ones(1, np.int64)
    t = threading.Thread(target=_wait_once, args=(a, 0))  # the word holds 1, not 0: returns at once
    t.start()
    t.join(timeout=10)
    assert not t.is_alive()
    a[0] = 0
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("waits", _sleep_until_set(a)))
    t.start()
    t.join(timeout=0.3)
    assert t.is_alive()  # asleep: nothing woke it
    _set_and_wake(a)
    t.join(timeout=10)
    assert not t.is_alive() and res["waits"] >= 1
