"""The process's memory for model runs: one shared arena, and how much of it is kept.

A Piper model's run needs working memory in proportion to the speech it is given (units.py).
onnxruntime takes it from an arena that keeps what it grew, so that the next run need not ask
the system again; glibc below it keeps freed buffers in its heaps. Left alone, a process stays
at the size of the most speech it ever had in the model at once. Three rules bound that:

- One arena for every voice model of the process, grown by exactly what a run asks for
  (`register_shared_arena`). Each session would otherwise have an arena of its own that grows
  in doubling steps: under load those held far more than their runs needed, and what one
  voice's arena kept was no use to another's.
- Keeping is budgeted (`keep_memory`): while the process is within its budget over its size
  after its last voice loaded, runs keep what they grew; past it, each long run gives back
  its part when it ends (piper.py, `_RunOptions.options_for`). Giving back on every long run
  cost 5-10 % of throughput, to re-grow what the next run needed again.
- glibc maps every buffer over 1 MB on its own (`free_large_buffers_to_the_system`), so that
  what the arena gives back leaves the process.

An idle process gives back everything kept (registry.release_memory).
docs/security.md, "Work and memory per request", has the measurements.
"""

from __future__ import annotations

import ctypes
import functools
import logging

import onnxruntime

logger = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_LARGE_BUFFER_BYTES = 1024 * 1024
_SAME_AS_REQUESTED = 1  # onnxruntime's ArenaExtendStrategy::kSameAsRequested
_PAGE_BYTES = 4096

# Bytes the process may keep over its size after its last voice loaded; None: keep nothing
# from long runs.
_budget: int | None = None
_baseline = 0


def keep_memory(megabytes: float | None) -> None:
    """Let runs keep up to this much memory over the process's size after its last voice
    loaded (None or 0: every long run gives back what it grew)."""
    global _budget
    _budget = int(megabytes * 1024 * 1024) if megabytes else None


def note_loaded() -> None:
    """A voice has loaded, or been let go: the process's size now is what the budget is
    counted from."""
    global _baseline
    _baseline = resident_bytes()


def over_budget() -> bool:
    """Whether the process keeps more than its budget (reads /proc; about 10 µs)."""
    if _budget is None:
        return True
    return resident_bytes() > _baseline + _budget


def resident_bytes() -> int:
    """The process's resident memory; where /proc cannot tell, more than any budget, so that
    nothing is kept."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 1 << 62


@functools.cache
def free_large_buffers_to_the_system() -> None:
    """Have glibc map every allocation over 1 MB on its own, so that freeing it returns it.

    The voice model's working buffers are megabytes each. By default glibc raises its mapping
    threshold after the first large free, up to 32 MB, and from then on keeps freed buffers in
    its heaps, one per thread: the process stays at the size of the largest sentences it ever
    spoke at once. Fixing the threshold stops that.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _LARGE_BUFFER_BYTES)
    except (OSError, AttributeError):  # not glibc: its own allocator's defaults apply
        logger.debug("mallopt is not available; large buffers stay with the allocator")


@functools.cache
def register_shared_arena() -> None:
    """Register the process's one arena for model runs, grown by what is asked of it.

    Registered once per process; sessions opt in with session.use_env_allocators.
    """
    config = onnxruntime.OrtArenaCfg(
        {
            "max_mem": 0,  # no limit: the units bound each run's memory (units.py)
            "arena_extend_strategy": _SAME_AS_REQUESTED,
            "initial_chunk_size_bytes": -1,  # -1: onnxruntime's default
            "max_dead_bytes_per_chunk": -1,
        }
    )
    cpu = onnxruntime.OrtMemoryInfo(
        "Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, onnxruntime.OrtMemType.DEFAULT
    )
    onnxruntime.create_and_register_allocator(cpu, config)
