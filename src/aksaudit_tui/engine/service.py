"""The engine facade: the one object the CLI and the TUI drive (docs/ARCHITECTURE.md).

Everything is async and reports through ``on_event`` (a plain callable taking an
``engine.events.Event``). Cancel is an ``asyncio.Event``: set it and the run stops starting
work, records in-flight steps as interrupted, deletes one-shot pods, saves, ends "cancelled".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from aksaudit_tui.engine.coverage import StatusReport, VerifyReport
from aksaudit_tui.engine.events import Event
from aksaudit_tui.engine.journal import Journal
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.results import Leftover, PlannedChange, RunResult

if TYPE_CHECKING:
    from aksaudit_tui.cloud.settings import CloudSettings

OnEvent = Callable[[Event], None]


def _ignore(_ev: Event) -> None:
    return None


class Engine:
    """Plan, review, apply, resume, verify, status, remove, cleanup: one facade for all."""

    def __init__(
        self,
        settings: CloudSettings,
        state_dir: Path | None = None,
        *,
        verify_deadline_s: float | None = None,
        verify_poll_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.journal = Journal(state_dir)
        loop = settings.is_loopback
        # Ingestion takes minutes in Azure; the emulator's delay is seconds.
        self.verify_deadline_s = verify_deadline_s or (60.0 if loop else 900.0)
        self.verify_poll_s = verify_poll_s or (1.0 if loop else 30.0)
        self.verify_after_apply = True
        # How long one node may take (pod start + script), and the keeper's re-check interval.
        self.node_deadline_s = 60.0 if loop else 600.0
        # How long one read-only check pod (review, status, verify, apply's probe) may take:
        # a check installs nothing, and a pod that never starts must not hold up a review.
        self.review_deadline_s = 120.0
        self.keeper_interval_s = 300
        # Cluster-level concurrency (each cluster is additionally bounded by plan.concurrency).
        self.max_clusters = 8

    # --- discovery --------------------------------------------------------------------------

    async def discover(self, subscription: str | None = None) -> AsyncIterator[Event]:
        """Stream SubscriptionFound / ClusterFound / WorkspaceFound / DiscoveryFailed, then
        DiscoveryDone. ClusterFound comes twice per cluster: as listed, then complete (same id);
        a SubscriptionFound may come again with a later error; DiscoveryDone counts distinct
        subscriptions and complete clusters."""
        from aksaudit_tui.engine import ops

        async for ev in ops.discover_events(self.settings, subscription):
            yield ev

    # --- plan -> changes ----------------------------------------------------------------------

    async def review(self, plan: Plan) -> list[PlannedChange]:
        """Probe every step of every cluster; nothing is changed."""
        from aksaudit_tui.engine import ops

        return await ops.review(self, plan)

    async def apply(
        self,
        plan: Plan,
        on_event: OnEvent = _ignore,
        cancel: asyncio.Event | None = None,
    ) -> RunResult:
        from aksaudit_tui.engine import ops

        return await ops.apply(self, plan, on_event, cancel or asyncio.Event())

    async def resume(
        self,
        run_id: str | None = None,
        on_event: OnEvent = _ignore,
        cancel: asyncio.Event | None = None,
    ) -> RunResult:
        """Load the journal (the newest unfinished run when None), probe again, continue."""
        from aksaudit_tui.engine import ops

        return await ops.resume(self, run_id, on_event, cancel or asyncio.Event())

    async def verify(
        self,
        plan_or_run: Plan | str | None = None,
        since: timedelta = timedelta(minutes=15),
        on_event: OnEvent = _ignore,
        deadline_s: float = 600.0,
        cancel: asyncio.Event | None = None,
    ) -> VerifyReport:
        """Poll the arrival query (one per workspace per poll) until every Linux node arrived or
        the deadline; then name the likely reason per missing node. ``None``: the newest run."""
        from aksaudit_tui.engine import ops

        return await ops.verify(
            self, plan_or_run, since, on_event, deadline_s, cancel or asyncio.Event()
        )

    async def status(self, cluster_name: str | None = None) -> StatusReport:
        """Live coverage: node check (keeper status or one-shot check pods), Azure probes, one
        arrival query per workspace."""
        from aksaudit_tui.engine import ops

        return await ops.status(self, cluster_name)

    async def remove(
        self,
        plan: Plan,
        on_event: OnEvent = _ignore,
        include_log_path: bool = False,
        cancel: asyncio.Event | None = None,
    ) -> RunResult:
        from aksaudit_tui.engine import ops

        return await ops.remove(self, plan, on_event, include_log_path, cancel or asyncio.Event())

    async def cleanup(self, dry_run: bool = False) -> list[Leftover]:
        """Delete privileged pods (and one-shot namespaces) the tool left, in every known
        context; with ``dry_run`` only list them."""
        from aksaudit_tui.engine import ops

        return await ops.cleanup(self, dry_run)

    async def leftovers(self, plan: Plan | None = None) -> list[Leftover]:
        """One-shot pods from earlier runs still present (warned about on start)."""
        from aksaudit_tui.engine import ops

        return await ops.leftovers(self, plan)
