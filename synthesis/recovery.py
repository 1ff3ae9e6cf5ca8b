"""Requests that stop making progress: their chunks are sent to the workers again, once.

The channel layer delivers at most once, so a chunk is lost with the worker holding it (killed,
out of memory, its machine gone). Two clocks find such chunks:

- every request has a deadline, restarted by each step forward (TTS_CHUNK_DEADLINE, plus the
  audio its client has not played yet): when it passes, the chunks out are sent again;
- in the scale-out mode a worker process says which chunks it holds (tts.taken), and if it
  stops beating (heartbeat.py) they are sent again at once, a few seconds after it died. A
  chunk no worker has spoken of for as long, and that is no longer on the worker channel, was
  taken by a worker killed before it could say so: it is sent again too.

A re-sent chunk may reach any worker; if the first copy was only slow, whichever answer comes
first is used and the other is ignored as a duplicate (streams.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING

from channels.layers import BaseChannelLayer
from django.conf import settings

from protocol import ErrorCode

from . import metrics
from .heartbeat import missing_after, workers_alive
from .messages import WORKER_CHANNEL, oldest_waiting
from .streams import RequestStream

if TYPE_CHECKING:
    from .session import Session

logger = logging.getLogger(__name__)

# The last look at the worker channel of a channel layer: when (time.time()), and the lowest
# score on it then (messages.oldest_waiting).
_last_look: dict[BaseChannelLayer, tuple[float, float]] = {}


class Recovery:
    """The deadlines and worker checks of one Session's requests."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # Looks, while chunks are out with other processes' workers, whether those workers
        # still live and whether a chunk was taken by one that died before it said so.
        self.workers_timer: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        if self.workers_timer is not None:
            self.workers_timer.cancel()
            self.workers_timer = None

    def restart_deadline(self, stream: RequestStream) -> None:
        """Each step forward restarts a request's deadline.

        A client with audio in hand can wait that much longer: its chunks are not due yet, and
        busy workers rightly serve others first.
        """
        if stream.deadline is not None:
            stream.deadline.cancel()
        stream.deadline = asyncio.get_running_loop().call_later(
            settings.TTS_CHUNK_DEADLINE + stream.audio_in_hand(),
            lambda: asyncio.ensure_future(self.stalled(stream)),
        )

    async def stalled(self, stream: RequestStream) -> None:
        """No progress for a deadline: send the chunks out again, once; then give up.

        Chunks that no worker has started yet are waiting for a free one (the workers are
        busy): sending them again would only add to the work, so they get one more deadline.
        """
        session = self.session
        if not session.current(stream) or session.outlet.behind():
            return  # while the client is behind, nothing is due
        waiting = stream.in_flight_chunks()
        deadline = settings.TTS_CHUNK_DEADLINE
        if waiting and not stream.begun.intersection(waiting) and not stream.waited:
            logger.info(
                "Request %s: chunks %s not started after %g s; the workers are busy, waiting on",
                stream.request_id,
                ", ".join(map(str, waiting)),
                deadline,
            )
            stream.waited = True
            self.restart_deadline(stream)
            return
        if waiting and not stream.resent.intersection(waiting):
            logger.warning(
                "Request %s: no audio for %g s; sending chunks %s again",
                stream.request_id,
                deadline,
                ", ".join(map(str, waiting)),
            )
            stream.resent.update(waiting)
            metrics.RESENDS.labels("stalled").inc(len(waiting))
            for index in waiting:
                if not await session.send_chunk(stream, index, time.time()):  # late already
                    return
            self.restart_deadline(stream)
            return
        await session.fail(
            stream,
            ErrorCode.SYNTHESIS_FAILED,
            f"No audio was produced for {deadline:g} seconds, even after sending the text to "
            "the workers again; the request was abandoned. Try again.",
        )

    def taken(self, stream: RequestStream, index: int, worker: str) -> None:
        """A worker process holds chunk `index` (scale-out mode): watch that it lives."""
        stream.held_by[index] = worker
        self.watch_workers()

    def watch_workers(self) -> None:
        """Look again in one heartbeat whether the workers holding chunks are alive."""
        if self.workers_timer is None:
            self.workers_timer = asyncio.get_running_loop().call_later(
                settings.TTS_HEARTBEAT_SECONDS,
                lambda: asyncio.ensure_future(self.check_workers()),
            )

    async def check_workers(self) -> None:
        """Send again, at once, the chunks held by a worker that stopped beating, and those a
        worker took and died with before it could say so.

        Either is found within three heartbeats, instead of after a whole deadline. Each chunk
        is sent again once; a worker that was only cut off from Redis may still answer.
        """
        self.workers_timer = None
        session = self.session
        held: dict[str, list[tuple[RequestStream, int]]] = {}
        unheard: list[tuple[RequestStream, int]] = []
        for stream in session.requests.values():
            for index, worker in list(stream.held_by.items()):
                if index < stream.next_deliver or index in stream.resent:
                    del stream.held_by[index]  # delivered, or sent again already
                else:
                    held.setdefault(worker, []).append((stream, index))
            unheard.extend((stream, index) for index in stream.unheard_chunks())
        if not held and not unheard:
            return
        silent_since = time.time() - missing_after()
        silent = [
            (stream, index) for stream, index in unheard if stream.queued[index][0] < silent_since
        ]
        try:
            lost = await self.lost_with_workers(held) + await self.taken_unheard(silent)
        except Exception:
            logger.warning("Could not look for chunks lost with a worker", exc_info=True)
            lost = []  # the deadline still catches a lost chunk
        for stream, index, worker in lost:
            if not session.current(stream) or index in stream.resent:
                continue
            if not worker and index in stream.heard:
                continue  # a worker spoke of it while the channel was looked at
            await self.send_again(stream, index, worker)
        self.watch_workers()

    @staticmethod
    async def lost_with_workers(
        held: dict[str, list[tuple[RequestStream, int]]],
    ) -> list[tuple[RequestStream, int, str]]:
        """The held chunks whose workers stopped beating."""
        if not held:
            return []
        alive = await workers_alive(held)
        return [
            (stream, index, worker)
            for worker in held.keys() - alive
            for stream, index in held[worker]
        ]

    async def taken_unheard(
        self, silent: list[tuple[RequestStream, int]]
    ) -> list[tuple[RequestStream, int, str]]:
        """Of chunks no worker spoke of for three heartbeats, those no longer on the worker
        channel: the worker that took one died before it could say so (a live one says so
        within milliseconds).

        The channel is ordered by `due` (redis_layer.py): a chunk due before the first one
        still there has been taken. One due at the same moment may still be there, and is left
        to its deadline.
        """
        if not silent:
            return []
        global _last_look
        layer = self.session.layer
        looked_at, oldest = _last_look.get(layer, (-math.inf, math.inf))
        # The sessions of a process share one look per heartbeat, however many chunks wait.
        # It holds for chunks that were on the channel before it, as these were (three
        # heartbeats ago).
        if time.time() - looked_at > settings.TTS_HEARTBEAT_SECONDS:
            looked_at = time.time()
            oldest = await oldest_waiting(layer, WORKER_CHANNEL)
            _last_look = {layer: (looked_at, oldest)}
        return [(stream, index, "") for stream, index in silent if stream.queued[index][1] < oldest]

    async def send_again(self, stream: RequestStream, index: int, worker: str) -> None:
        """Send chunk `index`, lost with `worker` (or with one that never spoke: ""), again."""
        if worker:
            logger.warning(
                "Request %s: worker %s is gone; sending chunk %d again",
                stream.request_id,
                worker,
                index,
            )
        else:
            logger.warning(
                "Request %s: chunk %d left the worker channel, and no worker said it took it "
                "(it died at once); sending it again",
                stream.request_id,
                index,
            )
        stream.resent.add(index)
        metrics.RESENDS.labels("worker_gone" if worker else "taken_unheard").inc()
        if await self.session.send_chunk(stream, index, time.time()):
            self.restart_deadline(stream)
