"""Per-request state: which chunks to dispatch next, and reordering audio back into sequence."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from speech.chunking import (
    ends_with_sentence_end,
    first_clause_end,
    split_into_chunks,
    split_into_sentences,
)

from .encoding import RequestEncoder

if TYPE_CHECKING:
    from .messages import SynthesizeJob, WordStamp


@dataclass(frozen=True)
class ChunkLimits:
    """Longest chunks, in characters: the first, the second, and all after them.

    The first is short so the first audio comes fast; the second is short too, so that it is
    ready before the first has been played even when other requests' chunks queue ahead of
    it; later chunks are longer, for fewer breaks in the prosody.
    """

    first: int
    second: int
    rest: int


# A request whose client holds this many seconds of audio it has not played yet has one chunk
# at the workers at a time (RequestStream.take_dispatchable).
FAR_AHEAD_SECONDS = 10.0

# What a held sentence may end with, before a next fragment that starts a sentence.
SENTENCE_ENDS = frozenset(".!?…")

# A gap in playback shorter than this goes unnoticed (and a network's jitter makes as much).
RUN_DRY_AFTER = 0.1

# Speech runs at about 15 characters a second; at twice the natural speed, 30. Chunks ahead of
# one being dispatched count at most this long, so a due time is never later than the need.
SECONDS_PER_CHAR_AT_LEAST = 1 / 30


@dataclass
class RequestStream:
    """One request's chunks on their way through the workers and back, in order.

    At most `window` chunks past the last fully delivered one are dispatched at a time (one
    while its listener is far ahead); audio parts may arrive in any order and come out of
    `add_part` in order.
    """

    request_id: str
    chunks: list[str]
    window: int
    sample_rate: int
    output_format: str
    # Turns the request's PCM into its output format, one piece after another.
    encoder: RequestEncoder = field(default_factory=lambda: RequestEncoder("pcm", 24000))
    # The job every chunk is sent with, with its own index and text (synthesis/messages.py).
    job: SynthesizeJob | None = None
    # The loop timer that fails the request if it makes no progress (synthesis/recovery.py).
    deadline: asyncio.TimerHandle | None = None
    # A text stream (`continue: true`) stays open for more text until a message ends it.
    open: bool = False
    # The context whose messages this request gathers (`context_id`), if it is one.
    context_id: str | None = None
    # Fields its messages carried that the server does not use, for its `complete`.
    ignored_fields: set[str] = field(default_factory=set)
    words_sent: int = 0  # word_timestamp messages sent, numbering the next
    # Audio put in order and not yet handed to the client (it is being encoded): the request
    # is not done while some is, and it finishes once (its last bytes, then `complete`).
    delivering: int = 0
    finishing: bool = False
    # Text received but not chunked yet: the sentence still being written.
    buffer: str = ""
    characters: int = 0  # all the text received, for the key's usage
    pause_seconds: float = 0.0  # the SSML breaks asked for so far (bounded per request)
    # Seconds without new text after which the buffer is spoken anyway (max_buffer_delay_ms).
    flush_after: float | None = None
    flush_timer: asyncio.TimerHandle | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.monotonic)
    first_audio_after: float | None = None  # seconds from start to the first chunk sent
    next_dispatch: int = 0
    next_deliver: int = 0
    next_part: int = 0
    sequence: int = 0
    samples_sent: int = 0  # audio delivered so far, in samples
    chunk_start: int = 0  # samples delivered before the chunk now being delivered
    pending: dict[tuple[int, int], tuple[bytes, bool, list[WordStamp]]] = field(
        default_factory=dict
    )
    # Chunks sent to the workers a second time, after the first copy brought nothing.
    resent: set[int] = field(default_factory=set)
    # Chunks a worker has begun (tts.started): the others may still wait for a free worker.
    begun: set[int] = field(default_factory=set)
    # The worker process holding each chunk, in the scale-out mode (tts.taken).
    held_by: dict[int, str] = field(default_factory=dict)
    # Each chunk's first copy on the worker channel: when it was there (time.time()), and its
    # place in the channel's order (its `due`); and the chunks some worker has spoken of
    # (taken, started, audio).
    queued: dict[int, tuple[float, float]] = field(default_factory=dict)
    heard: set[int] = field(default_factory=set)
    # Whether the request already waited a deadline longer for busy workers.
    waited: bool = False
    # When each chunk's text was in hand (monotonic), and when a client playing what it was
    # sent, from its first audio on, will have played it all: the reckoning of run-dries.
    chunks_made: list[float] = field(default_factory=list)
    plays_until: float | None = None
    run_dries: int = 0

    def __post_init__(self) -> None:
        self.chunks_made = [self.started] * len(self.chunks)

    def audio_in_hand(self) -> float:
        """Seconds of audio the client has been sent and not played yet (0 before the first)."""
        if self.first_audio_after is None:
            return 0.0
        playing_since = self.started + self.first_audio_after
        return max(0.0, self.audio_seconds - (time.monotonic() - playing_since))

    def due(self, index: int) -> float:
        """When the client will need chunk `index`'s audio (wall clock, for the workers' order).

        The first chunk is needed at once. After it, the client plays what it was sent; what it
        has not played yet, and the chunks before `index` not delivered yet, are how long it
        may take.
        """
        if self.first_audio_after is None:
            return time.time()
        ahead = sum(len(text) for text in self.chunks[self.next_deliver : index])
        return time.time() + self.audio_in_hand() + ahead * SECONDS_PER_CHAR_AT_LEAST

    def sent(self) -> int:
        """Count one chunk message sent to the client; returns its sequence number."""
        if self.first_audio_after is None:
            self.first_audio_after = time.monotonic() - self.started
        self.sequence += 1
        return self.sequence - 1

    @property
    def done(self) -> bool:
        return not self.open and not self.buffer and not self.owes_audio and not self.delivering

    def cancel_timers(self) -> None:
        """Stop the deadline and flush timers; the request is over."""
        for timer in (self.deadline, self.flush_timer):
            if timer is not None:
                timer.cancel()

    def in_flight_chunks(self) -> list[int]:
        """The chunks sent to the workers whose audio has not all come back."""
        return list(range(self.next_deliver, self.next_dispatch))

    def unheard_chunks(self) -> list[int]:
        """The chunks at the workers, sent once, that no worker has spoken of: they wait on the
        worker channel, or a worker took them and died before it could say so."""
        return [
            index
            for index in self.in_flight_chunks()
            if index in self.queued and index not in self.heard and index not in self.resent
        ]

    @property
    def in_flight(self) -> bool:
        """Whether chunks were sent to the workers and have not all come back."""
        return self.next_dispatch > self.next_deliver

    @property
    def owes_audio(self) -> bool:
        """Whether chunks are waiting for synthesis or delivery (not for the client)."""
        return self.next_deliver < len(self.chunks)

    def add_text(self, text: str, speak_all: bool, limits: ChunkLimits) -> None:
        """Buffer `text`, and make chunks of what is ready: every complete sentence, or all.

        Appending text can change only the last sentence, so all the others are complete; the
        last one is too when it ends in a way more text cannot undo ("calling." but not "3.").
        Until the first chunk is out, a finished first clause is ready as well: the listener
        hears "Hello there," while the rest of the sentence is still being written.
        """
        if self.buffer and text[:1].isupper() and self.buffer[-1] in SENTENCE_ENDS:
            # A held sentence ("...at 7 p.m.", which more text could have continued) and the
            # next one, sent as fragments without a space between them (agent frameworks send
            # whole sentences so): two sentences, not "p.m.The".
            text = " " + text
        self.buffer += text
        sentences = split_into_sentences(self.buffer)
        if speak_all or not sentences or ends_with_sentence_end(self.buffer):
            ready, self.buffer = self.buffer, ""
        else:
            start = len(self.buffer.rstrip()) - len(sentences[-1])
            ready, self.buffer = self.buffer[:start], self.buffer[start:]
            if not self.chunks and not ready.strip():
                clause_end = first_clause_end(self.buffer, limits.first)
                if clause_end is not None:
                    ready, self.buffer = self.buffer[:clause_end], self.buffer[clause_end:]
        if not self.buffer.strip():
            self.buffer = ""
        while ready.strip():
            if len(self.chunks) >= 2:
                self.chunks.extend(split_into_chunks(ready, limits.rest, limits.rest))
                break
            limit = limits.first if not self.chunks else limits.second
            head = split_into_chunks(ready, limits.second, limit)[0]
            self.chunks.append(head)
            ready = ready[ready.index(head) + len(head) :]
        now = time.monotonic()
        self.chunks_made.extend([now] * (len(self.chunks) - len(self.chunks_made)))

    def played(self, seconds: float) -> None:
        """Advance the playback reckoning by `seconds` of audio of chunk `next_deliver`, sent
        now; count a run-dry if the client has been out of audio for over RUN_DRY_AFTER though
        that chunk's text was in hand (a text stream waiting for its next text is not one)."""
        now = time.monotonic()
        if self.plays_until is not None:
            made = self.chunks_made[self.next_deliver]
            if now - self.plays_until > RUN_DRY_AFTER and made <= self.plays_until:
                self.run_dries += 1
        self.plays_until = max(self.plays_until or now, now) + seconds

    @property
    def audio_seconds(self) -> float:
        return self.samples_sent / self.sample_rate

    def take_dispatchable(self, audio_in_hand: float = 0.0) -> list[tuple[int, str]]:
        """Return the chunks that may be sent to the workers now, marking them dispatched.

        The first chunk goes alone: it decides how soon the client hears anything, so it should
        not share the CPU with the second, and it queues ahead of other requests' later chunks.
        So do the chunks of a request whose client holds FAR_AHEAD_SECONDS of audio it has not
        played yet (`audio_in_hand`): its next chunk is not needed for a while, and one request
        then never has two sentences in the voice model at once. Besides being fair to other
        requests, that bounds what one request costs in memory: two long sentences at once on
        the same model session fragment its memory arena (docs/security.md).
        """
        alone = self.next_deliver == 0 or audio_in_hand >= FAR_AHEAD_SECONDS
        window = 1 if alone else self.window
        ready = []
        while self.next_dispatch < min(len(self.chunks), self.next_deliver + window):
            ready.append((self.next_dispatch, self.chunks[self.next_dispatch]))
            self.next_dispatch += 1
        return ready

    def add_part(
        self, index: int, part: int, last: bool, audio: bytes, words: Sequence[WordStamp] = ()
    ) -> list[Delivery]:
        """Accept one part of a chunk's audio; return what is now deliverable, in order.

        Word times come in relative to their chunk and go out relative to the whole request.
        """
        if index < self.next_deliver or (index == self.next_deliver and part < self.next_part):
            return []  # a duplicate of something already delivered
        # The first copy of a part wins: a re-sent chunk's answer may race the original's.
        self.pending.setdefault((index, part), (audio, last, list(words)))
        deliverable = []
        while (self.next_deliver, self.next_part) in self.pending:
            audio, last, words = self.pending.pop((self.next_deliver, self.next_part))
            self.samples_sent += len(audio) // 2
            if audio:
                self.played(len(audio) / 2 / self.sample_rate)
            if audio or words:
                offset = self.chunk_start / self.sample_rate
                limit = self.audio_seconds
                deliverable.append(
                    Delivery(
                        audio,
                        [
                            {
                                "word": word["word"],
                                "start": round(min(offset + word["start"], limit), 3),
                                "end": round(min(offset + word["end"], limit), 3),
                            }
                            for word in words
                        ],
                    )
                )
            if last:
                self.next_deliver += 1
                self.next_part = 0
                self.chunk_start = self.samples_sent
            else:
                self.next_part += 1
        return deliverable


@dataclass
class Delivery:
    """Audio to send to the client (16-bit PCM), then the words that end in it."""

    audio: bytes
    words: list[WordStamp]
