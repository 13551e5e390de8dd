"""Random walks through the wizard (tests/tui_walk.py): two fixed seeds on the fake engine, one
on the real engine against the emulator, in a fixed budget of steps (about 60 s in all on the
shared test machine; the invariants are checked after every step however many there are).

The fake seeds were picked for what they reach within the budget: 101 reviews (step 16),
confirms and runs (step 26); 104 goes through the remove flow (pick at step 8, its review at
12) several times. The real walk
opens with a fixed way in (``INTO_A_RUN``: a cluster picked, one-shot delivery, Review probed
on the emulator, a run confirmed) and goes on at random, so its privileged pods are checked.

``make fuzz-tui`` runs the long version (10,000 steps, ``AKSAUDIT_FUZZ_STEPS``) and prints the
seed of any failure; ``python tests/tui_walk.py --seed S --steps N`` replays one walk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tui_walk import INTO_A_RUN, walk_fake, walk_real

FAKE_SEEDS = (101, 104)
FAKE_STEPS = 30
REAL_SEED = 200
REAL_STEPS = 16  # the opening's 13 keys, then 3 at random while the run goes on


@pytest.mark.parametrize("seed", FAKE_SEEDS)
async def test_random_walk_on_the_fake_engine(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # exports the walk makes land here
    walk = await walk_fake(seed, FAKE_STEPS)
    print(f"seed {seed}: {walk.steps} steps; {walk.summary()}")
    assert walk.steps >= 1 and {"start", "discover"} <= walk.visited


async def test_random_walk_on_the_real_engine_and_emulator(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    emu = make_emulator(None)
    walk = await walk_real(emu, tmp_path / "state", REAL_SEED, REAL_STEPS, INTO_A_RUN)
    print(f"seed {REAL_SEED}: {walk.steps} steps; {walk.summary()}")
    # the opening reaches Review on the emulator and confirms a run
    assert {"discover", "review", "run"} <= walk.visited, (walk.summary(), walk.trail)
    assert walk.reviews_checked >= 1
