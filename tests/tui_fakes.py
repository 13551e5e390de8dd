"""Deterministic engine stand-in for TUI snapshot tests (fixed models, recorded events).

The end-to-end Pilot tests drive the real engine on the emulator; snapshots need data that
never changes (no clocks, no random run ids), so they use this.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aksaudit_tui.cloud.models import (
    Cluster,
    Extension,
    Instance,
    Monitoring,
    ScaleSet,
    Subscription,
    SyslogCollection,
    Workspace,
)
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine.coverage import (
    ClusterCoverage,
    NodeRow,
    NodeVerdict,
    StatusReport,
    VerifyReport,
)
from aksaudit_tui.engine.events import (
    ClusterFound,
    DiscoveryDone,
    Event,
    NodeArrival,
    NodeUpdate,
    RunFinished,
    RunStarted,
    StepFinished,
    StepLog,
    StepProgress,
    StepStarted,
    SubscriptionFound,
    VerifyWaiting,
    WorkspaceFound,
)
from aksaudit_tui.engine.journal import RunSummary
from aksaudit_tui.engine.plan import ClusterTarget, Plan, WorkspaceRef
from aksaudit_tui.engine.recorded import RecordedCluster, RecordedRemoval, RecordScan, removal_for
from aksaudit_tui.engine.results import Leftover, PlannedChange, RunResult
from aksaudit_tui.errors import UsageError
from record_samples import sample_record

SUB1 = "11111111-1111-1111-1111-111111111111"
SUB2 = "22222222-2222-2222-2222-222222222222"
FIXED_NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
RUN_ID = "20261127T070000Z-abc123"


def _vmss(
    cluster: str,
    pool: str,
    n: int,
    sku: str,
    os: str = "Linux",
    ext: str | None = None,
    stale: int = 0,
) -> ScaleSet:
    name = f"aks-{pool}-12345678-vmss"
    rg = f"MC_rg-{cluster}_{cluster}_westeurope"
    insts = tuple(
        Instance(
            id=f"/subscriptions/{SUB1}/resourceGroups/{rg}/providers/Microsoft.Compute/"
            f"virtualMachineScaleSets/{name}/virtualMachines/{i}",
            instance_id=str(i),
            computer_name=f"{name}{i:06d}",
            latest_model_applied=i >= stale,
        )
        for i in range(n)
    )
    exts = (
        (Extension(name=ext, publisher="Microsoft.EnterpriseCloud.Monitoring", type=ext),)
        if ext
        else ()
    )
    return ScaleSet(
        id=f"/subscriptions/{SUB1}/resourceGroups/{rg}/providers/Microsoft.Compute/"
        f"virtualMachineScaleSets/{name}",
        name=name,
        pool=pool,
        os=os,
        os_sku=sku,
        upgrade_mode="Manual",
        instances=insts,
        extensions=exts,
    )


def _cluster(name: str, sub: str, sets: tuple[ScaleSet, ...], mon: Monitoring) -> Cluster:
    return Cluster(
        id=f"/subscriptions/{sub}/resourceGroups/rg-{name}/providers/"
        f"Microsoft.ContainerService/managedClusters/{name}",
        name=name,
        subscription_id=sub,
        resource_group=f"rg-{name}",
        location="westeurope",
        node_resource_group=f"MC_rg-{name}_{name}_westeurope",
        kubernetes_version="1.32.6",
        monitoring=mon,
        scale_sets=sets,
        complete=True,
    )


WORKSPACE = Workspace(
    id=f"/subscriptions/{SUB1}/resourceGroups/rg-logs/providers/"
    "Microsoft.OperationalInsights/workspaces/law-security",
    name="law-security",
    customer_id="0f0e0d0c-0b0a-0908-0706-050403020100",
    location="westeurope",
    resource_group="rg-logs",
    subscription_id=SUB1,
)
# A second workspace, in no cluster's region: never a default, so a walk that sends a cluster
# there has picked it (tui_walk checks Review shows each cluster's own workspace).
ARCHIVE = Workspace(
    id=f"/subscriptions/{SUB1}/resourceGroups/rg-archive/providers/"
    "Microsoft.OperationalInsights/workspaces/law-archive",
    name="law-archive",
    customer_id="1f1e1d1c-1b1a-1918-1716-151413121110",
    location="northeurope",
    resource_group="rg-archive",
    subscription_id=SUB1,
)
CLUSTERS = (
    _cluster(
        "aks-prod",
        SUB1,
        (
            _vmss("aks-prod", "agentpool", 3, "Ubuntu2204"),
            _vmss("aks-prod", "win", 1, "Windows2022", os="Windows"),
        ),
        Monitoring(
            addon_enabled=True,
            workspace_id=WORKSPACE.id,
            syslog_enabled=True,
            syslog=(SyslogCollection("sysLogsDataSource", ("authpriv", "auth"), ("Info",)),),
        ),
    ),
    _cluster(
        "aks-[dev]",  # markup-looking user data must show literally
        SUB2,
        (_vmss("aks-[dev]", "agentpool", 2, "AzureLinux3", ext="OmsAgentForLinux", stale=1),),
        Monitoring(),
    ),
)


def node_names(cluster: Cluster) -> list[tuple[str, str, str]]:
    return [
        (i.computer_name, s.pool, s.os_sku or s.os) for s in cluster.scale_sets for i in s.instances
    ]


class FakeRecord:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan


class FakeJournal:
    def __init__(
        self, runs: list[RunSummary] | None = None, plans: dict[str, Plan] | None = None
    ) -> None:
        self.runs = runs or []
        self.plans = plans or {}

    def list_runs(self) -> list[RunSummary]:
        return list(self.runs)

    def load(self, run_id: str) -> Any:
        if run_id in self.plans:
            return FakeRecord(self.plans[run_id])
        raise UsageError(f'no run "{run_id}" in the fake journal')  # as Journal.load says it


class FakeEngine:
    """Emits a fixed discovery, review, run, verify and status."""

    # Real Azure, no token; the kubeconfig names a context for aks-prod only (the start screen
    # reads it); nothing here is ever contacted.
    settings = CloudSettings(
        kubeconfig=str(Path(__file__).parent / "fixtures" / "tui-kubeconfig.yaml")
    )

    def __init__(
        self,
        *,
        runs: list[RunSummary] | None = None,
        leftovers: int = 0,
        verify_ok: bool = True,
        hold_run: bool = False,
        plans: dict[str, Plan] | None = None,
        recorded: bool = False,
    ) -> None:
        self.journal = FakeJournal(runs, plans)
        self.recorded = recorded  # a colleague's record in the last cluster (remove flow)
        self.removed_undo: list[Any] = []  # each remove's log-path undo (None: the journal's)
        self.removed: list[tuple[Plan, bool]] = []  # remove runs started: (plan, log path too)
        self._leftovers = leftovers
        self.verify_ok = verify_ok
        self.hold_run = hold_run
        # The App awaits runs on its engine thread's loop: a thread-safe event the test sets.
        self.release = threading.Event()

    async def discover(self, subscription: str | None = None) -> AsyncIterator[Event]:
        yield SubscriptionFound(Subscription(SUB1, "prod-subscription"))
        yield SubscriptionFound(Subscription(SUB2, "dev-subscription"))
        for c in CLUSTERS:
            yield ClusterFound(c)
        yield WorkspaceFound(WORKSPACE)
        yield WorkspaceFound(ARCHIVE)
        yield DiscoveryDone(2, len(CLUSTERS), 2, 0)

    async def pin_image(self, plan: Plan) -> Plan:
        return plan  # no registry here: the image counts as pinned (Engine.pin_image resolves)

    async def review(self, plan: Plan) -> list[PlannedChange]:
        out = []
        for c in plan.clusters:
            out += [
                PlannedChange(
                    c.name, "access", f"kube context {c.context} matches", "already done"
                ),
                PlannedChange(
                    c.name,
                    "log-path",
                    f"Container Insights syslog collects {plan.facility}.{plan.severity}",
                    "already done",
                ),
                PlannedChange(
                    c.name, "delivery", f"keeper DaemonSet in {plan.namespace}", "will change"
                ),
            ]
        return out

    def run_events(self, plan: Plan) -> list[Event]:
        steps = ("access", "log-path", "delivery")
        evs: list[Event] = [RunStarted(RUN_ID, tuple(c.name for c in plan.clusters), steps)]
        for ct in plan.clusters:
            cluster = next(c for c in CLUSTERS if c.name == ct.name)
            nodes = node_names(cluster)
            for step in steps:
                evs.append(StepStarted(RUN_ID, ct.name, step, step.replace("-", " ").title()))
                evs.append(StepLog(RUN_ID, ct.name, step, f"{step}: probing [bold]{ct.name}[/]"))
                if step == "delivery":
                    for i, (node, pool, os) in enumerate(nodes):
                        win = os.startswith("Windows")
                        evs.append(
                            NodeUpdate(
                                RUN_ID,
                                ct.name,
                                node,
                                pool,
                                os,
                                "skipped" if win else "compliant",
                                None if win else "3.0.7",
                                "skipped: Windows node" if win else "ok",
                            )
                        )
                        evs.append(StepLog(RUN_ID, ct.name, step, f"{node}: ok", node=node))
                        evs.append(StepProgress(RUN_ID, ct.name, step, i + 1, len(nodes)))
                evs.append(
                    StepFinished(RUN_ID, ct.name, step, "already" if step != "delivery" else "done")
                )
        evs.append(RunFinished(RUN_ID, "ok", "all nodes compliant"))
        return evs

    async def apply(
        self, plan: Plan, on_event: Callable[[Event], None], cancel: asyncio.Event
    ) -> RunResult:
        evs = self.run_events(plan)
        for ev in evs[:-1]:
            on_event(ev)
        if self.hold_run:
            await asyncio.to_thread(self.release.wait)
        on_event(evs[-1])
        return RunResult(RUN_ID, "ok", "all nodes compliant")

    async def recorded_clusters(
        self, cluster: str | None = None, *, subscription: str | None = None
    ) -> RecordScan:
        if not self.recorded:
            return RecordScan(clusters=(), unrecorded=tuple(c.name for c in CLUSTERS))
        return RecordScan(clusters=(fake_recorded(),), unrecorded=(CLUSTERS[0].name,))

    def removal_from_record(
        self, cluster: RecordedCluster, image: str | None = None
    ) -> RecordedRemoval:
        return removal_for(cluster, image)  # pure: builds the plan from the record

    async def review_remove(
        self,
        plan: Plan,
        *,
        include_log_path: bool = False,
        undo: Any = None,
    ) -> list[PlannedChange]:
        out = []
        for c in plan.clusters:
            out += [
                PlannedChange(
                    c.name, "access", f"kube context {c.context} matches", "already done"
                ),
                PlannedChange(
                    c.name,
                    "delivery",
                    f"run the node script (remove) on every Linux node; delete the keeper "
                    f"DaemonSet, ConfigMap and namespace {plan.namespace}",
                    "will change",
                ),
            ]
            if include_log_path:
                out.append(PlannedChange(c.name, "log-path", "undo: dcr-facility", "will change"))
        return out

    async def remove(
        self,
        plan: Plan,
        on_event: Callable[[Event], None],
        include_log_path: bool = False,
        cancel: asyncio.Event | None = None,
        undo: Any = None,
    ) -> RunResult:
        self.removed.append((plan, include_log_path))
        self.removed_undo.append(undo)
        steps = ("access", "delivery", "log-path")
        on_event(RunStarted(RUN_ID, tuple(c.name for c in plan.clusters), steps))
        for ct in plan.clusters:
            cluster = next(c for c in CLUSTERS if c.name == ct.name)
            for step in steps:
                on_event(StepStarted(RUN_ID, ct.name, step, step))
                if step == "delivery":
                    for node, pool, os in node_names(cluster):
                        win = os.startswith("Windows")
                        phase = "skipped" if win else "removed"
                        on_event(NodeUpdate(RUN_ID, ct.name, node, pool, os, phase, None, phase))
                done = step != "log-path" or include_log_path
                on_event(StepFinished(RUN_ID, ct.name, step, "done" if done else "skipped"))
        on_event(RunFinished(RUN_ID, "ok", "every node restored"))
        return RunResult(RUN_ID, "ok", "every node restored")

    async def resume(
        self, run_id: str | None, on_event: Callable[[Event], None], cancel: asyncio.Event
    ) -> RunResult:
        raise NotImplementedError

    async def verify(
        self,
        plan_or_run: Any,
        since: timedelta,
        on_event: Callable[[Event], None],
        deadline_s: float,
        cancel: asyncio.Event | None = None,
    ) -> VerifyReport:
        verdicts = []
        skipped = []
        names = [c.name for c in plan_or_run.clusters] if isinstance(plan_or_run, Plan) else []
        for c in CLUSTERS:
            if names and c.name not in names:
                continue
            for node, _pool, os in node_names(c):
                if os.startswith("Windows"):
                    skipped.append(NodeVerdict(c.name, node, False, reason="Windows node"))
                    continue
                ok = self.verify_ok or not node.endswith("1")
                v = NodeVerdict(
                    c.name,
                    node,
                    ok,
                    7 if ok else 0,
                    "2026-11-27T07:59:00Z" if ok else None,
                    "" if ok else "auditd is not running on the node",
                )
                verdicts.append(v)
        on_event(VerifyWaiting(RUN_ID, 0, len(verdicts), 60.0))
        for v in verdicts:
            on_event(
                NodeArrival(RUN_ID, v.cluster, v.node, v.arrived, v.records, v.last_seen, v.reason)
            )
        return VerifyReport(tuple(verdicts), tuple(skipped), 3.0, 2)

    async def status(self, cluster_name: str | None = None, **_kw: Any) -> StatusReport:
        clusters = []
        for c in CLUSTERS:
            if cluster_name and c.name != cluster_name:
                continue
            rows = []
            for node, pool, os in node_names(c):
                if os.startswith("Windows"):
                    rows.append(
                        NodeRow(
                            node, pool, os, skipped_reason="Windows node", state="skipped",
                            reason="Windows node",
                        )
                    )  # fmt: skip
                    continue
                drift = node.endswith("1")
                rows.append(
                    NodeRow(
                        node,
                        pool,
                        os,
                        "3.0.7",
                        True,
                        "authpriv",
                        not drift,
                        True,
                        "2026-11-27T07:59:00Z",
                        state="drift" if drift else "covered",
                        reason="rules differ from what was applied"
                        if drift
                        else "heartbeat 1 min ago",
                        fix="aksaudit apply plan.yaml" if drift else "",
                        last_heartbeat="2026-11-27T07:59:00Z",
                    )
                )
            clusters.append(
                ClusterCoverage(
                    c.name,
                    tuple(rows),
                    log_path="container-insights",
                    subscription=c.subscription_id,
                    enabled=True,
                    enabled_by="alice@contoso.com",
                    applied_at="2026-11-27T07:00:00+00:00",
                    delivery="keeper",
                    workspace="law-security",
                    last_heartbeat="2026-11-27T07:59:00Z",
                    hourly=tuple((i * 7) % 11 + (0 if i in (15, 16) else 5) for i in range(24)),
                )
            )
        return StatusReport(tuple(clusters), "2026-11-27T08:00:00Z")

    async def leftovers(self, plan: Plan | None = None) -> list[Leftover]:
        return [
            Leftover(
                "aks-prod", "Pod", "aksaudit-system", f"aksaudit-oneshot-{i}", RUN_ID, "oneshot"
            )
            for i in range(self._leftovers)
        ]

    async def cleanup(
        self, dry_run: bool = False, confirmed: Sequence[Leftover] | None = None
    ) -> list[Leftover]:
        found = await self.leftovers()
        self._leftovers = 0
        return found


def fixed_runs() -> list[RunSummary]:
    return [
        RunSummary(RUN_ID, ("aks-prod",), "delivery", "2026-11-27T07:00:00Z", "interrupted"),
    ]


APPLIED_ID = "20261126T070000Z-def456"


def fixed_plan(*names: str) -> Plan:
    """A plan for the named fixed clusters (what an apply run's journal holds)."""
    return Plan(
        clusters=tuple(
            ClusterTarget(
                name=c.name,
                id=c.id,
                subscription_id=c.subscription_id,
                resource_group=c.resource_group,
                node_resource_group=c.node_resource_group,
                location=c.location,
            )
            for c in CLUSTERS
            if c.name in names
        ),
        workspace=WorkspaceRef(
            name=WORKSPACE.name,
            id=WORKSPACE.id,
            customer_id=WORKSPACE.customer_id,
            resource_group=WORKSPACE.resource_group,
            subscription_id=WORKSPACE.subscription_id,
            location=WORKSPACE.location,
        ),
    )


def applied_runs() -> list[RunSummary]:
    """``fixed_runs`` and a finished apply of both clusters (what the remove flow offers)."""
    return [
        *fixed_runs(),
        RunSummary(
            APPLIED_ID, tuple(c.name for c in CLUSTERS), "verify", "2026-11-26T07:00:00Z", "ok"
        ),
    ]


FAKE_RULE = (
    f"/subscriptions/{CLUSTERS[-1].subscription_id}/resourceGroups/{CLUSTERS[-1].resource_group}"
    f"/providers/Microsoft.Insights/dataCollectionRules/MSCI-{CLUSTERS[-1].name}"
)


def fake_recorded() -> RecordedCluster:
    """The last fixed cluster, enabled by a colleague from another machine (its record)."""
    c = CLUSTERS[-1]
    target = fixed_plan(c.name).clusters[0]
    record = sample_record(
        workspace_id=WORKSPACE.customer_id,
        workspace_name=WORKSPACE.name,
        workspace_resource_id=WORKSPACE.id,
        tool_version="0.1.0",
        run_id="20261125T093000Z-abc999",
        image="mcr.microsoft.com/azurelinux/busybox@sha256:" + "3" * 64,
        log_path_undo=(f"dcr-flow|{FAKE_RULE}",),
    )
    ws = fixed_plan(c.name).workspace_for(target)
    # discovery found the Container Insights rule associated with the cluster (so its flow
    # token is the cluster's own)
    return RecordedCluster(target, record, ws, rule_ids=(FAKE_RULE,))


def fixed_plans() -> dict[str, Plan]:
    return {RUN_ID: fixed_plan("aks-prod"), APPLIED_ID: fixed_plan(*(c.name for c in CLUSTERS))}
