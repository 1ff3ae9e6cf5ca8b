"""API keys, their usage, and the connections open with each."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class APIKey(models.Model):
    """A key clients send to connect. Only a hash of its secret is kept (see keys.py)."""

    name = models.CharField(max_length=100, help_text="Who or what uses this key.")
    prefix = models.CharField(
        max_length=16,
        unique=True,
        editable=False,
        help_text="The characters after tts_ in the key: they tell keys apart in lists and logs, "
        "and connect nothing on their own.",
    )
    secret_hash = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the key was revoked, with the action in the list of keys; empty while it "
        "works. A revoked key connects no more, and its open connections are closed.",
    )
    max_connections = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many connections this key may have open at once. Empty: the server's "
        "default (TTS_MAX_CONNECTIONS_PER_KEY); 0: no limit.",
    )
    requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many requests this key may start per minute, over WebSockets and HTTP "
        "together. Empty: the server's default (TTS_MAX_REQUESTS_PER_MINUTE); 0: no limit.",
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked is None


class KeyUsage(models.Model):
    """What one key did on one day (UTC)."""

    key = models.ForeignKey(APIKey, on_delete=models.CASCADE, related_name="usage")
    day = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)
    characters = models.PositiveBigIntegerField(default=0)
    audio_seconds = models.FloatField(default=0.0)

    class Meta:
        verbose_name_plural = "key usage"
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["key", "day"], name="one_usage_row_a_day")]

    def __str__(self) -> str:
        return f"{self.key} on {self.day}"


class OpenConnection(models.Model):
    """A WebSocket open with a key, or a staff user's demo page, so that the connections of
    each can be counted across processes. Each connection refreshes `seen`; rows left by a
    process that died go stale."""

    key = models.ForeignKey(APIKey, null=True, on_delete=models.CASCADE, related_name="connections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE)
    channel_name = models.CharField(max_length=200, unique=True)
    opened = models.DateTimeField(default=timezone.now)
    seen = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(key__isnull=False, user__isnull=True)
                | models.Q(key__isnull=True, user__isnull=False),
                name="a_key_or_a_user",
            )
        ]

    def __str__(self) -> str:
        holder = self.key if self.key is not None else self.user
        return f"{holder} since {self.opened:%Y-%m-%d %H:%M:%S}"
