from __future__ import annotations

from django.contrib import admin

from .models import Voice, VoiceModel


class VoiceInline(admin.TabularInline):
    model = Voice
    extra = 0
    fields = ["voice_id", "name", "language", "speaker", "default_speed", "enabled"]


@admin.register(VoiceModel)
class VoiceModelAdmin(admin.ModelAdmin):
    list_display = ["name", "engine", "language", "sample_rate", "num_speakers", "source"]
    search_fields = ["name", "model_path"]
    inlines = [VoiceInline]


@admin.register(Voice)
class VoiceAdmin(admin.ModelAdmin):
    list_display = ["voice_id", "name", "language", "gender", "model", "enabled"]
    list_filter = ["enabled", "language", "gender"]
    search_fields = ["voice_id", "name", "description"]
    list_editable = ["enabled"]
