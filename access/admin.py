"""API keys in the admin: made here (the key is shown once), revoked here, usage read here."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from .guard import connection_limit, stale_before
from .keys import hash_key, new_key_string, revoke
from .logins import ThrottledLoginForm
from .models import APIKey, KeyUsage, OpenConnection

# The admin's login is the project's only password login; it is throttled (logins.py).
admin.site.login_form = ThrottledLoginForm


def usage_total(field: str, zero: float) -> Coalesce:
    """A key's `field` summed over all its days."""
    days = (
        KeyUsage.objects.filter(key=OuterRef("pk"))
        .values("key")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(days), Value(zero))


def compact_count(number: int) -> str:
    """A count short enough for a list column: 9,876, 12.3k, 4.5M."""
    if number < 10_000:
        return f"{number:,}"
    for exponent, unit in ((3, "k"), (6, "M")):
        scaled = number / 10**exponent
        if round(scaled, 1) < 1000:
            return f"{scaled:.1f}{unit}"
    return f"{number / 10**9:.1f}G"


def duration(seconds: float) -> str:
    """Seconds of audio as 15.8 s, 12.5 min or 34.3 h."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def time_ago(moment: datetime.datetime) -> str:
    """How long ago, in its largest unit: 3 hours ago; just now within the minute."""
    if timezone.now() - moment < datetime.timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, depth=1)} ago"


def with_tooltip(shown: str, exact: str) -> SafeString:
    """`shown` in a list column, `exact` when the pointer rests on it."""
    return format_html('<span title="{}">{}</span>', exact, shown)


class KeyUsageInline(admin.TabularInline):
    model = KeyUsage
    extra = 0
    max_num = 0
    can_delete = False
    fields = readonly_fields = ("day", "requests", "characters", "audio_seconds_shown")
    verbose_name_plural = "usage by day (UTC)"

    @admin.display(description="audio seconds")
    def audio_seconds_shown(self, usage: KeyUsage) -> str:
        return f"{usage.audio_seconds:.1f}"


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> QuerySet[APIKey]:
        if self.value() == "active":
            return queryset.filter(revoked=None)
        if self.value() == "revoked":
            return queryset.exclude(revoked=None)
        return queryset


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    # Narrow enough for a 1280 px laptop beside the admin's sidebars: the status goes with the
    # key, the limit with the connections, and the numbers are short (exact in their tooltips).
    list_display = [
        "name",
        "key_shown",
        "last_used_shown",
        "connections",
        "requests",
        "characters",
        "audio",
    ]
    list_filter = [StatusFilter]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix_shown", "created", "last_used", "revoked"]
    inlines = [KeyUsageInline]
    actions = ["revoke_keys"]

    def get_fields(self, request: HttpRequest, obj: APIKey | None = None) -> Any:
        limits = ["max_connections", "requests_per_minute"]
        if obj is None:
            return ["name", *limits]
        return ["name", "prefix_shown", "created", "last_used", "revoked", *limits]

    def get_form(
        self, request: HttpRequest, obj: APIKey | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        # The help texts can only name the settings; this is what they are on this server.
        defaults = {
            "max_connections": settings.TTS_MAX_CONNECTIONS_PER_KEY,
            "requests_per_minute": settings.TTS_MAX_REQUESTS_PER_MINUTE,
        }
        for name, default in defaults.items():
            field = form.base_fields[name]
            field.help_text = f"{field.help_text} This server's default: {default or 'no limit'}."
        return form

    def get_inlines(self, request: HttpRequest, obj: APIKey | None) -> list[Any]:
        return self.inlines if obj is not None else []

    def get_queryset(self, request: HttpRequest) -> QuerySet[APIKey]:
        # Subqueries, not joins: joining usage and connections at once would multiply the sums.
        return (
            super()
            .get_queryset(request)
            .annotate(
                total_requests=usage_total("requests", 0),
                total_characters=usage_total("characters", 0),
                total_audio_seconds=usage_total("audio_seconds", 0.0),
                open_count=Coalesce(
                    Subquery(
                        OpenConnection.objects.filter(key=OuterRef("pk"), seen__gte=stale_before())
                        .values("key")
                        .annotate(count=Count("pk"))
                        .values("count")
                    ),
                    0,
                ),
            )
        )

    @admin.display(description="key")
    def prefix_shown(self, key: APIKey) -> str:
        return f"tts_{key.prefix}_…"

    @admin.display(description="key", ordering="prefix")
    def key_shown(self, key: APIKey) -> SafeString:
        if key.active:
            return format_html("<code>{}</code>", key.prefix)
        return format_html('<code>{}</code> <span class="revoked">revoked</span>', key.prefix)

    @admin.display(description="last used", ordering="last_used")
    def last_used_shown(self, key: APIKey) -> str:
        if key.last_used is None:
            return "never"
        exact = date_format(timezone.localtime(key.last_used), "DATETIME_FORMAT")
        return with_tooltip(time_ago(key.last_used), exact)

    @admin.display(description="connections", ordering="open_count")
    def connections(self, key: Any) -> str:
        """Open now, of the most the key may have open at once."""
        limit = connection_limit(key)
        return f"{key.open_count} of {limit}" if limit else f"{key.open_count} (no limit)"

    @admin.display(description="requests", ordering="total_requests")
    def requests(self, key: Any) -> SafeString:
        total = key.total_requests
        return with_tooltip(compact_count(total), f"{total:,} requests")

    @admin.display(description="characters", ordering="total_characters")
    def characters(self, key: Any) -> SafeString:
        total = key.total_characters
        return with_tooltip(compact_count(total), f"{total:,} characters")

    @admin.display(description="audio", ordering="total_audio_seconds")
    def audio(self, key: Any) -> SafeString:
        total = key.total_audio_seconds
        return with_tooltip(duration(total), f"{total:,.1f} seconds of audio")

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if not change:
            key, obj.prefix = new_key_string()
            obj.secret_hash = hash_key(key)
            request._created_key = key  # type: ignore[attr-defined]  # for response_add
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: APIKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Show the new key, once: only its hash is kept."""
        context = {
            **self.admin_site.each_context(request),
            "title": f"API key for {obj.name}",
            "opts": self.model._meta,
            "api_key": obj,
            "key": request._created_key,  # type: ignore[attr-defined]
        }
        return TemplateResponse(request, "admin/access/apikey/created.html", context)

    @admin.action(description="Revoke the selected keys (their connections close at once)")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        keys = list(queryset.filter(revoked=None))
        for key in keys:
            revoke(key)
        self.message_user(
            request,
            f"Revoked {len(keys)} key{'s' if len(keys) != 1 else ''} at "
            f"{timezone.now():%H:%M:%S} UTC.",
            messages.SUCCESS,
        )
