"""Keepers an earlier plan left in another namespace, found and retired.

After a namespace change (an apply with another ``namespace``) a cluster holds the new keeper and
the one the earlier plan put in its own namespace: its DaemonSet, node script ConfigMap,
``aksaudit-applied`` record and fenced namespace. Left there, the older keeper goes on
re-applying its own script as root on every node, even after a remove of the newer one (which
restores the nodes and deletes only its own namespace). So an apply, once the nodes are
configured and recorded (the new record has taken over the older one's undo tokens), and a
remove, before it restores the nodes, retire every keeper of ours outside the plan's namespace.

Trust: only in a namespace aksaudit created (our label and the plan-sha256 annotation apply puts
on it) and never in a system namespace; a keeper or record found anywhere else is left as it is
and said in one line (the namespace is someone else's, and so is deleting in it). Objects go only
when they carry our label (``KubeClient.delete_owned``); the namespace goes last, with its fence,
only when no pod of ours is left in it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.record import ONESHOT_RECORD_NAMESPACE, RECORD_CONFIGMAP, RECORD_SELECTOR

if TYPE_CHECKING:  # the kubernetes client loads only when a step first needs it (~1 s)
    from aksaudit_tui.nodes.kube import KubeClient

# The cluster's own namespaces: aksaudit never creates a keeper there, nor deletes in them.
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})
KEEPER_GONE_S = 120.0  # how long the keeper's pods may take to go (grace period, node lag)


@dataclass(frozen=True)
class OlderKeepers:
    """Namespaces of ours holding a keeper or a keeper's record outside the plan's namespace,
    and one line per such object found where aksaudit never deletes (left as it is)."""

    namespaces: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()

    def changes(self) -> list[str]:
        """One line per namespace to retire, for a review."""
        return [
            f"delete the keeper an earlier plan left in namespace {ns} (DaemonSet, node script, "
            "record, the namespace and its fence)"
            for ns in self.namespaces
        ]


def owned_namespace(namespace: Mapping[str, Any] | None) -> bool:
    """Whether a namespace carries our label and the plan-sha256 annotation apply puts on it."""
    meta = (namespace or {}).get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    return labels.get(m.LABEL_MANAGED_BY) == m.MANAGED_BY_VALUE and bool(
        annotations.get(m.ANNOTATION_PLAN_SHA)
    )


async def find(kube: KubeClient, keep: str) -> OlderKeepers:
    """Read only: the namespaces other than ``keep`` holding a keeper DaemonSet of ours or a
    keeper's record (one-shot records live in kube-system: not a keeper's)."""
    daemonsets, records = await asyncio.gather(
        kube.list_daemonsets(m.KEEPER_SELECTOR), kube.list_configmaps(RECORD_SELECTOR)
    )
    where = {
        str(o["metadata"].get("namespace", ""))
        for o in daemonsets
        if o["metadata"].get("name") == m.KEEPER_NAME and not o["metadata"].get("deletionTimestamp")
    }
    where |= {
        ns
        for o in records
        if o["metadata"].get("name") == RECORD_CONFIGMAP
        and (ns := str(o["metadata"].get("namespace", ""))) != ONESHOT_RECORD_NAMESPACE
    }
    where.discard(keep)
    where.discard("")
    ours: list[str] = []
    refused: list[str] = []
    for ns in sorted(where):
        if ns in SYSTEM_NAMESPACES:
            refused.append(
                f"left the aksaudit keeper objects in the system namespace {ns} as they are: "
                "aksaudit never puts a keeper there (delete them by hand if they are yours)"
            )
        elif not owned_namespace(await kube.get_namespace(ns)):
            refused.append(
                f"left the aksaudit keeper objects in namespace {ns} as they are: the namespace "
                "is not one aksaudit created (no aksaudit label and plan annotation)"
            )
        else:
            ours.append(ns)
    return OlderKeepers(tuple(ours), tuple(refused))


async def stop_keeper(kube: KubeClient, namespace: str) -> bool:
    """Delete the keeper DaemonSet of ``namespace`` and wait (at most ``KEEPER_GONE_S``) for
    its pods to go, so none re-applies meanwhile; False when there was none of ours."""
    if not await kube.delete_owned("daemonset", namespace, m.KEEPER_NAME):
        return False
    end = time.monotonic() + KEEPER_GONE_S
    while time.monotonic() < end:
        pods, _ = await kube.list_pods(namespace, m.KEEPER_SELECTOR)
        if not pods:
            break
        await asyncio.sleep(0.25)
    return True


async def retire(kube: KubeClient, found: OlderKeepers) -> list[str]:
    """Delete what :func:`find` found: per namespace the keeper (waiting for its pods), its
    node script and record ConfigMaps, then the namespace and its fence when no pod of ours is
    left there. One line per namespace retired."""
    lines: list[str] = []
    for ns in found.namespaces:
        await stop_keeper(kube, ns)
        await kube.delete_owned("configmap", ns, m.SCRIPT_CONFIGMAP)
        await kube.delete_owned("configmap", ns, RECORD_CONFIGMAP)
        left, _ = await kube.list_pods(ns, m.MANAGED_SELECTOR)
        if not left and await kube.delete_owned("namespace", "", ns):
            await kube.wait_namespace_gone(ns)
            lines.append(f"deleted the keeper, record and namespace {ns} an earlier plan left")
        else:
            lines.append(
                f"deleted the keeper and record an earlier plan left in namespace {ns} (the "
                f"namespace stays: {len(left)} pod(s) of ours still in it)"
                if left
                else f"deleted the keeper and record an earlier plan left in namespace {ns}"
            )
    return lines
