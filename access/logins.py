"""Password logins (the admin's): a budget of failed attempts, and one password check at a time.

Each login attempt costs a password hash, PBKDF2 at about 0.6 s of one core. Whoever may try
freely both guesses passwords and takes the CPU that speech synthesis needs. So each username,
and each client address, may fail a few times within a window that starts at its first failure
(docs/security.md); past either budget, a login is refused before any password is hashed, even
the right one, until that window ends. The counts are kept in Django's cache (process memory in
the embedded mode, Redis with REDIS_URL, so that every web process shares them).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

logger = logging.getLogger(__name__)

# One password check at a time in this process. PBKDF2 runs in OpenSSL without holding the GIL,
# and Django runs each login on a thread of its own, so six logins at once took both cores and
# made other clients wait several times longer for their first audio. One at a time leaves
# every other core to synthesis (a semaphore of N would allow N cores, and none can be spared
# on a small machine); a genuine login waits for the few checks ahead of it, which the budgets
# keep few.
# Holding the lock from the budget check to the count also keeps logins racing in one process
# from all passing the check before any of their failures is counted.
_one_check_at_a_time = threading.Lock()
# A login that cannot have its turn within this long is turned away (and not counted as a
# failure), so that a flood of logins does not pile up threads waiting for the lock.
TURN_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Budget:
    """The failed logins one username, or one client address, has left in its window."""

    name: str  # what it counts, for the cache keys
    limit: int  # 0: no limit

    @property
    def count_key(self) -> str:
        return f"access:login:{self.name}:failures"

    @property
    def since_key(self) -> str:
        return f"access:login:{self.name}:since"

    def seconds_locked(self, now: float) -> int:
        """Seconds until this budget allows a login again; 0 if it does now."""
        if not self.limit:
            return 0
        found = cache.get_many([self.count_key, self.since_key])
        since = found.get(self.since_key)
        if found.get(self.count_key, 0) < self.limit or since is None:
            return 0
        return max(0, math.ceil(since + settings.TTS_LOGIN_WINDOW_SECONDS - now))

    def failed(self, now: float) -> None:
        if not self.limit:
            return
        window = settings.TTS_LOGIN_WINDOW_SECONDS
        # add() only writes a key that is absent: the window starts at the first failure.
        cache.add(self.since_key, now, timeout=window)
        cache.add(self.count_key, 0, timeout=window)
        with contextlib.suppress(ValueError):  # the window ended just now
            cache.incr(self.count_key)

    def forget(self) -> None:
        cache.delete_many([self.count_key, self.since_key])


def budgets_for(username: str, request: HttpRequest | None) -> tuple[Budget, Budget]:
    """The username's budget and the client address's."""
    # Hashed: a username may be anything, and cache keys may not.
    user = hashlib.sha256(username.encode("utf-8")).hexdigest()[:32]
    address = client_address(request)
    return (
        Budget(f"user:{user}", settings.TTS_LOGIN_FAILURES_PER_USERNAME),
        Budget(f"address:{address}", settings.TTS_LOGIN_FAILURES_PER_ADDRESS),
    )


def client_address(request: HttpRequest | None) -> str:
    """Where the login comes from: the peer's IPv4 address, or its IPv6 /64.

    A host on IPv6 usually has a whole /64 to pick addresses from. Behind a reverse proxy,
    every client is the proxy (docs/security.md).
    """
    address = "" if request is None else request.META.get("REMOTE_ADDR", "")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class ThrottledLoginForm(AdminAuthenticationForm):
    """The admin's login form, which checks a password only within the login budgets."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # a field is missing: nothing is hashed
        by_user, by_address = budgets_for(username, self.request)
        if not _one_check_at_a_time.acquire(timeout=TURN_WAIT_SECONDS):
            raise ValidationError(
                "The server is busy checking other logins; try again in a minute.", code="busy"
            )
        try:
            now = time.time()
            self.refuse_past_budget(by_user, by_address, now)
            try:
                cleaned = super().clean()  # hashes the password
            except ValidationError:
                self.count_failure(by_user, by_address, now)
                raise
        finally:
            _one_check_at_a_time.release()
        # The owner's earlier typos should not add up with later ones. The address's failures
        # stay: else logging in to one account of their own would reset an attacker's budget.
        with contextlib.suppress(Exception):  # then the failures simply run out with the window
            by_user.forget()
        return cleaned

    def refuse_past_budget(self, by_user: Budget, by_address: Budget, now: float) -> None:
        try:
            user_wait, address_wait = by_user.seconds_locked(now), by_address.seconds_locked(now)
        except Exception as error:  # the cache is away: the lock still bounds the cost
            logger.warning("Could not read the failed logins: %s", error)
            return
        if not user_wait and not address_wait:
            return
        whose = "for this username" if user_wait >= address_wait else "from your address"
        raise ValidationError(
            f"Too many failed login attempts {whose}. "
            f"Try again in {in_words(max(user_wait, address_wait))}.",
            code="too_many_attempts",
        )

    def count_failure(self, by_user: Budget, by_address: Budget, now: float) -> None:
        try:
            by_user.failed(now)
            by_address.failed(now)
        except Exception as error:
            logger.warning("Could not count a failed login: %s", error)
