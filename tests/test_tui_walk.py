"""Random walks through the wizard (tests/tui_walk.py): a few fixed seeds on the fake engine,
one on the real engine against the emulator, in a fixed budget of steps.

``make fuzz-tui`` runs the long version (10,000 steps, ``AKSAUDIT_FUZZ_STEPS``) and prints the
seed of any failure; ``python tests/tui_walk.py --seed S --steps N`` replays one walk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tui_walk import walk_fake, walk_real

FAKE_SEEDS = (101, 104)  # seeds whose walks reach a run, review, verify and status
FAKE_STEPS = 60
REAL_SEED = 200  # reached review and a run on the emulator (timing decides how far it gets)
REAL_STEPS = 40


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
    walk = await walk_real(emu, tmp_path / "state", REAL_SEED, REAL_STEPS)
    print(f"seed {REAL_SEED}: {walk.steps} steps; {walk.summary()}")
    assert walk.steps >= 1 and {"start", "discover"} <= walk.visited
