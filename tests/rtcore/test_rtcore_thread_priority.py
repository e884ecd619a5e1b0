"""cerebellum_rt.rtcore.rt.raise_thread_priority: another thread of the process under SCHED_FIFO, or one warning."""

from __future__ import annotations

import os
import threading
import warnings

import pytest

from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.rt import RtWarning, raise_thread_priority


def _with_thread(fn):
    ready, done = threading.Event(), threading.Event()
    th = threading.Thread(target=lambda: (ready.set(), done.wait(10)), daemon=True)
    th.start()
    ready.wait(5)
    try:
        return fn(th.native_id)
    finally:
        done.set()
        th.join(5)


@pytest.mark.needs(root="SCHED_FIFO for another thread (CAP_SYS_NICE)")
def test_thread_gets_fifo_priority():
    def check(tid):
        assert raise_thread_priority(tid, 42, "test thread")
        return os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority

    assert _with_thread(check) == (os.SCHED_FIFO, 42)


def test_refusal_warns_once_and_returns_false():
    # a thread id that does not exist is refused by the kernel (ESRCH) like a missing capability
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert raise_thread_priority(2**22 + 12345, 10, "ghost") is False
        assert raise_thread_priority(2**22 + 12345, 10, "ghost") is False
    assert len([w for w in seen if issubclass(w.category, RtWarning)]) == 1


def test_out_of_range_priority_is_a_config_error():
    with pytest.raises(ConfigError, match="board thread priority = 500 is out of range"):
        raise_thread_priority(threading.get_native_id(), 500, "board")
