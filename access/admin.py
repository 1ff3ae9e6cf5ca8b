"""API keys in the admin: made here (the key is shown once), revoked here, usage read here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .guard import stale_before
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
    list_display = [
        "name",
        "prefix_shown",
        "status",
        "created",
        "last_used",
        "open_connections",
        "requests",
        "characters",
        "audio_seconds",
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

    @admin.display(description="key", ordering="prefix")
    def prefix_shown(self, key: APIKey) -> str:
        return f"tts_{key.prefix}_…"

    @admin.display(description="status", ordering="revoked")
    def status(self, key: APIKey) -> str:
        return "active" if key.active else "revoked"

    @admin.display(description="open connections", ordering="open_count")
    def open_connections(self, key: Any) -> int:
        return int(key.open_count)

    @admin.display(description="requests", ordering="total_requests")
    def requests(self, key: Any) -> int:
        return int(key.total_requests)

    @admin.display(description="characters", ordering="total_characters")
    def characters(self, key: Any) -> int:
        return int(key.total_characters)

    @admin.display(description="audio seconds", ordering="total_audio_seconds")
    def audio_seconds(self, key: Any) -> str:
        return f"{key.total_audio_seconds:.1f}"

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
