"""`manage.py import_voices [--dir PATH]`: register installed or local Piper voices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from voices.importing import (
    VoiceImportError,
    find_package_voices,
    find_voice_files,
    import_voice,
)
from voices.models import VoiceModel


class Command(BaseCommand):
    help = (
        "Register the Piper voices (.onnx beside .onnx.json) shipped by installed Python "
        "packages, or with --dir, those in a folder. Safe to run again."
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
        failures = []
        for source, origin, files in found:
            try:
                model = import_voice(files.resolved(), source, origin)
            except VoiceImportError as error:
                failures.append(str(error))
                self.stderr.write(self.style.ERROR(f"Not imported: {error}"))
                continue
            voice_ids = ", ".join(model.voices.values_list("voice_id", flat=True))
            self.stdout.write(f"Imported {model.name} ({model.language}): voices {voice_ids}")
        if failures:
            raise CommandError(f"{len(failures)} of {len(found)} voices could not be imported")
