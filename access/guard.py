"""Who may connect, and how much each key may do; TTSConsumer asks here (docs/security.md).

Everything a key (or a staff user's demo page) is allowed is counted where every web process
sees it: open connections in the database, requests per minute in Django's cache (process
memory in the embedded mode, Redis with REDIS_URL). A failure of those stores does not shut
clients out: a connection whose bookkeeping fails is let in and the failure is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from protocol import ClientError, CloseCode, ErrorCode
from ttsproject.database import in_database_thread

from .keys import key_or_refusal, looks_like_key, not_a_key
from .models import APIKey, KeyUsage, OpenConnection
from .tokens import looks_like_page_token, user_for_page_token

logger = logging.getLogger(__name__)


class Refused(ClientError):
    """The connection may not be served: the client is told why, then it is closed."""

    def __init__(self, close_code: CloseCode, code: ErrorCode, message: str) -> None:
        super().__init__(code, message)
        self.close_code = close_code


class Limited(ClientError):
    """A request may not start now; the connection carries on."""


class Revoked(Limited):
    """The key was revoked: the request may not start, and the socket is being closed."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.UNAUTHORIZED, "This connection's API key has been revoked.")


@dataclass
class Client:
    """Who is on the other end of one socket."""

    channel_name: str
    # Called when the key is found revoked while the socket is open.
    on_revoked: Callable[[], Coroutine[Any, Any, None]]
    key: APIKey | None = None
    staff_user_id: int | None = None  # a staff user's demo page (tokens.py)
    revoked: bool = False  # the key was revoked while the socket was open
    # Whether the client holds one of its key's connections (a socket does; an HTTP request,
    # which is over in seconds, counts against the key's rate only).
    connected: bool = True
    refresher: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def group(self) -> str | None:
        """The channel-layer group of the key's sockets, told when the key is revoked."""
        return None if self.key is None else key_group(self.key.pk)


def key_group(key_id: int) -> str:
    return f"access-key-{key_id}"


def presented_token(scope: dict[str, Any]) -> str | None:
    """The key or page token the client sent: `Authorization: Bearer`, else `?token=`."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = [token for token in query.get("token", []) if token]
    return tokens[-1] if tokens else None


async def admit(
    scope: dict[str, Any], channel_name: str, on_revoked: Callable[[], Coroutine[Any, Any, None]]
) -> Client:
    """Check a new connection's key and take one of the key's connections, or raise Refused."""
    client = Client(channel_name, on_revoked)
    token = presented_token(scope)
    refused_because: str | None = None  # why the key sent opens nothing, if it does not
    if token is not None:
        if looks_like_key(token):
            found, admitted = await in_database_thread(admit_key_now, token, channel_name)
            if isinstance(found, str):
                refused_because = found
            else:
                client.key = found
            if client.key is not None and not admitted:
                raise Refused(
                    CloseCode.TOO_MANY_CONNECTIONS,
                    ErrorCode.TOO_MANY_CONNECTIONS,
                    f"This API key already has {connection_limit(client.key)} connections "
                    "open, its limit; close one, or share one connection between requests.",
                )
        else:
            user = await user_for_page_token(token, scope)
            if user is not None:
                if not await in_database_thread(take_page_connection_now, user.pk, channel_name):
                    raise Refused(
                        CloseCode.TOO_MANY_CONNECTIONS,
                        ErrorCode.TOO_MANY_CONNECTIONS,
                        f"You already have {settings.TTS_MAX_PAGE_CONNECTIONS_PER_USER} demo "
                        "page connections open, the limit for a staff user; close a page, or "
                        "use an API key.",
                    )
                client.staff_user_id = user.pk
    if client.key is None and client.staff_user_id is None and settings.TTS_REQUIRE_API_KEY:
        reason = refused_because or refusal_reason(scope, token)
        raise Refused(CloseCode.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, reason)
    if client.key is not None or client.staff_user_id is not None:
        client.refresher = asyncio.create_task(keep_connection_fresh(client))
    return client


async def admit_request(scope: dict[str, Any], channel_name: str) -> Client:
    """Check an HTTP request's key, or raise Refused. It takes none of the key's connections:
    its rate, usage and every limit on the request itself still apply."""
    client = request_client(channel_name)
    token = presented_token(scope)
    refused_because: str | None = None
    if token is not None and looks_like_key(token):
        found = await in_database_thread(key_or_refusal, token)
        if isinstance(found, str):
            refused_because = found
        else:
            client.key = found
    if client.key is None and settings.TTS_REQUIRE_API_KEY:
        reason = refused_because or refusal_reason(scope, token)
        raise Refused(CloseCode.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, reason)
    return client


def request_client(channel_name: str) -> Client:
    """A client for one request that is not a socket: it holds none of a key's connections,
    and a key revoked while it runs lets it run on (it started while valid)."""
    return Client(channel_name, _nothing, connected=False)


async def _nothing() -> None:
    """A key revoked during a request that is not a socket: nothing to close."""


def refusal_reason(scope: dict[str, Any], token: str | None) -> str:
    """Why a client with `token` (None: it sent none), which is no key, is refused, saying
    what to fix. (Why something shaped like a key opens nothing: keys.key_or_refusal.)"""
    if token is None:
        if any(name.lower() == b"authorization" for name, _ in scope.get("headers", [])):
            return (
                "The Authorization header must read 'Bearer <key>', with the word Bearer and "
                "a space before the key."
            )
        return (
            "An API key is required: send the header Authorization: Bearer <key>, "
            "or ?token=<key> from a browser."
        )
    if looks_like_page_token(token):
        return (
            "This demo page sign-in token has expired or its session has ended; log in again "
            "and reload the page, or use an API key."
        )
    return not_a_key(token)


def connection_limit(key: APIKey) -> int:
    limit = key.max_connections
    return settings.TTS_MAX_CONNECTIONS_PER_KEY if limit is None else limit


def requests_per_minute(key: APIKey) -> int:
    limit = key.requests_per_minute
    return settings.TTS_MAX_REQUESTS_PER_MINUTE if limit is None else limit


def stale_before() -> Any:
    """Rows not refreshed since then belong to connections of a process that died."""
    return timezone.now() - timedelta(seconds=3 * settings.TTS_CONNECTION_REFRESH_SECONDS)


def admit_key_now(token: str, channel_name: str) -> tuple[APIKey | str, bool]:
    """The key `token` is (or why it opens nothing), and whether it has room for a connection.

    One trip to the database thread for both: a new connection waits for this.
    """
    key = key_or_refusal(token)
    if isinstance(key, str):
        return key, True
    return key, take_connection_now(key, channel_name)


def take_connection_now(key: APIKey, channel_name: str) -> bool:
    """Record the connection if the key has room for it (else 4429); note the key was used."""
    now = timezone.now()
    with transaction.atomic():
        rows = APIKey.objects.filter(pk=key.pk)
        if not record_if_room(rows, channel_name, connection_limit(key), key=key):
            return False
        # To the minute: a busy key need not be written on every connection.
        if key.last_used is None or now - key.last_used > timedelta(minutes=1):
            rows.update(last_used=now)
    return True


def take_page_connection_now(user_id: int, channel_name: str) -> bool:
    """Record a staff user's demo page connection if the user has room for it (else 4429)."""
    with transaction.atomic():
        return record_if_room(
            get_user_model().objects.filter(pk=user_id),
            channel_name,
            settings.TTS_MAX_PAGE_CONNECTIONS_PER_USER,
            user_id=user_id,
        )


def record_if_room(holder: QuerySet[Any], channel_name: str, limit: int, **owner: Any) -> bool:
    """In a transaction: record the connection of `owner` (a key or a user) if it has room.

    The holder's row stays locked until the count is done (on SQLite, the transaction locks
    the database), so two connections racing for the last place cannot both get it, on any
    number of web processes. Without room, the transaction is rolled back.
    """
    list(holder.select_for_update().values_list("pk"))
    OpenConnection.objects.create(channel_name=channel_name, **owner)
    if limit and OpenConnection.objects.filter(seen__gte=stale_before(), **owner).count() > limit:
        transaction.set_rollback(True)
        return False
    return True


async def keep_connection_fresh(client: Client) -> None:
    """Refresh the connection's record now and then, and check often that its key still holds.

    The channel layer closes a revoked key's sockets at once (signals.py), but not those it
    cannot reach: `manage.py revoke_api_key` in a process of its own, with the in-memory layer,
    tells nobody. Those find out here, within TTS_KEY_CHECK_SECONDS.
    """
    pause = settings.TTS_CONNECTION_REFRESH_SECONDS
    if client.key is not None:
        pause = min(pause, settings.TTS_KEY_CHECK_SECONDS)
    refreshed = time.monotonic()
    while True:
        await asyncio.sleep(pause)
        try:
            if time.monotonic() - refreshed >= settings.TTS_CONNECTION_REFRESH_SECONDS:
                await in_database_thread(refresh_connection_now, client.channel_name)
                refreshed = time.monotonic()
            active = client.key is None or await key_still_active(client.key.pk)
        except Exception as error:  # the database is away; the row may go stale meanwhile
            logger.warning("Could not refresh an open connection's record: %s", error)
            continue
        if not active:
            await client.on_revoked()
            return


# How long the open sockets' checks trust a lookup of whether a key is active: however many
# sockets a key has open in a process, they look it up at most once a second between them.
KEY_LOOKUP_TRUSTED_SECONDS = 1.0
# Key id -> when it was looked up (time.monotonic()) and whether it was active. One entry per
# key used in this process: keys are made by hand, so there are few.
_key_lookups: dict[int, tuple[float, bool]] = {}


async def key_still_active(key_id: int) -> bool:
    """Whether the key is still active, as the database said at most a second ago."""
    looked_up = _key_lookups.get(key_id)
    if looked_up is not None and time.monotonic() - looked_up[0] < KEY_LOOKUP_TRUSTED_SECONDS:
        return looked_up[1]
    return await look_up_key(key_id)


async def look_up_key(key_id: int) -> bool:
    """Whether the key is active, as the database says now."""
    now = time.monotonic()
    active = await in_database_thread(key_active_now, key_id)
    _key_lookups[key_id] = (now, active)
    return active


def key_active_now(key_id: int) -> bool:
    return APIKey.objects.filter(pk=key_id, revoked=None).exists()


def refresh_connection_now(channel_name: str) -> None:
    OpenConnection.objects.filter(channel_name=channel_name).update(seen=timezone.now())


def release_connection_now(channel_name: str) -> None:
    OpenConnection.objects.filter(channel_name=channel_name).delete()
    # Rows of processes that died are of no use to anyone.
    OpenConnection.objects.filter(seen__lt=stale_before()).delete()


def forget_key_lookup(key_id: int) -> None:
    """The key was changed in this process: whoever asks next looks it up again."""
    _key_lookups.pop(key_id, None)


async def release(client: Client) -> None:
    """The socket closed: give its place back."""
    if client.refresher is not None:
        client.refresher.cancel()
    if not client.connected or client.key is None and client.staff_user_id is None:
        return
    try:
        await in_database_thread(release_connection_now, client.channel_name)
    except Exception as error:
        logger.warning("Could not release an open connection's record: %s", error)


RATE_WINDOW = 60


async def start_request(client: Client) -> None:
    """Check that the key still holds (else Revoked, and the socket closes), then count the
    request against its key's requests per minute, or raise Limited.

    A sliding window: this minute's count, plus last minute's weighted by how much of it
    still lies within the last 60 seconds. Refused requests are not counted.
    """
    if client.key is None:
        return
    # Looked up afresh (one indexed query): a key revoked a moment ago starts nothing. Unlike
    # the counting below, a database that fails does not let the request through: a key that
    # cannot be checked starts nothing (the request gets server_busy), as at connection.
    # (An HTTP request's key was looked up as it came in: that is fresh enough.)
    if client.connected and not await look_up_key(client.key.pk):
        # Closed once the consumer has refused the request that found out.
        in_background(client.on_revoked())
        raise Revoked()
    limit = requests_per_minute(client.key)
    if not limit:
        return
    try:
        # Off the database thread: the cache is thread-safe, and one hop does all of it.
        wait = await asyncio.to_thread(count_request_now, client.key.pk, limit, time.time())
    except Exception as error:
        logger.warning("Could not count a request against its key's rate: %s", error)
        return
    if wait:
        raise Limited(
            ErrorCode.TOO_MANY_REQUESTS,
            f"This API key may start {limit} requests a minute; try again in {wait} s.",
            retry_after=float(wait),
        )


def count_request_now(key_id: int, limit: int, now: float) -> int:
    """Count one request in the key's window; 0 if it fits, else the seconds to wait."""
    window = int(now // RATE_WINDOW)
    current_key = f"access:rate:{key_id}:{window}"
    cache.add(current_key, 0, timeout=3 * RATE_WINDOW)
    current = cache.incr(current_key)
    previous = cache.get(f"access:rate:{key_id}:{window - 1}", 0)
    elapsed = now % RATE_WINDOW
    if previous * (1 - elapsed / RATE_WINDOW) + current <= limit:
        return 0
    with contextlib.suppress(Exception):
        cache.decr(current_key)
    return seconds_until_allowed(previous, current - 1, elapsed, limit)


def seconds_until_allowed(previous: int, current: int, elapsed: float, limit: int) -> int:
    """Whole seconds until one more request fits the sliding window."""
    for wait in range(1, 2 * RATE_WINDOW + 1):
        at = elapsed + wait
        if at < RATE_WINDOW:
            estimate = previous * (1 - at / RATE_WINDOW) + current + 1
        else:  # in the next window, this one's count is the one that fades
            estimate = current * (1 - (at - RATE_WINDOW) / RATE_WINDOW) + 1
        if estimate <= limit:
            return wait
    return 2 * RATE_WINDOW


# Work left to run on its own (usage being written, sockets being closed); kept here so that
# the tasks are not collected half-way.
_background: set[asyncio.Task[None]] = set()


def in_background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


def record_usage_soon(client: Client, characters: int, audio_seconds: float) -> None:
    """Add one finished request to its key's usage, without holding up the socket."""
    if client.key is not None:
        in_background(record_usage(client.key, characters, audio_seconds))


async def record_usage(key: APIKey, characters: int, audio_seconds: float) -> None:
    """Add one finished request to its key's usage for today."""
    try:
        await in_database_thread(record_usage_now, key.pk, characters, audio_seconds)
    except Exception as error:
        logger.warning("Could not record usage for key %s: %s", key.prefix, error)


def record_usage_now(key_id: int, characters: int, audio_seconds: float) -> None:
    day = timezone.now().date()
    rows = KeyUsage.objects.filter(key_id=key_id, day=day)
    change = {
        "requests": F("requests") + 1,
        "characters": F("characters") + characters,
        "audio_seconds": F("audio_seconds") + audio_seconds,
    }
    if not rows.update(**change):
        try:
            with transaction.atomic():
                KeyUsage.objects.create(
                    key_id=key_id,
                    day=day,
                    requests=1,
                    characters=characters,
                    audio_seconds=audio_seconds,
                )
        except IntegrityError:  # another process made today's row meanwhile
            rows.update(**change)
