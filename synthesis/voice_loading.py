"""Voices loaded and warm before their first request, in every process that synthesizes.

At start the process loads the model of every enabled voice. After that, a thread of its own
asks the database every TTS_VOICE_CHECK_SECONDS which models the enabled voices use: one this
process has not loaded (imported by `manage.py import_voices`, uploaded or enabled in the
admin, in whatever process on whatever machine) is loaded and warmed, and one that no enabled
voice uses any more is let go. The database is the one thing every process shares: in the
embedded mode the cache and the channel layer are each process's own, so `import_voices` can
reach a running server through nothing else. A voice saved in this process (the admin of an
embedded server) wakes the thread at once. Each check also forgets this process's cached
lookups of the voices that changed since the last (voices/freshness.py), so a voice disabled
elsewhere is refused, and one imported is found, within the same few seconds.

A load takes about a second of CPU, and runs on that thread: never on the event loop, nor on
the thread Django's sync code shares, nor on a synthesis thread, which it would keep from
other voices' urgent first chunks for that second (a step cannot be interrupted). The warm-up
after it (one short sentence, a tenth of the load's cost) runs there too, for the same reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from speech.engine import SynthesisOptions, unload_model
from ttsproject.database import with_fresh_connection
from voices.availability import file_problem, forget_load_failure, record_load_failure
from voices.freshness import Snapshot, forget_stale, snapshot
from voices.models import Voice, VoiceModel

from .workers import engine_threads, voice_engine

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFiles:
    """A voice model as imported: a model imported again with other files is another one."""

    name: str
    engine: str
    model_path: str
    config_path: str
    file_size: int
    sha256: str


def changes(
    held: Collection[ModelFiles], wanted: Collection[ModelFiles]
) -> tuple[list[ModelFiles], list[ModelFiles]]:
    """The models to load (wanted, not held) and to let go (held, no longer wanted).

    A model imported again with other files is both: the old files are let go, the new loaded.
    """
    load = sorted((model for model in wanted if model not in held), key=_by_name)
    let_go = sorted((model for model in held if model not in wanted), key=_by_name)
    return load, let_go


def _by_name(model: ModelFiles) -> str:
    return model.name


def enabled_models() -> set[ModelFiles]:
    """The models that enabled voices use, as the database has them now (blocking)."""
    rows = (
        VoiceModel.objects.filter(voices__enabled=True)
        .distinct()
        .values_list("name", "engine", "model_path", "config_path", "file_size", "sha256")
    )
    return {ModelFiles(*row) for row in rows}


def read_voices() -> tuple[set[ModelFiles], Snapshot]:
    """The enabled voices' models, and a snapshot of the voices (blocking)."""
    return enabled_models(), snapshot()


class VoiceLoader:
    """The voice models this process has loaded, kept in step with the enabled voices."""

    def __init__(self) -> None:
        # Loaded, or failed to load: tried again only when imported again.
        self.held: set[ModelFiles] = set()
        # Models whose files cannot be used, with the problem logged, so that it is logged
        # once; they are looked at again at each check, for files that are copied later.
        self.reported: dict[ModelFiles, str] = {}
        self.database_failing = False
        # The voices as the last check saw them, to forget the cached lookups of those that
        # changed since (voices/freshness.py).
        self.voices: Snapshot | None = None
        self.checking = threading.Lock()
        self.wake = threading.Event()

    def check(self) -> None:
        """Load the models enabled voices use and this process has not, and let go of those
        no enabled voice uses any more (blocking). A database that fails is tried next time."""
        with self.checking:
            try:
                wanted, voices = with_fresh_connection(read_voices)
            except Exception:
                if not self.database_failing:
                    logger.warning(
                        "Could not read the enabled voices; trying again every %g s",
                        settings.TTS_VOICE_CHECK_SECONDS,
                        exc_info=True,
                    )
                self.database_failing = True
                return
            self.database_failing = False
            if self.voices is not None:
                forgotten = forget_stale(self.voices, voices)
                if forgotten:
                    logger.info("Voices changed: %s", ", ".join(sorted(forgotten)))
            self.voices = voices
            load, let_go = changes(self.held, wanted)
            for model in let_go:
                self.held.discard(model)
                if unload_model(model.model_path):
                    logger.info("Let go of voice model %s: no enabled voice uses it", model.name)
            for model in load:
                self.load(model)

    def load(self, model: ModelFiles) -> None:
        """Load and warm up `model`, or log why it cannot be used (recorded if it fails to
        load: voices/availability.py)."""
        problem = file_problem(model.model_path, model.config_path, model.file_size)
        if problem is not None:
            if self.reported.get(model) != str(problem):
                logger.warning("Voice model %s is unavailable: %s", model.name, problem)
                self.reported[model] = str(problem)
            return
        self.reported.pop(model, None)
        self.held.add(model)
        started = time.monotonic()
        try:
            for threads in sorted({engine_threads(0), engine_threads(1)}):
                engine = voice_engine(model.engine, model.model_path, model.config_path, threads)
                # onnxruntime's first run takes about twice as long as later ones.
                engine.synthesize("Hello.", SynthesisOptions())
        except Exception as error:
            record_load_failure(model.model_path, error)
            logger.warning(
                "Voice model %s does not load; its voices are unavailable",
                model.name,
                exc_info=True,
            )
            return
        forget_load_failure(model.model_path)
        logger.info("Loaded voice model %s in %.1f s", model.name, time.monotonic() - started)

    def start(self) -> None:
        """Check now and every TTS_VOICE_CHECK_SECONDS on a thread of its own, and at once when
        this process saves or deletes a voice or a model."""
        for signal in (post_save, post_delete):
            for sender in (Voice, VoiceModel):
                signal.connect(self.check_soon, sender=sender, dispatch_uid="tts-voice-loader")
        threading.Thread(target=self.watch, name="tts-voice-loader", daemon=True).start()

    def check_soon(self, using: str = "default", **kwargs: Any) -> None:
        """Called when this process saves or deletes a voice or a model."""
        # Once it is committed, or the check would not see it.
        transaction.on_commit(self.wake.set, using=using)

    def watch(self) -> None:
        while True:
            try:
                self.check()
            except Exception:  # a bug: log it, and keep the voices coming
                logger.exception("Checking the enabled voices failed")
            self.wake.wait(settings.TTS_VOICE_CHECK_SECONDS)
            self.wake.clear()


# The process's one loader.
loader = VoiceLoader()


def preload_voices() -> None:
    """Load and warm up every enabled voice's model now, so that no request waits for it."""
    loader.check()


def keep_voices_loaded() -> None:
    """Load the enabled voices on a thread of its own, and from then on each voice imported or
    enabled, in any process, within TTS_VOICE_CHECK_SECONDS."""
    loader.start()
