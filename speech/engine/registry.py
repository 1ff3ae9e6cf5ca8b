"""The engines by kind, and each voice model loaded once per process.

A voice model names its engine kind ("piper"). Callers load engines and check phonemes here
and type against `Engine` (base.py), so another kind of engine is one more entry in ENGINES.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from pathlib import Path
from typing import Protocol

from . import arena
from .base import Engine, PhonemeChecker
from .piper import PiperEngine
from .units import DEFAULT_UNIT_PHONEMES


class EngineKind(Protocol):
    """An engine class: how to load one of its voice models, and how to check phonemes
    against a voice without loading its model."""

    def load(
        self,
        model_path: str,
        config_path: str,
        threads: int,
        aligned_dir: str | Path | None,
        max_unit_phonemes: int,
    ) -> Engine: ...

    def phoneme_checker(self, config_path: str) -> PhonemeChecker: ...


ENGINES: dict[str, EngineKind] = {"piper": PiperEngine}


class UnknownEngine(ValueError):
    """A voice model names an engine kind this code does not have."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"There is no engine {kind!r}; the engines are {', '.join(ENGINES)}.")


def engine_kind(kind: str) -> EngineKind:
    try:
        return ENGINES[kind]
    except KeyError:
        raise UnknownEngine(kind) from None


EngineKey = tuple[str, str, str, int, int]

_engines: dict[EngineKey, Engine] = {}
# Guards _engines and _loading, never held while a model loads.
_engines_lock = threading.Lock()
# One lock per engine being loaded, so that two threads asking for it load it once.
_loading: dict[EngineKey, threading.Lock] = {}


def load_engine(
    kind: str,
    model_path: str,
    config_path: str,
    threads: int = 1,
    aligned_dir: str | Path | None = None,
    max_unit_phonemes: int = DEFAULT_UNIT_PHONEMES,
) -> Engine:
    """The process's one engine for this voice model and thread count, loaded the first time.

    `threads` is the engine's threads per synthesis call; the engine is shared by all the
    process's synthesis threads. `aligned_dir` keeps the copies of models made to report
    phoneme timings. `max_unit_phonemes` bounds the speech the model is given at once, and so
    its memory (units.py).
    """
    engine_class = engine_kind(kind)
    key = (kind, model_path, config_path, threads, max_unit_phonemes)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        loading = _loading.setdefault(key, threading.Lock())
    # A load takes about a second: the voices already loaded must not wait for it.
    with loading:
        with _engines_lock:
            engine = _engines.get(key)
        if engine is None:
            engine = engine_class.load(
                model_path, config_path, threads, aligned_dir, max_unit_phonemes
            )
            with _engines_lock:
                _engines[key] = engine
                _loading.pop(key, None)
        return engine


def unload_model(model_path: str) -> bool:
    """Let go of this process's engines for a model file; whether it had any.

    A synthesis running with one keeps it until it ends; the next load reads the file afresh.
    """
    with _engines_lock:
        keys = [key for key in _engines if key[1] == model_path]
        for key in keys:
            del _engines[key]
    if keys:
        trim_heap()
        arena.note_loaded()  # the process's size without it is what runs' budget counts from
    return bool(keys)


def release_memory() -> None:
    """Have every loaded engine give back the memory it keeps, and glibc its free heap to the
    system: for an idle process, which otherwise stays at the size of its busiest moment."""
    with _engines_lock:
        engines = list(_engines.values())
    for engine in engines:
        engine.release_memory()
    trim_heap()


def trim_heap() -> None:
    """glibc's free heap back to the system (not glibc: its own allocator decides)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def phoneme_checker(kind: str, config_path: str) -> PhonemeChecker:
    """What of some IPA the voice cannot say, from its config alone: no model is loaded, so
    it is cheap enough for the event loop."""
    return engine_kind(kind).phoneme_checker(config_path)
