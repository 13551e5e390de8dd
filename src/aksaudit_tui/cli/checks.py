"""Every flag and file is checked before the first network call.

A command handler calls these first, then :func:`cloud_settings` (endpoints, CA bundle,
kubeconfig, state dir), then :func:`signed_in` (is any sign-in source configured?), and only
then talks to Azure or a cluster. Each check raises ``UsageError`` (exit 2) with one line that
names the flag and the valid values. Plan flags are validated by the plan file's own
validator (``plan_io``) on a provisional plan, so a flag and a plan key can never disagree.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from aksaudit_tui.cloud.credentials import require_sign_in
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.errors import UsageError

if TYPE_CHECKING:
    from aksaudit_tui.engine.plan import Plan

# Stand-ins for what only discovery can resolve (never sent anywhere: the provisional plan is
# validated and dropped).
_NO_SUB = "00000000-0000-0000-0000-000000000000"


def cloud_settings(args: argparse.Namespace) -> CloudSettings:
    """Settings from flags and env; file flags must name files that exist."""
    settings = CloudSettings.from_env_and_args(args)
    kubeconfig = getattr(args, "kubeconfig", None)
    if kubeconfig and not Path(kubeconfig).expanduser().is_file():
        raise UsageError(f"--kubeconfig: no such file: {kubeconfig}")
    state_dir = getattr(args, "state_dir", None)
    if state_dir and Path(state_dir).expanduser().exists() and not Path(state_dir).is_dir():
        raise UsageError(f"--state-dir: not a directory: {state_dir}")
    return settings


def signed_in(settings: CloudSettings) -> CloudSettings:
    """``settings`` if some sign-in source is configured; ``NotSignedInError`` (exit 1) if not."""
    require_sign_in(settings)
    return settings


def positive_seconds(flag: str, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UsageError(f"{flag} must be a number of seconds above 0, got {value:g}")
    return value


def kube_contexts(items: list[str]) -> dict[str, str]:
    contexts: dict[str, str] = {}
    for item in items:
        name, sep, ctx = item.partition("=")
        if not sep or not name or not ctx:
            raise UsageError(f'--kube-context "{item}": use CLUSTER=CONTEXT')
        contexts[name] = ctx
    return contexts


def workspace_flags(items: list[str]) -> tuple[str | None, dict[str, str]]:
    """``--workspace WS`` (every cluster; at most once) and ``--workspace CLUSTER=WS`` (one
    cluster's) apart. A name, workspace ID or ARM id never holds "=", so the form is plain."""
    overall: str | None = None
    per_cluster: dict[str, str] = {}
    for item in items:
        name, sep, ws = item.partition("=")
        if not sep:
            if overall is not None and overall != item:
                raise UsageError(
                    f"--workspace given twice ({overall}, {item}); "
                    "for one cluster use --workspace CLUSTER=WORKSPACE"
                )
            if not item.strip():
                raise UsageError("--workspace must not be empty")
            overall = item
            continue
        if not name or not ws:
            raise UsageError(f'--workspace "{item}": use WORKSPACE or CLUSTER=WORKSPACE')
        if per_cluster.get(name, ws) != ws:
            raise UsageError(f"--workspace {name}=...: given twice ({per_cluster[name]}, {ws})")
        per_cluster[name] = ws
    return overall, per_cluster


def preset_list(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def plan_flags(args: argparse.Namespace) -> None:
    """Validate ``aksaudit plan``'s choices exactly as a plan file's would be, offline."""
    from aksaudit_tui.engine import plan_io
    from aksaudit_tui.engine.plan import (
        DEFAULT_CONCURRENCY,
        DEFAULT_IMAGE,
        DEFAULT_NAMESPACE,
        DEFAULT_PRESETS,
        ClusterTarget,
        Plan,
        WorkspaceRef,
    )

    kube_contexts(args.kube_context)
    workspace_flags(args.workspace)
    if args.concurrency is not None and not 1 <= args.concurrency <= 1000:
        raise UsageError(f"--concurrency must be a whole number 1..1000, got {args.concurrency}")
    for flag, value in (("--namespace", args.namespace), ("--image", args.image)):
        if value is not None and not value.strip():
            raise UsageError(f"{flag} must not be empty")
    presets = preset_list(args.presets)
    custom = str(Path(args.custom_rules).expanduser().resolve()) if args.custom_rules else None
    rg = f"/subscriptions/{_NO_SUB}/resourceGroups/rg/providers"
    provisional: Plan = Plan(
        clusters=tuple(
            ClusterTarget(
                name=name,
                id=f"{rg}/Microsoft.ContainerService/managedClusters/{name}",
                subscription_id=_NO_SUB,
                resource_group="rg",
                node_resource_group="rg-nodes",
            )
            for name in dict.fromkeys(args.cluster)  # a repeated --cluster is harmless
        ),
        workspace=WorkspaceRef(
            name="ws",
            id=f"{rg}/Microsoft.OperationalInsights/workspaces/ws",
            customer_id=_NO_SUB,
        ),
        log_path=args.log_path,
        presets=tuple(presets) if presets is not None else DEFAULT_PRESETS,
        custom_rules_file=custom,
        facility=args.facility,
        severity=args.severity,
        delivery=args.delivery,
        namespace=args.namespace or DEFAULT_NAMESPACE,
        image=args.image or DEFAULT_IMAGE,
        concurrency=args.concurrency or DEFAULT_CONCURRENCY,
    )
    try:
        plan_io.loads(plan_io.dumps(provisional), name="plan")
    except UsageError as exc:
        # "plan:12: unknown facility ..." -> the line number means nothing for a flag
        head, sep, rest = str(exc).partition(": ")
        raise UsageError(rest if sep and head.startswith("plan:") else str(exc)) from None
