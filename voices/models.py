"""Voices: engine model files, the public voices (presets) clients ask for by id, and how
they pronounce particular words."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from speech.text.script import strip_markers

if TYPE_CHECKING:
    from speech.engine import SynthesisOptions


class VoiceModel(models.Model):
    """An engine's model file on disk, e.g. a Piper ONNX voice and its JSON config."""

    ENGINE_PIPER = "piper"
    ENGINE_CHOICES = [(ENGINE_PIPER, "Piper")]
    SOURCE_PACKAGE, SOURCE_FOLDER, SOURCE_UPLOAD = "package", "folder", "upload"
    SOURCE_CHOICES = [
        (SOURCE_PACKAGE, "Python package"),
        (SOURCE_FOLDER, "Folder"),
        (SOURCE_UPLOAD, "Upload"),
    ]

    name = models.CharField(max_length=100, unique=True)
    engine = models.CharField(max_length=20, choices=ENGINE_CHOICES, default=ENGINE_PIPER)
    model_path = models.CharField(max_length=500, help_text="Path to the .onnx file.")
    config_path = models.CharField(max_length=500, help_text="Path to the .onnx.json file.")
    sample_rate = models.PositiveIntegerField(help_text="The model's native sample rate in Hz.")
    language = models.CharField(max_length=20, help_text="BCP 47 tag, e.g. en-US.")
    num_speakers = models.PositiveIntegerField(default=1)
    speaker_names = models.JSONField(
        default=list, blank=True, help_text="Speaker names by number, from the config."
    )
    file_size = models.BigIntegerField(default=0, help_text="Size of the .onnx file in bytes.")
    sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="Checksum (SHA-256) of the .onnx file when it was imported.",
    )
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES, default=SOURCE_FOLDER)
    origin = models.CharField(
        max_length=500, blank=True, help_text="The package name or folder it came from."
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


ALIAS = re.compile(r"[-a-zA-Z0-9_]{1,64}")


class Voice(models.Model):
    """A voice as clients see it: a public id and the settings used to synthesize with it."""

    GENDER_CHOICES = [("male", "Male"), ("female", "Female"), ("neutral", "Neutral")]

    voice_id = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    language = models.CharField(max_length=20, help_text="BCP 47 tag, e.g. en-US.")
    gender = models.CharField(max_length=10, choices=GENDER_CHOICES, blank=True)
    description = models.TextField(blank=True)
    model = models.ForeignKey(VoiceModel, on_delete=models.PROTECT, related_name="voices")
    speaker = models.PositiveIntegerField(
        default=0, help_text="Speaker number, for models with several speakers."
    )
    default_speed = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(2.0)],
        help_text="1.0 is the model's natural pace; clients may override it per request.",
    )
    noise_scale = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="Variation in the voice; blank for the model's own value.",
    )
    noise_width = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="Variation in phoneme lengths; blank for the model's own value.",
    )
    sentence_silence = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="Seconds of extra silence after each sentence.",
    )
    volume = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(3.0)],
        help_text="Gain applied to the audio; 1.0 leaves it unchanged.",
    )
    enabled = models.BooleanField(default=True)
    aliases = models.CharField(
        max_length=300,
        blank=True,
        help_text=(
            "Other names clients may ask for this voice by, separated by spaces: the names "
            "client libraries send when they are not told a voice (Smallest's meher, ...)."
        ),
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["voice_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.voice_id})"

    def alias_list(self) -> list[str]:
        return self.aliases.replace(",", " ").split()

    def clean(self) -> None:
        """An alias is a voice id of its own, naming one voice only."""
        errors = []
        others = Voice.objects.exclude(pk=self.pk)
        # Every name another voice answers to: its id and its aliases (one query).
        taken = {name for voice in others for name in (voice.voice_id, *voice.alias_list())}
        for alias in self.alias_list():
            if not ALIAS.fullmatch(alias):
                errors.append(f"{alias!r} is not a voice id (letters, digits, '-' and '_').")
            elif alias == self.voice_id:
                errors.append(f"{alias!r} is this voice's own id.")
            elif alias in taken:
                errors.append(f"{alias!r} already names another voice.")
        if errors:
            raise ValidationError({"aliases": errors})

    def synthesis_options(self) -> SynthesisOptions:
        """How the voice speaks, as its engine takes it: at its default speed."""
        # Imported here: the engine brings onnxruntime, which plain Django commands do not need.
        from speech.engine import SynthesisOptions

        return SynthesisOptions(
            speed=self.default_speed,
            speaker=self.speaker,
            noise_scale=self.noise_scale,
            noise_width=self.noise_width,
            sentence_silence=self.sentence_silence,
            volume=self.volume,
        )


class Pronunciation(models.Model):
    """A lexicon entry: how to say a word or phrase, for one voice or for all of them."""

    KIND_SPELLING, KIND_PHONEMES = "spelling", "phonemes"
    KIND_CHOICES = [(KIND_SPELLING, "Spelling"), (KIND_PHONEMES, "Phonemes (IPA)")]

    voice = models.ForeignKey(
        Voice,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="pronunciations",
        help_text="Blank for every voice. A voice's own entry wins over one for every voice.",
    )
    text = models.CharField(
        max_length=200, help_text="The word or phrase as written, e.g. Nginx or New York."
    )
    replacement = models.CharField(
        max_length=500,
        help_text="How to say it: words the voice reads instead (engine x), or IPA phonemes "
        "(ˈɛndʒɪn ˈɛks).",
    )
    kind = models.CharField(
        max_length=10,
        choices=KIND_CHOICES,
        default=KIND_SPELLING,
        help_text="Spelling: words the voice reads instead. Phonemes: espeak-ng IPA phonemes, "
        "as the voice uses them.",
    )
    case_sensitive = models.BooleanField(
        default=False, help_text="Match the text only as capitalized here (US, not us)."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["text"]
        constraints = [
            models.UniqueConstraint(
                fields=["voice", "text"],
                name="pronunciation_unique_per_voice",
                violation_error_message="This voice already has an entry for this text.",
            ),
            # NULLs are distinct in a unique index, so entries for every voice need their own.
            models.UniqueConstraint(
                fields=["text"],
                condition=Q(voice__isnull=True),
                name="pronunciation_unique_for_all_voices",
                violation_error_message="There is already an entry for this text for all voices.",
            ),
        ]

    def __str__(self) -> str:
        return f'"{self.text}" → "{self.replacement}"'

    def clean(self) -> None:
        self.text = self.text.strip()
        self.replacement = self.replacement.strip()
        errors: dict[str, str] = {}
        if not self.text:
            errors["text"] = "Write the word or phrase."
        elif not re.search(r"\w", self.text):
            errors["text"] = "The text needs at least one letter or digit."
        elif strip_markers(self.text) != self.text:  # reserved by speech/text/script.py
            errors["text"] = "The text contains reserved characters (U+E000 to U+E00F)."
        if not self.replacement:
            errors["replacement"] = "Write how to say it."
        elif strip_markers(self.replacement) != self.replacement:
            errors["replacement"] = "This contains reserved characters (U+E000 to U+E00F)."
        elif self.kind == self.KIND_PHONEMES:
            problem = self._phoneme_problem()
            if problem:
                errors["replacement"] = problem
        if errors:
            raise ValidationError(errors)

    def _phoneme_problem(self) -> str | None:
        """Why the voices this entry is for could not say its phonemes, if they could not."""
        # Imported here: the engine brings onnxruntime, which plain Django commands do not need.
        from speech.engine import phoneme_checker

        if "[" in self.replacement or "]" in self.replacement:
            return "Write the phonemes alone, without [[ ]]."
        if self.voice is None:
            voice_models = list(VoiceModel.objects.all())
        else:
            # The voice may be new in the same admin form, with no model chosen yet.
            voice_models = [self.voice.model] if self.voice.model_id else []
        problems = []
        for model in voice_models:
            try:
                unknown = phoneme_checker(model.engine, model.config_path)(self.replacement)
            except (OSError, ValueError):  # a missing or broken config: the import reports it
                continue
            if unknown:
                problems.append(f"{model.name} cannot say {', '.join(unknown)}")
        if not problems:
            return None
        return "Unknown phonemes: " + "; ".join(problems) + "."
