"""Database and cache calls from async code, on threads of their own.

Django's async ORM and cache methods, and channels' `database_sync_to_async`, run every call
on one thread that the whole process shares, and channels also cleans up connections there
before each message a consumer handles. So one query waiting for a lock (SQLite's write lock
during an admin save, a PostgreSQL row lock) held up every query and every message of every
socket: with the write lock held for 8 s, an unrelated stream stopped for 8 s.

The sockets' database work runs here instead, on a small pool: each thread keeps its own
connection, so a slow database slows only the calls that need it. Cache calls, which are a
Redis round trip with REDIS_URL, run on the event loop's default executor, also never on the
shared thread. Django's own sync views (the admin) keep the shared thread.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import close_old_connections

T = TypeVar("T")

# Enough for a key check, a usage write and a voice lookup to proceed while one waits on a
# lock; each thread holds one database connection at most.
DATABASE_THREADS = 4
_pool = ThreadPoolExecutor(DATABASE_THREADS, thread_name_prefix="tts-database")


def with_fresh_connection(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` between the connection clean-ups Django does around a request: a
    connection that broke or outlived CONN_MAX_AGE is dropped (for threads of our own)."""
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


async def in_database_thread(function: Callable[..., T], *args: Any) -> T:
    """Run the blocking database call `function(*args)` on the database threads."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _pool, functools.partial(with_fresh_connection, function, *args)
    )


async def cache_get(key: str, default: Any = None) -> Any:
    """`cache.get`, off the event loop and off the shared sync thread."""
    return await asyncio.to_thread(cache.get, key, default)


async def cache_set(key: str, value: Any, timeout: float | None) -> None:
    """`cache.set`, off the event loop and off the shared sync thread."""
    await asyncio.to_thread(cache.set, key, value, timeout)
