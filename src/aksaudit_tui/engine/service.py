"""The engine facade: the one object the CLI and the TUI drive (docs/ARCHITECTURE.md).

Everything is async and reports through ``on_event`` (a plain callable taking an
``engine.events.Event``). Cancel is an ``asyncio.Event``: set it and the run stops starting
work, records in-flight steps as interrupted, deletes one-shot pods, saves, ends "cancelled".

The facade holds an ``EngineConfig`` and hands it to the operation modules (planning, review,
runs, removal, verification, status); it is the top layer of the engine and nothing in the
engine imports it. The operations are imported on first use: with the cloud and node adapters
behind them they are ~30 modules (a few hundred ms), and ``aksaudit --help`` and the wizard's
first frame must not wait for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from aksaudit_tui.engine.config import EngineConfig, Timing
from aksaudit_tui.engine.coverage import StatusReport, VerifyReport
from aksaudit_tui.engine.events import Event
from aksaudit_tui.engine.journal import Journal
from aksaudit_tui.engine.plan import Plan, PlanRequest
from aksaudit_tui.engine.results import Leftover, PlannedChange, RunResult

if TYPE_CHECKING:
    from aksaudit_tui.cloud.settings import CloudSettings
    from aksaudit_tui.engine.logpath_undo import LogPathUndo
    from aksaudit_tui.engine.recorded import RecordedCluster, RecordedRemoval, RecordScan

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
        timing: Timing | None = None,
        verify_deadline_s: float | None = None,
        verify_poll_s: float | None = None,
    ) -> None:
        """``timing`` defaults to the pace of ``settings.profile``; the two verify values,
        when given, override it."""
        t = timing or Timing.for_settings(settings)
        t = replace(
            t,
            verify_deadline_s=verify_deadline_s or t.verify_deadline_s,
            verify_poll_s=verify_poll_s or t.verify_poll_s,
        )
        self.config = EngineConfig(
            settings=settings,
            journal=Journal(state_dir),
            timing=t,
            resource_graph=settings.resource_graph,
        )

    # --- what the CLI and tests read or tune (all kept in self.config) ----------------------

    @property
    def settings(self) -> CloudSettings:
        """Endpoints, trust, token and pace every operation uses."""
        return self.config.settings

    @property
    def journal(self) -> Journal:
        """The run journals and cluster locks (``list_runs`` for the CLI's resume list)."""
        return self.config.journal

    @property
    def verify_after_apply(self) -> bool:
        """Whether apply ends with the verify step (``--no-verify`` sets it False)."""
        return self.config.verify_after_apply

    @verify_after_apply.setter
    def verify_after_apply(self, value: bool) -> None:
        self.config.verify_after_apply = value

    @property
    def resource_graph(self) -> bool:
        """Whether discovery asks Azure Resource Graph first (else the ARM walk)."""
        return self.config.resource_graph

    @resource_graph.setter
    def resource_graph(self, value: bool) -> None:
        self.config.resource_graph = value

    def _discovery_settings(self) -> CloudSettings:
        """The settings discovery runs with: the config's Resource Graph choice applied."""
        return replace(self.settings, resource_graph=self.config.resource_graph)

    @property
    def max_clusters(self) -> int:
        """How many clusters a run works on at once."""
        return self.config.max_clusters

    @max_clusters.setter
    def max_clusters(self, value: int) -> None:
        self.config.max_clusters = value

    @property
    def verify_deadline_s(self) -> float:
        """How long apply's verify step polls for arrivals."""
        return self.config.timing.verify_deadline_s

    @verify_deadline_s.setter
    def verify_deadline_s(self, value: float) -> None:
        self.config.timing = replace(self.config.timing, verify_deadline_s=value)

    @property
    def verify_poll_s(self) -> float:
        """Seconds between two arrival queries."""
        return self.config.timing.verify_poll_s

    @verify_poll_s.setter
    def verify_poll_s(self, value: float) -> None:
        self.config.timing = replace(self.config.timing, verify_poll_s=value)

    @property
    def node_deadline_s(self) -> float:
        """How long one node may take to be configured (pod start + script)."""
        return self.config.timing.node_deadline_s

    @node_deadline_s.setter
    def node_deadline_s(self, value: float) -> None:
        self.config.timing = replace(self.config.timing, node_deadline_s=value)

    @property
    def review_deadline_s(self) -> float:
        """How long one read-only check pod may take."""
        return self.config.timing.review_deadline_s

    @review_deadline_s.setter
    def review_deadline_s(self, value: float) -> None:
        self.config.timing = replace(self.config.timing, review_deadline_s=value)

    @property
    def keeper_interval_s(self) -> int:
        """The keeper's re-check interval on every node."""
        return self.config.timing.keeper_interval_s

    @keeper_interval_s.setter
    def keeper_interval_s(self, value: int) -> None:
        self.config.timing = replace(self.config.timing, keeper_interval_s=value)

    # --- discovery --------------------------------------------------------------------------

    async def discover(self, subscription: str | None = None) -> AsyncIterator[Event]:
        """Stream SubscriptionFound / ClusterFound / WorkspaceFound / DiscoveryFailed, then
        DiscoveryDone. ClusterFound comes twice per cluster: as listed, then complete (same id);
        a SubscriptionFound may come again with a later error; DiscoveryDone counts distinct
        subscriptions and complete clusters."""
        from aksaudit_tui.engine import planning  # startup: operations load on first use

        async for ev in planning.discover_events(self._discovery_settings(), subscription):
            yield ev

    async def plan_from_names(self, request: PlanRequest) -> Plan:
        """Discover, resolve cluster and workspace names to ids, and return the plan validated
        exactly as a plan file would be (UsageError with one line saying what to fix)."""
        from aksaudit_tui.engine import planning  # startup: operations load on first use

        return await planning.plan_from_names(self._discovery_settings(), request)

    async def pin_image(self, plan: Plan) -> Plan:
        """The plan with its image tag resolved to a digest through the registry (no call when
        it already has one); apply refuses an image without a digest."""
        from aksaudit_tui.engine import planning  # Azure SDK clients: first use (startup)

        return await planning.pin_image(self.settings, plan)

    # --- plan -> changes ----------------------------------------------------------------------

    async def review(self, plan: Plan, *, probe_nodes: bool = False) -> list[PlannedChange]:
        """Probe every step of every cluster; nothing is changed, and no pod starts unless
        ``probe_nodes`` (read-only check pods on one-shot clusters' nodes)."""
        from aksaudit_tui.engine import review  # startup: operations load on first use

        return await review.review(self.config, plan, probe_nodes=probe_nodes)

    async def review_remove(
        self,
        plan: Plan,
        *,
        include_log_path: bool = False,
        undo: Mapping[str, LogPathUndo] | None = None,
    ) -> list[PlannedChange]:
        """What ``remove`` would do per cluster and step (the same steps, probed); nothing is
        changed and no pod starts. ``undo``: as for ``remove``."""
        from aksaudit_tui.engine import review  # startup: operations load on first use

        return await review.review_remove(
            self.config, plan, include_log_path=include_log_path, undo=undo
        )

    async def recorded_clusters(
        self, cluster: str | None = None, *, subscription: str | None = None
    ) -> RecordScan:
        """The clusters (all, or the one named) that hold an ``aksaudit-applied`` record, read
        from the clusters themselves: what can be removed without this machine's journal.
        Read-only. UsageError when ``cluster`` names no cluster, or several."""
        from aksaudit_tui.engine import recorded  # startup: operations load on first use

        return await recorded.scan(
            self._discovery_settings(), cluster=cluster, subscription=subscription
        )

    def removal_from_record(
        self, cluster: RecordedCluster, image: str | None = None
    ) -> RecordedRemoval:
        """The plan and log-path undo a remove of ``cluster`` needs, built from its record
        (review it with ``review_remove``, run it with ``remove``, passing its ``undo``);
        nothing is read or written. ``image``: the pods' image, by digest (UsageError
        otherwise), for a cluster that cannot pull the default one; None: the default."""
        from aksaudit_tui.engine import recorded  # startup: operations load on first use

        return recorded.removal_for(cluster, image)

    async def apply(
        self,
        plan: Plan,
        on_event: OnEvent = _ignore,
        cancel: asyncio.Event | None = None,
    ) -> RunResult:
        """Run the plan: access, log path, delivery per cluster, then verify; journalled so
        ``resume`` can continue it; a plan error raises UsageError before anything changes."""
        from aksaudit_tui.engine import runs  # startup: operations load on first use

        return await runs.apply(self.config, plan, on_event, cancel or asyncio.Event())

    async def resume(
        self,
        run_id: str | None = None,
        on_event: OnEvent = _ignore,
        cancel: asyncio.Event | None = None,
    ) -> RunResult:
        """Load the journal (the newest unfinished run when None), probe again, continue."""
        from aksaudit_tui.engine import runs  # startup: operations load on first use

        return await runs.resume(self.config, run_id, on_event, cancel or asyncio.Event())

    async def verify(
        self,
        plan_or_run: Plan | str | None = None,
        since: timedelta = timedelta(minutes=15),
        on_event: OnEvent = _ignore,
        deadline_s: float = 600.0,
        cancel: asyncio.Event | None = None,
        *,
        probe_nodes: bool = False,
    ) -> VerifyReport:
        """Poll the arrival query (one per workspace per poll) until every Linux node arrived or
        the deadline; then name the likely reason per missing node. ``None``: the newest run.
        Read-only: the reasons come from the keeper's status and Azure; ``probe_nodes`` first
        runs a check pod on every Ready node (a compliant one touches its heartbeat, which verify
        then waits for; only records since the probe count, whatever ``since`` says) and takes
        the reasons from those. A node its check (or keeper) found not compliant is missing."""
        from aksaudit_tui.engine import verification  # startup: operations load on first use

        return await verification.verify(
            self.config,
            plan_or_run,
            since,
            on_event,
            deadline_s,
            cancel or asyncio.Event(),
            probe_nodes=probe_nodes,
        )

    async def status(
        self,
        cluster_name: str | None = None,
        *,
        subscription: str | None = None,
        window: timedelta = timedelta(hours=24),
        probe_nodes: bool = False,
    ) -> StatusReport:
        """Coverage of every cluster the user can read, read-only: the cluster's record and
        keeper status, Azure's log path, one heartbeat query per workspace (engine/fleet.py).
        ``probe_nodes``: the explicit live probe (check pods) of clusters applied here."""
        from aksaudit_tui.engine import fleet, status  # startup: operations load on first use

        if probe_nodes:
            return await status.status(self.config, cluster_name)
        return await fleet.fleet_status(
            self._discovery_settings(),
            cluster=cluster_name,
            subscription=subscription,
            window=window,
            notes=status.unfinished_notes(self.journal),
            max_clusters=max(self.max_clusters, 16),
        )

    async def remove(
        self,
        plan: Plan,
        on_event: OnEvent = _ignore,
        include_log_path: bool = False,
        cancel: asyncio.Event | None = None,
        undo: Mapping[str, LogPathUndo] | None = None,
    ) -> RunResult:
        """Restore every node and delete what delivery made; with ``include_log_path`` also
        undo what our applies recorded on the log path: per cluster name from ``undo`` (a
        cluster's record, see ``removal_from_record``), else from this machine's journal.
        Journalled like an apply."""
        from aksaudit_tui.engine import removal  # startup: operations load on first use

        return await removal.remove(
            self.config, plan, on_event, include_log_path, cancel or asyncio.Event(), undo
        )

    async def cleanup(
        self, dry_run: bool = False, confirmed: Sequence[Leftover] | None = None
    ) -> list[Leftover]:
        """Delete privileged pods (and one-shot namespaces) the tool left, in every known
        context; with ``dry_run`` only list them. ``confirmed``: delete only these (what the
        user was shown and agreed to)."""
        from aksaudit_tui.engine import cleanup  # startup: operations load on first use

        return await cleanup.cleanup(self.config, dry_run, confirmed)

    async def leftovers(self, plan: Plan | None = None) -> list[Leftover]:
        """One-shot pods from earlier runs still present (warned about on start)."""
        from aksaudit_tui.engine import cleanup  # startup: operations load on first use

        return await cleanup.leftovers(self.config, plan)
