from __future__ import annotations

from typing import Any

from django import forms

from .importing import MODEL_SUFFIX, VoiceImportError, import_uploaded_voice
from .models import Voice, VoiceModel

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


class VoiceUploadForm(forms.Form):
    """A Piper voice as two files: the model and its config, named alike.

    Validating the form imports the voice (the checks are the import), into `imported`.
    """

    imported: VoiceModel

    model_file = forms.FileField(label="Model (.onnx)")
    config_file = forms.FileField(label="Config (.onnx.json)")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        model_file, config_file = data.get("model_file"), data.get("config_file")
        if model_file is None or config_file is None:
            return data
        if not model_file.name.endswith(MODEL_SUFFIX):
            self.add_error("model_file", "The model's file name must end in .onnx.")
        elif config_file.name != model_file.name + ".json":
            self.add_error("config_file", f"The config must be named {model_file.name}.json.")
        else:
            name = model_file.name.removesuffix(MODEL_SUFFIX)
            try:
                self.imported = import_uploaded_voice(model_file, config_file, name)
            except VoiceImportError as error:
                raise forms.ValidationError(str(error)) from None
        return data
