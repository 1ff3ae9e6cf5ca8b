"""`manage.py phonemize TEXT`: what a voice says for TEXT, in words and in IPA phonemes.

    python manage.py phonemize "On 3/4/2025 Dr. Smith paid $12.50." [--voice joe]

Prints the text as the voice reads it (SSML, the voice's lexicon and its language's
normalization applied, docs/text.md), then the phonemes espeak-ng gives for it: the IPA a
lexicon entry or an SSML `<phoneme>` takes, ready to copy and adjust.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError, CommandParser

from speech.engine import load_engine
from speech.text import script
from speech.text.script import Pause, encode
from speech.text.ssml import SSMLError, is_ssml, parse_ssml
from voices.lexicon import aget_lexicon
from voices.models import Voice


class Command(BaseCommand):
    help = "Show the words and IPA phonemes a voice says for a text."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("text", help="Plain text, or an SSML <speak> document.")
        parser.add_argument("--voice", default="joe", help="A voice id (default: joe).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            voice = Voice.objects.select_related("model").get(voice_id=options["voice"])
        except Voice.DoesNotExist:
            raise CommandError(f"There is no voice {options['voice']!r}.") from None
        text = options["text"]
        if is_ssml(text):
            try:
                text = encode(parse_ssml(text))
            except SSMLError as error:
                raise CommandError(str(error)) from None
        lexicon = async_to_sync(aget_lexicon)(voice.voice_id, use_cache=False)
        said = script(text, voice.language, lexicon.apply if lexicon else None)
        engine = load_engine(voice.model.engine, voice.model.model_path, voice.model.config_path)
        words: list[str] = []
        phonemes: list[str] = []
        for item in said:
            if isinstance(item, Pause):
                words.append(f"<{item.seconds:g} s>")
                phonemes.append(f"<{item.seconds:g} s>")
                continue
            words.append(item.spoken)
            phonemes.append(" ".join(engine.phonemize(item.spoken)))
        self.stdout.write(f"said:     {' '.join(words)}")
        self.stdout.write(f"phonemes: {' '.join(phonemes)}")
