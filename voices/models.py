"""Voices: engine model files, and the public voices (presets) clients ask for by id."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class VoiceModel(models.Model):
    """An engine's model file on disk, e.g. a Piper ONNX voice and its JSON config."""

    ENGINE_PIPER = "piper"
    ENGINE_CHOICES = [(ENGINE_PIPER, "Piper")]

    name = models.CharField(max_length=100, unique=True)
    engine = models.CharField(max_length=20, choices=ENGINE_CHOICES, default=ENGINE_PIPER)
    model_path = models.CharField(max_length=500, help_text="Path to the .onnx file.")
    config_path = models.CharField(max_length=500, help_text="Path to the .onnx.json file.")
    sample_rate = models.PositiveIntegerField(help_text="The model's native sample rate in Hz.")
    language = models.CharField(max_length=20, help_text="BCP 47 tag, e.g. en-US.")
    num_speakers = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=200, blank=True, help_text="Where it came from.")

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
        default=1.0, validators=[MinValueValidator(0.5), MaxValueValidator(2.0)]
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["voice_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.voice_id})"
