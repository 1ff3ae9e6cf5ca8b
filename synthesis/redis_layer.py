"""The Redis channel layer, with the synthesis workers' channel in order of need.

channels_redis keeps a channel's messages in a sorted set scored by when each was sent, and a
receiver pops the lowest score: first in, first out. For the worker channel that is the wrong
order: a newcomer's first chunk, needed now, would wait behind the later chunks of long
requests, needed seconds from now, and a listener whose audio is about to run out behind both.
So on the channels named in `ordered_channels` a message is scored by its `due` field instead
(synthesis/messages.py: when its listener needs it, wall clock), and every worker, on every
machine, takes the chunk due soonest first, as the embedded workers do within one process
(synthesis/scheduling.py). Everything else is channels_redis's own: the capacity check, the
expiry (a chunk overdue by the layer's expiry is dropped like an old message), the blocking
receive and its `$inflight` backup.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer


class DueOrderedRedisChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    """channels_redis's layer; messages on `ordered_channels` are taken in order of `due`."""

    def __init__(self, *args: Any, ordered_channels: Collection[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ordered_channels = frozenset(ordered_channels)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        due = message.get("due") if channel in self.ordered_channels else None
        if not isinstance(due, float | int) or "!" in channel:
            await super().send(channel, message)
            return
        # channels_redis's send for a general channel, scored by `due` instead of the time now.
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        channel_key = self.prefix + channel
        connection = self.connection(next(self._send_index_generator))
        await connection.zremrangebyscore(
            channel_key, min=0, max=int(time.time()) - int(self.expiry)
        )
        if await connection.zcount(channel_key, "-inf", "+inf") >= self.get_capacity(channel):
            raise ChannelFull()
        await connection.zadd(channel_key, {self.serialize(message): float(due)})
        await connection.expire(channel_key, int(self.expiry))
