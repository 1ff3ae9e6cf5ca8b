"""Sharing the synthesis threads: the sentence whose audio is needed soonest goes first."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from synthesis.scheduling import DeadlineExecutor


async def test_a_free_thread_takes_the_call_due_soonest():
    executor = DeadlineExecutor(1, "test-deadlines")
    release = threading.Event()
    ran: list[str] = []
    busy = executor.submit(0.0, release.wait)  # holds the only thread
    calls = [executor.submit(due, ran.append, name) for due, name in [(3, "c"), (1, "a"), (2, "b")]]
    calls.append(executor.submit(2, ran.append, "b2"))  # same due: in the order submitted
    release.set()
    busy.result(timeout=5)
    for call in calls:
        call.result(timeout=5)
    assert ran == ["a", "b", "b2", "c"]


async def test_a_failing_call_hands_its_exception_to_the_caller():
    executor = DeadlineExecutor(1, "test-failures")
    try:
        await executor.run(0.0, int, "not a number")
    except ValueError as error:
        assert "not a number" in str(error)
    else:
        raise AssertionError("the ValueError was lost")
    assert await executor.run(0.0, int, "42") == 42


def test_an_urgent_small_call_does_not_wait_for_one_that_can():
    executor = DeadlineExecutor(1, "test-express", express=1, urgent_within=0.5)
    release = threading.Event()
    later = executor.submit(time.time() + 10, release.wait)  # has ten seconds to spare
    assert executor.submit(time.time(), lambda: "now", small=True).result(timeout=5) == "now"
    assert not later.done()
    release.set()
    assert later.result(timeout=5) is True


def occupy(executor: DeadlineExecutor, release: threading.Event) -> Future[bool]:
    """Have the regular thread run a call with ten seconds to spare until `release` is set."""
    started = threading.Event()

    def wait() -> bool:
        started.set()
        return release.wait()

    running = executor.submit(time.time() + 10, wait)
    assert started.wait(5)
    return running


def test_the_express_thread_never_runs_a_call_that_is_not_small():
    """A long unit's memory adds up with the others': at most the regular threads run them."""
    executor = DeadlineExecutor(1, "test-express-long", express=1, urgent_within=0.5)
    release = threading.Event()
    later = occupy(executor, release)
    urgent_long = executor.submit(time.time(), lambda: "long")
    assert not release.wait(0.3) and not urgent_long.done()  # it waits for the regular thread
    release.set()
    assert later.result(timeout=5) is True
    assert urgent_long.result(timeout=5) == "long"


def test_the_express_thread_takes_the_small_call_behind_a_long_one():
    """An urgent long call at the head of the line does not hold back the small one after it,
    and of the small ones the earliest due goes first."""
    executor = DeadlineExecutor(1, "test-express-order", express=1, urgent_within=0.5)
    release = threading.Event()
    ran: list[str] = []
    later = occupy(executor, release)
    now = time.time()
    long = executor.submit(now - 1, ran.append, "long")
    second = executor.submit(now, ran.append, "second", small=True)
    first = executor.submit(now - 0.1, ran.append, "first", small=True)
    first.result(timeout=5)
    second.result(timeout=5)
    assert ran == ["first", "second"] and not long.done()
    release.set()
    long.result(timeout=5)
    assert later.result(timeout=5) is True
    assert ran == ["first", "second", "long"]


def test_when_everything_is_urgent_the_express_thread_stays_out():
    executor = DeadlineExecutor(1, "test-overload", express=1, urgent_within=0.5)
    release = threading.Event()
    running = executor.submit(time.time(), release.wait)  # urgent too
    waiting = executor.submit(time.time(), lambda: "done", small=True)
    assert not release.wait(0.3) and not waiting.done()  # no third way to share the cores
    release.set()
    assert running.result(timeout=5) is True
    assert waiting.result(timeout=5) == "done"


def test_the_pool_calls_its_idle_work_once_after_work_and_never_while_busy():
    idle_calls: list[float] = []
    pool = DeadlineExecutor(2, "idle-test", on_idle=lambda: idle_calls.append(time.monotonic()),
                            idle_after=0.2)  # fmt: skip
    assert idle_calls == []  # nothing has run yet: nothing to give back
    # Work that keeps coming, 0.1 s apart, keeps the pool from being idle.
    started = time.monotonic()
    for _ in range(6):
        pool.submit(0.0, time.sleep, 0.01).result()
        time.sleep(0.1)
    assert idle_calls == []
    time.sleep(0.5)
    assert len(idle_calls) == 1  # once, 0.2 s after the last work
    assert idle_calls[0] - started >= 0.6
    time.sleep(0.4)
    assert len(idle_calls) == 1  # and not again until more work has run
    pool.submit(0.0, time.sleep, 0.01).result()
    time.sleep(0.5)
    assert len(idle_calls) == 2


def test_idle_work_that_fails_does_not_stop_the_pool():
    def failing() -> None:
        raise RuntimeError("the idle work failed")

    pool = DeadlineExecutor(1, "idle-failing", on_idle=failing, idle_after=0.05)
    pool.submit(0.0, time.sleep, 0.01).result()
    time.sleep(0.2)
    assert pool.submit(0.0, lambda: 42).result(timeout=5) == 42
