from __future__ import annotations

from typing import Any

from django import forms

from .models import Voice

SAMPLE_SENTENCE = "Hello there, this is how I sound. Thanks for listening!"


class PreviewForm(forms.ModelForm):
    """The voice settings on the admin page, saved or not, and a sentence to hear them with."""

    text = forms.CharField(max_length=500, initial=SAMPLE_SENTENCE)

    class Meta:
        model = Voice
        fields = [
            "model",
            "speaker",
            "default_speed",
            "noise_scale",
            "noise_width",
            "sentence_silence",
            "volume",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        model, speaker = data.get("model"), data.get("speaker")
        if model is not None and speaker is not None and speaker >= model.num_speakers:
            self.add_error("speaker", f"{model} has speakers 0 to {model.num_speakers - 1}.")
        return data
