"""Admission under load: when the workers are behind, a new request is refused at once.

A queue helps nobody in real-time speech: every request admitted past what the workers can
serve makes every listener wait longer. Measured with 50 sockets of 5,000 characters at
once, with no admission: first audio after 2.3 s (median) and up to 15 s for newcomers, and 11
requests failed on their deadlines. So each web process watches the requests it sent to the
workers, and refuses new ones (`server_busy`, with a retry hint) while either

- too many of its requests wait for their first audio (a burst: each waiting first chunk
  delays the next newcomer's), or
- chunks it dispatched are overdue: their listeners have run out of audio, and the workers
  have more than they can do.

Touched only on the event loop, like the consumers that feed it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Refusal:
    """Why a request may not start now, and when to try again."""

    message: str
    retry_after: float


@dataclass
class Load:
    """The requests of this process on their way through the workers."""

    # Requests whose chunks went to the workers but whose first audio has not come back.
    waiting_first: set[str] = field(default_factory=set)
    # Chunks at the workers whose audio has not started coming back, with when it is due
    # (wall clock, as in the jobs).
    due: dict[tuple[str, int], float] = field(default_factory=dict)

    def dispatched(self, request: str, index: int, due: float) -> None:
        if index == 0:
            self.waiting_first.add(request)
        self.due.setdefault((request, index), due)

    def arrived(self, request: str, index: int) -> None:
        """Audio of chunk `index` came back."""
        self.waiting_first.discard(request)
        self.due.pop((request, index), None)

    def forget(self, request: str) -> None:
        """The request ended: its chunks no longer count."""
        self.waiting_first.discard(request)
        for key in [key for key in self.due if key[0] == request]:
            del self.due[key]

    def overdue(self, now: float | None = None) -> float:
        """Seconds by which the most overdue chunk is late; 0 when none is."""
        now = time.time() if now is None else now
        return max((now - due for due in self.due.values()), default=0.0) if self.due else 0.0

    def refusal(self, max_waiting: int, max_late: float) -> Refusal | None:
        """Why a new request may not start now, or None if it may."""
        if len(self.waiting_first) >= max_waiting:
            return Refusal(
                f"The server is busy: {len(self.waiting_first)} requests are waiting for their "
                f"first audio, its limit ({max_waiting}). Try again in a second.",
                1.0,
            )
        late = self.overdue()
        if late > max_late:
            return Refusal(
                f"The server is busy: its listeners are {late:.1f} s behind, more than "
                f"{max_late:g} s. Try again in a few seconds.",
                round(min(late, 10.0), 1),
            )
        return None


# This process's one Load.
load = Load()
