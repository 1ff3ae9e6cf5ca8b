"""Voices: engine model files, and the public voices (presets) clients ask for by id."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


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
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of the .onnx file.")
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES, default=SOURCE_FOLDER)
    origin = models.CharField(
        max_length=500, blank=True, help_text="The package name or folder it came from."
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


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
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["voice_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.voice_id})"
