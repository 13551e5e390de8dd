"""What every engine operation needs besides the plan: settings, journal, deadlines, limits.

The operations (``planning``, ``review``, ``runs``, ``removal``, ``cleanup``, ``verification``,
``status``) take an ``EngineConfig``, never the ``Engine`` facade, so they do not depend on the
layer above them. The deadlines and intervals are one ``Timing`` value: ``Timing()`` is Azure's
pace; ``Timing.fast()`` is the emulator's, chosen explicitly (the demo, the tests and the
benchmarks ask for it through ``CloudSettings.profile``) and never guessed from a loopback
endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aksaudit_tui.engine.journal import Journal

if TYPE_CHECKING:
    from aksaudit_tui.cloud.settings import CloudSettings


@dataclass(frozen=True)
class Timing:
    """Deadlines and poll intervals of the engine, in seconds (Azure's pace by default)."""

    # Ingestion takes minutes in Azure: how long verify polls, and how often.
    verify_deadline_s: float = 900.0
    verify_poll_s: float = 30.0
    # How long one node may take to be configured (pod start + node script).
    node_deadline_s: float = 600.0
    # How long one read-only check pod (review, status, verify, apply's probe) may take: a
    # check installs nothing, and a pod that never starts must not hold up a review.
    review_deadline_s: float = 120.0
    # The keeper's re-check interval on every node.
    keeper_interval_s: int = 300

    @classmethod
    def fast(cls) -> Timing:
        """The emulator's pace (ingestion and pods take seconds there): demo, tests, bench."""
        return cls(verify_deadline_s=60.0, verify_poll_s=1.0, node_deadline_s=60.0)

    @classmethod
    def for_settings(cls, settings: CloudSettings) -> Timing:
        """The pace the settings' explicit ``profile`` asks for."""
        return cls.fast() if settings.profile == "fast" else cls()


@dataclass
class EngineConfig:
    """Settings, journal and knobs shared by every operation; the CLI may tune the knobs."""

    settings: CloudSettings
    journal: Journal
    timing: Timing = field(default_factory=Timing)
    # apply ends with the verify step (``--no-verify`` turns it off)
    verify_after_apply: bool = True
    # Cluster-level concurrency (each cluster is additionally bounded by plan.concurrency).
    max_clusters: int = 8
    # Discovery asks Azure Resource Graph first; False walks ARM per subscription
    # (--no-resource-graph). The Engine starts from ``settings.resource_graph``.
    resource_graph: bool = True
