"""Finding Piper voices (an .onnx model beside its .onnx.json), checking and registering them.

A voice is registered whole or not at all: the config must parse and name a sample rate, the
model must load, and the database rows are written in one transaction.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from .availability import piper_config_gap
from .models import Voice, VoiceModel

MODEL_SUFFIX = ".onnx"
CONFIG_SUFFIX = ".onnx.json"


class VoiceImportError(Exception):
    """A voice's files are not a usable Piper voice; the message names the file and the problem."""


@dataclass(frozen=True)
class VoiceFiles:
    model_path: Path
    config_path: Path

    @property
    def name(self) -> str:
        return self.model_path.name.removesuffix(MODEL_SUFFIX)

    def resolved(self) -> VoiceFiles:
        """The same files by absolute path, as workers elsewhere will open them."""
        return VoiceFiles(self.model_path.resolve(), self.config_path.resolve())


@dataclass(frozen=True)
class ModelInfo:
    sample_rate: int
    language: str
    num_speakers: int
    speaker_names: list[str]
    file_size: int
    sha256: str


def read_voice_files(files: VoiceFiles, load_model: bool = True) -> ModelInfo:
    """Read and check a voice's config (and, with `load_model`, that the model loads)."""
    config = _read_config(files.config_path)
    try:
        sample_rate = int(config["audio"]["sample_rate"])
    except (KeyError, TypeError, ValueError):
        raise VoiceImportError(f"{files.config_path}: no audio.sample_rate in the config") from None
    if sample_rate <= 0:
        raise VoiceImportError(f"{files.config_path}: audio.sample_rate must be positive")
    if not isinstance(config.get("phoneme_id_map"), dict):
        raise VoiceImportError(f"{files.config_path}: no phoneme_id_map, not a Piper config")
    language = (config.get("language") or {}).get("code") or config.get("espeak", {}).get("voice")
    if not isinstance(language, str) or not language:
        raise VoiceImportError(f"{files.config_path}: the config names no language")
    gap = piper_config_gap(config)
    if gap:
        raise VoiceImportError(f"{files.config_path}: {gap}, not a Piper config")
    speaker_map = config.get("speaker_id_map") or {}
    speakers = [name for name, _ in sorted(speaker_map.items(), key=lambda item: item[1])]
    if not files.model_path.is_file():
        raise VoiceImportError(f"{files.model_path}: no such file")
    if load_model:
        _check_model_loads(files.model_path)
    try:
        file_size, sha256 = files.model_path.stat().st_size, file_sha256(files.model_path)
    except OSError as error:
        raise VoiceImportError(f"{files.model_path}: cannot be read ({error.strerror})") from None
    return ModelInfo(
        sample_rate=sample_rate,
        language=language.replace("_", "-"),
        num_speakers=max(int(config.get("num_speakers", 1) or 1), 1),
        speaker_names=speakers,
        file_size=file_size,
        sha256=sha256,
    )


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VoiceImportError(f"{path}: no such file") from None
    except OSError as error:
        raise VoiceImportError(f"{path}: cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise VoiceImportError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise VoiceImportError(f"{path}: the config must be a JSON object")
    return config


def _check_model_loads(path: Path) -> None:
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise VoiceImportError(f"{path}: the model does not load ({error})") from None
    inputs = {node.name for node in session.get_inputs()}
    if not {"input", "input_lengths", "scales"} <= inputs:
        raise VoiceImportError(f"{path}: not a Piper model (its inputs are {sorted(inputs)})")


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime too, so a replaced file is hashed again; a 60 MB model takes
    # ~0.1 s, which adds up when test databases are re-filled after every test.
    digest = hashlib.sha256()
    with open(path, "rb") as model:
        for block in iter(lambda: model.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_voice(
    files: VoiceFiles,
    source: str,
    origin: str,
    voice_id: str | None = None,
    voice_fields: dict[str, Any] | None = None,
    load_model: bool = True,
    using: str = "default",
) -> VoiceModel:
    """Register (or refresh) a model and, if it has no voice yet, a voice for it; idempotent.

    An existing model's file facts are refreshed; its voices, which operators may have edited,
    are left alone.
    """
    info = read_voice_files(files, load_model=load_model)
    with transaction.atomic(using=using):
        model, _ = VoiceModel.objects.using(using).update_or_create(
            name=files.name,
            defaults={
                "engine": VoiceModel.ENGINE_PIPER,
                "model_path": str(files.model_path),
                "config_path": str(files.config_path),
                "sample_rate": info.sample_rate,
                "language": info.language,
                "num_speakers": info.num_speakers,
                "speaker_names": info.speaker_names,
                "file_size": info.file_size,
                "sha256": info.sha256,
                "source": source,
                "origin": origin,
            },
        )
        if not model.voices.exists():
            Voice.objects.using(using).create(
                voice_id=voice_id or _free_voice_id(files.name, using),
                name=_display_name(files.name),
                language=info.language,
                model=model,
                **(voice_fields or {}),
            )
    return model


def _free_voice_id(model_name: str, using: str) -> str:
    # "en_US-lessac-medium" -> "lessac", unless another model's voice already has that id.
    parts = model_name.split("-")
    for candidate in (slugify(parts[1]) if len(parts) > 1 else "", slugify(model_name)):
        if candidate and not Voice.objects.using(using).filter(voice_id=candidate).exists():
            return candidate
    raise VoiceImportError(f"{model_name}: every voice id it could take is in use")


def _display_name(model_name: str) -> str:
    parts = model_name.split("-")
    return (parts[1] if len(parts) > 1 else model_name).replace("_", " ").title()


def find_voice_files(folder: Path) -> list[VoiceFiles]:
    """Every voice under `folder`: an .onnx or an .onnx.json, with the other file beside it.

    A half without the other is found too, so that the import names what is missing.
    """
    models = {*folder.rglob("*" + MODEL_SUFFIX)}
    models |= {config.with_suffix("") for config in folder.rglob("*" + CONFIG_SUFFIX)}
    return [VoiceFiles(model, model.with_name(model.name + ".json")) for model in sorted(models)]


def find_package_voices() -> list[tuple[str, VoiceFiles]]:
    """Installed Python distributions that ship Piper voices, with their voices' files.

    A voice is an .onnx the distribution lists with its .onnx.json (other packages ship other
    ONNX models); it is found even if a file has gone since, so that the import says so.
    """
    found = []
    seen = set()
    for distribution in metadata.distributions():
        # Installed twice (a venv and PYTHONPATH, say), the first on sys.path is the one Python
        # imports; importing the other as well would point the voice at files not in use.
        name = distribution.metadata["Name"]
        key = re.sub(r"[-_.]+", "-", name or "").lower()  # as pip compares names
        if key in seen:
            continue
        seen.add(key)
        listed = {str(file) for file in distribution.files or ()}
        for file in sorted(listed):
            if file.endswith(MODEL_SUFFIX) and file + ".json" in listed:
                model = Path(str(distribution.locate_file(file)))
                found.append((name, VoiceFiles(model, model.with_name(model.name + ".json"))))
    return found


def import_uploaded_voice(
    model_upload: IO[bytes], config_upload: IO[bytes], name: str
) -> VoiceModel:
    """Store an uploaded voice in VOICES_DIR/<name>/ and register it, or leave nothing behind."""
    if VoiceModel.objects.filter(name=name).exists():
        raise VoiceImportError(f"{name}: a voice model with this name exists already")
    voices_dir = Path(settings.VOICES_DIR)
    voices_dir.mkdir(parents=True, exist_ok=True)
    final = voices_dir / name
    if final.exists():
        raise VoiceImportError(f"{final}: the folder exists already")
    # Written and checked beside the final folder, then renamed into place, so a failed or
    # interrupted upload never leaves a half-written voice where imports look.
    staging = Path(tempfile.mkdtemp(dir=voices_dir, prefix=".upload-"))
    try:
        for upload, suffix in ((model_upload, MODEL_SUFFIX), (config_upload, CONFIG_SUFFIX)):
            with open(staging / (name + suffix), "wb") as out:
                shutil.copyfileobj(upload, out)
        try:
            read_voice_files(
                VoiceFiles(staging / (name + MODEL_SUFFIX), staging / (name + CONFIG_SUFFIX))
            )
        except VoiceImportError as error:
            # Name the files as the operator knows them, not by the staging folder.
            raise VoiceImportError(str(error).replace(f"{staging}/", "")) from None
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = VoiceFiles(final / (name + MODEL_SUFFIX), final / (name + CONFIG_SUFFIX))
    try:
        # Checked above; the import only has to write the rows.
        return import_voice(files, VoiceModel.SOURCE_UPLOAD, "admin upload", load_model=False)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
