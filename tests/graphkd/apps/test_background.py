"""graphkd.apps.background.BackgroundCalls (predict's page writer): calls run in order in one
thread, the queue is bounded, and an error is raised in the caller without losing its place."""

from __future__ import annotations

import threading

import pytest

from graphkd.apps.background import BackgroundCalls


def test_calls_run_in_order_in_one_background_thread():
    seen = []
    with BackgroundCalls(lambda i: seen.append((i, threading.current_thread().name))) as calls:
        for i in range(10):
            calls.submit(i)
    assert seen == [(i, "writer") for i in range(10)], "all done when the block is left"


def test_submit_blocks_when_size_calls_wait():
    release, started = threading.Event(), threading.Event()

    def slow(i):
        started.set()
        release.wait(5)

    calls = BackgroundCalls(slow, size=1)
    calls.submit(0)  # running
    assert started.wait(5)
    calls.submit(1)  # waiting: the queue is full now
    third = threading.Thread(target=calls.submit, args=(2,))
    third.start()
    third.join(0.2)
    assert third.is_alive(), "a third call waits for room"
    release.set()
    third.join(5)
    calls.close()
    assert not third.is_alive()


def test_an_error_is_raised_by_the_next_submit_or_on_exit():
    done = []

    def write(i):
        if i == 1:
            raise OSError("disk full")
        done.append(i)

    with pytest.raises(OSError, match="disk full"):
        with BackgroundCalls(write) as calls:
            calls.submit(0)
            calls.submit(1)
    assert done == [0]
    calls = BackgroundCalls(write)
    calls.submit(1)
    calls.close()
    with pytest.raises(OSError, match="disk full"):
        calls.submit(2)


def test_leaving_on_an_error_skips_the_waiting_calls_and_keeps_that_error():
    done, started = [], threading.Event()

    def slow(i):
        started.set()
        calls._skip.wait(5)  # the first call runs until the block is left on the error
        done.append(i)

    with pytest.raises(KeyError, match="model failed"):
        with BackgroundCalls(slow, size=8) as calls:
            for i in range(5):
                calls.submit(i)
            assert started.wait(5)
            raise KeyError("model failed")
    assert done == [0], "the calls still waiting are skipped"
