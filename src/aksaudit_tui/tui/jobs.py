"""State of the App's one-off background jobs (review, status, leftovers, cleanup, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class JobState:
    running: bool = False
    result: Any = None
    error: str | None = None
    generation: int = 0  # bumped per start, so a screen can tell a new result from an old one
