"""`manage.py import_voices [--dir PATH]`: register installed or local Piper voices.

A voice whose files are missing or broken is reported, by name and reason, and skipped: the
others are imported and the command succeeds, so that `make run` still starts the server. A
voice registered earlier stays registered, and unavailable until its files are put right
(voices/availability.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from voices.availability import model_problem
from voices.importing import (
    VoiceFiles,
    VoiceImportError,
    find_package_voices,
    find_voice_files,
    import_voice,
)
from voices.models import VoiceModel


class Command(BaseCommand):
    help = (
        "Register the Piper voices (.onnx beside .onnx.json) shipped by installed Python "
        "packages, or with --dir, those in a folder. Safe to run again. A voice whose files "
        "are missing or broken is reported and skipped; the command still succeeds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, help="import the voices in this folder instead")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path | None = options["dir"]
        if folder is None:
            found = [
                (VoiceModel.SOURCE_PACKAGE, name, files) for name, files in find_package_voices()
            ]
        elif not folder.is_dir():
            raise CommandError(f"{folder}: no such folder")
        else:
            origin = str(folder.resolve())
            found = [(VoiceModel.SOURCE_FOLDER, origin, f) for f in find_voice_files(folder)]
        if not found:
            self.stdout.write("No voices found.")
            return
        failures = 0
        imported = False
        for source, origin, files in found:
            try:
                model = import_voice(files.resolved(), source, origin)
            except VoiceImportError as error:
                failures += 1
                self.stderr.write(
                    self.style.WARNING(f"Not imported {files.name}: {error}{self.left(files)}")
                )
                continue
            voice_ids = ", ".join(model.voices.values_list("voice_id", flat=True))
            self.stdout.write(f"Imported {model.name} ({model.language}): voices {voice_ids}")
            imported = True
        if imported and settings.TTS_PRELOAD_VOICES:
            seconds = settings.TTS_VOICE_CHECK_SECONDS
            self.stdout.write(f"Servers already running load new voices within {seconds:g} s.")
        if failures:
            message = f"{failures} of {len(found)} voices could not be imported (above)."
            self.stderr.write(self.style.WARNING(message))

    def left(self, files: VoiceFiles) -> str:
        """What a voice that was not imported leaves behind from an earlier import, if any."""
        model = VoiceModel.objects.filter(name=files.name).first()
        if model is None:
            return ""
        voice_ids = ", ".join(model.voices.values_list("voice_id", flat=True)) or "none"
        if model_problem(model) is None:
            return f" (its voices keep the files imported before: {voice_ids})"
        return f" (its voices stay registered but unavailable until this is fixed: {voice_ids})"
