"""The synthesis threads, and the order in which they take work: earliest deadline first.

Every step of synthesis (one sentence) carries the wall-clock time by which its audio is
needed: now for a request's first chunk, later for a chunk whose request has seconds of audio
already waiting at the client. A free thread takes the step due soonest, so a stream whose
client is about to run out of audio goes ahead of one that has plenty.

A sentence cannot be paused once started, and a long one takes half a second or more. So that a
new request is not kept waiting behind other requests' long sentences, an express thread runs
an urgent small step (due within `urgent_within` seconds, submitted as `small`: a request's
short first chunk) at once when every regular thread is busy and at least one of them with
work that is not urgent. The cores are then briefly shared three ways; the work that was not
urgent has audio in hand to cover it. When everything is urgent (more load than the machine can
serve), the express thread stays idle, because sharing the cores more thinly would only lower
throughput. It never takes a long step: the model's working memory grows with the speech it is
given, so two long units and one short one are the most that run at once (docs/benchmarks.md,
"Capacity").
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)
# A queued call: when it is due, its place in line, the call, its future, what to call on the
# thread that takes it before the call, and whether an express thread may take it (small).
_Entry = tuple[float, int, Callable[[], Any], Future[Any], Callable[[], object] | None, bool]

# How often an idle express thread looks again while only work that is not urgent waits.
_EXPRESS_RECHECK_SECONDS = 0.02


class DeadlineExecutor:
    """A pool of threads that runs the submitted call with the earliest `due` first.

    Calls with equal `due` run in the order they were submitted. The threads start with the
    first call submitted: making an executor starts nothing.
    """

    def __init__(
        self,
        threads: int,
        name: str,
        express: int = 0,
        urgent_within: float = 0.5,
        on_idle: Callable[[], object] | None = None,
        idle_after: float = 5.0,
    ) -> None:
        self.threads = threads
        self.express = express
        self.name = name
        self.urgent_within = urgent_within
        # Called once, on the first regular thread, when nothing has run for `idle_after`
        # seconds after some work (and again after the next work).
        self.on_idle = on_idle
        self.idle_after = idle_after
        self._idle_at: float | None = None
        self._queue: list[_Entry] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        # The due time of what each regular thread is running, None when it is free.
        self._running: list[float | None] = [None] * threads
        self._started = False

    def submit(
        self,
        due: float,
        function: Callable[..., T],
        *args: Any,
        on_start: Callable[[], object] | None = None,
        small: bool = False,
    ) -> Future[T]:
        """Queue `function(*args)`; `on_start` is called on the thread that takes it, first.

        A `small` call is short work an express thread may run when it is urgent.
        """
        future: Future[T] = Future()
        with self._changed:
            if not self._started:
                self._start()
            entry: _Entry = (
                due,
                next(self._order),
                functools.partial(function, *args),
                future,
                on_start,
                small,
            )
            heapq.heappush(self._queue, entry)
            self._changed.notify_all()
        return future

    def waiting(self) -> int:
        """Calls queued and not taken by a thread yet."""
        return len(self._queue)

    async def run(self, due: float, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` on a thread when it is its turn, and wait for the result."""
        return await asyncio.wrap_future(self.submit(due, function, *args))

    def _start(self) -> None:
        for number in range(self.threads):
            threading.Thread(
                target=self._work, args=(number,), name=f"{self.name}_{number}", daemon=True
            ).start()
        for number in range(self.express):
            threading.Thread(
                target=self._work, args=(None,), name=f"{self.name}_express_{number}", daemon=True
            ).start()
        self._started = True

    def _express_call(self) -> int | None:
        """Where in the queue the call is that an express thread should run now, if any: the
        earliest urgent small one, while every regular thread is busy and one of them with work
        that can wait (lock held)."""
        urgent = time.time() + self.urgent_within
        if not (
            all(due is not None for due in self._running)
            and any(due is not None and due > urgent for due in self._running)
        ):
            return None
        small = [(entry[:2], index) for index, entry in enumerate(self._queue) if entry[5]]
        if not small:
            return None
        (due, _order), index = min(small)
        return index if due <= urgent else None

    def _take(self, index: int) -> _Entry:
        """Remove and return the queued call at `index` (lock held)."""
        if index == 0:
            return heapq.heappop(self._queue)
        entry = self._queue[index]
        last = self._queue.pop()
        if index < len(self._queue):
            self._queue[index] = last
            heapq.heapify(self._queue)
        return entry

    def _work(self, slot: int | None) -> None:
        """Run calls forever; `slot` is the regular thread's number, None for express ones."""
        while True:
            with self._changed:
                idle = False
                index: int | None = 0
                while True:
                    if self._queue:
                        index = 0 if slot is not None else self._express_call()
                        if index is not None:
                            break
                    if slot == 0 and self._idle_at is not None:
                        # The first regular thread watches for the pool going idle.
                        left = self._idle_at - time.monotonic()
                        if left <= 0 and all(due is None for due in self._running):
                            self._idle_at = None
                            idle = True
                            break
                        self._changed.wait(max(left, _EXPRESS_RECHECK_SECONDS))
                        continue
                    # An express thread re-checks while work waits: time makes work urgent.
                    express_wait = (
                        _EXPRESS_RECHECK_SECONDS if slot is None and self._queue else None
                    )
                    self._changed.wait(express_wait)
                if not idle:
                    assert index is not None
                    due, _order, call, future, on_start, _small = self._take(index)
                    if slot is not None:
                        self._running[slot] = due
            if idle:
                self._idle()
                continue
            try:
                if future.set_running_or_notify_cancel():
                    if on_start is not None:
                        on_start()
                    try:
                        future.set_result(call())
                    except BaseException as error:  # handed to whoever awaits the future
                        future.set_exception(error)
            finally:
                with self._changed:
                    if slot is not None:
                        self._running[slot] = None
                    if self.on_idle is not None:
                        self._idle_at = time.monotonic() + self.idle_after
                    self._changed.notify_all()

    def _idle(self) -> None:
        assert self.on_idle is not None
        try:
            self.on_idle()
        except Exception:
            logger.exception("The synthesis threads' idle work failed")
