"""Whether a registered voice model can be used on this machine now, and if not, why.

Two checks, both cheap enough for every lookup:

- its files: present, readable, the model the size it had when it was imported, the config JSON
  with what Piper needs. A voice's files live on each machine, so this is asked where they are
  used; loading the model to be sure would take a second and its memory, so the size stands in
  for a truncated or replaced model.
- its load: a model can pass those checks and still fail to load (damaged inside, same size).
  The voice loader (synthesis/voice_loading.py) records such a failure here, in this
  process, for the file as it was then, so that a file put right gets another chance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .models import VoiceModel

MODEL_FILE, CONFIG_FILE = "model file", "config file"

# What Piper's config reader (PiperConfig.from_dict) needs and has no default for.
PIPER_CONFIG_KEYS = [
    ("audio", "sample_rate"),
    ("espeak", "voice"),
    ("num_symbols",),
    ("num_speakers",),
    ("phoneme_id_map",),
]


@dataclass(frozen=True)
class Problem:
    """Why a voice model cannot be used: `str()` for operators, `public` for clients."""

    file: str
    path: str
    trouble: str  # without the path, so clients may see it: "is missing"
    detail: str = ""  # the error behind it, which may name paths

    def __str__(self) -> str:
        text = f"{self.file} {self.path} {self.trouble}"
        return f"{text} ({self.detail})" if self.detail else text

    @property
    def public(self) -> str:
        return f"its {self.file} {self.trouble}"


def model_problem(model: VoiceModel) -> Problem | None:
    """Why `model` cannot be used now, or None if it can."""
    return file_problem(model.model_path, model.config_path, model.file_size) or load_failure(
        model.model_path
    )


def file_problem(model_path: str, config_path: str, imported_size: int) -> Problem | None:
    """What is wrong with a voice's files, or None; `imported_size` 0 skips the size check."""
    return _model_file_problem(model_path, imported_size) or _config_file_problem(config_path)


def _model_file_problem(path: str, imported_size: int) -> Problem | None:
    try:
        with open(path, "rb") as model:
            size = os.fstat(model.fileno()).st_size
    except FileNotFoundError:
        return Problem(MODEL_FILE, path, "is missing")
    except OSError as error:
        return Problem(MODEL_FILE, path, "cannot be read", error.strerror or str(error))
    if imported_size and size != imported_size:
        return Problem(
            MODEL_FILE,
            path,
            "has changed since it was imported",
            f"{imported_size} bytes then, {size} now",
        )
    return None


def _config_file_problem(path: str) -> Problem | None:
    try:
        with open(path, "rb") as config_file:
            config = json.loads(config_file.read())
    except FileNotFoundError:
        return Problem(CONFIG_FILE, path, "is missing")
    except OSError as error:
        return Problem(CONFIG_FILE, path, "cannot be read", error.strerror or str(error))
    except ValueError as error:  # not UTF-8 or not JSON
        return Problem(CONFIG_FILE, path, "is not JSON", str(error))
    gap = piper_config_gap(config)
    if gap:
        return Problem(CONFIG_FILE, path, "is not a Piper config", gap)
    return None


def piper_config_gap(config: object) -> str | None:
    """What a parsed config lacks that Piper needs ("no espeak.voice"), or None."""
    if not isinstance(config, dict):
        return "not a JSON object"
    for keys in PIPER_CONFIG_KEYS:
        value: object = config
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return "no " + ".".join(keys)
    return None


# Model path -> (the file's size and mtime when it failed to load, why).
_load_failures: dict[str, tuple[tuple[int, int] | None, Problem]] = {}


def _signature(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def record_load_failure(model_path: str, error: BaseException) -> None:
    """Remember that this model failed to load in this process, until its file changes."""
    problem = Problem("model", model_path, "does not load", f"{error.__class__.__name__}: {error}")
    _load_failures[model_path] = (_signature(model_path), problem)


def forget_load_failure(model_path: str) -> None:
    _load_failures.pop(model_path, None)


def load_failure(model_path: str) -> Problem | None:
    """Why this model failed to load in this process, unless its file has changed since."""
    failure = _load_failures.get(model_path)
    if failure is None:
        return None
    signature, problem = failure
    return problem if _signature(model_path) == signature else None
