from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from .availability import model_problem
from .forms import SAMPLE_SENTENCE, VoiceUploadForm
from .models import Pronunciation, Voice, VoiceModel


def availability_text(model: VoiceModel) -> str:
    """Available, or unavailable and why, in words for the operator who has to fix it."""
    problem = model_problem(model)
    return "Available" if problem is None else f"Unavailable: {problem}"


class VoiceInline(admin.TabularInline):
    model = Voice
    extra = 0
    fields = ["voice_id", "name", "language", "speaker", "default_speed", "enabled"]
    show_change_link = True


class PronunciationInline(admin.TabularInline):
    """The voice's own lexicon entries; entries for every voice are under Pronunciations."""

    model = Pronunciation
    extra = 0
    fields = ["text", "replacement", "kind", "case_sensitive"]
    verbose_name_plural = "pronunciations for this voice only"


@admin.register(VoiceModel)
class VoiceModelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "engine",
        "language",
        "sample_rate",
        "num_speakers",
        "source",
        "availability",
    ]
    list_filter = ["engine", "source", "language"]
    search_fields = ["name", "model_path", "origin"]
    # What a model is comes from its files; only import changes it.
    readonly_fields = [
        "name",
        "availability",
        "engine",
        "model_path",
        "config_path",
        "sample_rate",
        "language",
        "num_speakers",
        "speaker_names",
        "file_size",
        "sha256",
        "source",
        "origin",
        "created",
    ]
    inlines = [VoiceInline]

    @admin.display(description="availability")
    def availability(self, model: VoiceModel) -> str:
        return availability_text(model)

    def add_view(
        self,
        request: HttpRequest,
        form_url: str = "",
        extra_context: dict[str, object] | None = None,
    ) -> HttpResponse:
        """Adding a model means uploading its two files; `import_voices` does the same in bulk."""
        form = VoiceUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            model = form.imported
            voice_ids = ", ".join(model.voices.values_list("voice_id", flat=True))
            self.message_user(
                request, f"Imported {model.name}: voice {voice_ids}.", messages.SUCCESS
            )
            return redirect("admin:voices_voicemodel_change", model.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a Piper voice",
            "form": form,
            "opts": self.opts,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/voices/voicemodel/upload.html", context)


@admin.register(Voice)
class VoiceAdmin(admin.ModelAdmin):
    list_display = [
        "voice_id",
        "name",
        "language",
        "model",
        "sample_rate",
        "enabled",
        "availability",
    ]
    list_filter = ["enabled", "language", "model__engine", "gender"]
    list_select_related = ["model"]
    search_fields = ["voice_id", "aliases", "name", "description", "model__name"]
    readonly_fields = ["availability", "created", "updated"]
    inlines = [PronunciationInline]
    actions = ["enable", "disable"]
    # Adds the Preview player under the fields (static/voices/preview.js).
    change_form_template = "admin/voices/voice/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "voice_id",
                    "name",
                    "enabled",
                    "availability",
                    "model",
                    "speaker",
                    "aliases",
                ]
            },
        ),
        ("Description", {"fields": ["language", "gender", "description"]}),
        (
            "How it speaks",
            {
                "fields": [
                    "default_speed",
                    "noise_scale",
                    "noise_width",
                    "sentence_silence",
                    "volume",
                ]
            },
        ),
        ("History", {"fields": ["created", "updated"]}),
    ]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, object] | None = None,
    ) -> HttpResponse:
        context = {"preview_text": SAMPLE_SENTENCE, **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, context)

    @admin.display(description="Sample rate", ordering="model__sample_rate")
    def sample_rate(self, voice: Voice) -> str:
        return f"{voice.model.sample_rate} Hz"

    @admin.display(description="availability")
    def availability(self, voice: Voice) -> str:
        if not voice.model_id:  # a voice being added, with no model chosen yet
            return "-"
        return availability_text(voice.model)

    @admin.action(description="Enable the selected voices")
    def enable(self, request: HttpRequest, queryset: QuerySet[Voice]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable the selected voices")
    def disable(self, request: HttpRequest, queryset: QuerySet[Voice]) -> None:
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[Voice], enabled: bool) -> None:
        # Saved one by one, not with update(), so that the signals clear each cached lookup.
        voices = list(queryset)
        for voice in voices:
            voice.enabled = enabled
            voice.save(update_fields=["enabled", "updated"])
        state = "enabled" if enabled else "disabled"
        noun = "voice" if len(voices) == 1 else "voices"
        self.message_user(request, f"{len(voices)} {noun} {state}.", messages.SUCCESS)


@admin.register(Pronunciation)
class PronunciationAdmin(admin.ModelAdmin):
    list_display = ["text", "replacement", "kind", "voice", "case_sensitive", "updated"]
    list_filter = ["kind", "voice"]
    list_select_related = ["voice"]
    search_fields = ["text", "replacement"]
    readonly_fields = ["created", "updated"]
    fields = ["text", "replacement", "kind", "voice", "case_sensitive", "created", "updated"]
    # A blank voice means the entry is for every voice (in the list and in the voice filter).
    empty_value_display = "All voices"
