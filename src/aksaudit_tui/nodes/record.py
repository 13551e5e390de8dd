"""What was applied to a cluster, recorded in the cluster itself (ConfigMap ``aksaudit-applied``),
so any machine can read coverage without this machine's journal.

Where: with a keeper, in our namespace beside it; with one-shot delivery, whose namespace is
deleted when the run ends (nothing privileged stays), in ``kube-system``. The ConfigMap carries
the label ``aksaudit.io/role=record``, so a reader finds it with one cluster-wide list whatever
namespace a plan chose.

Written by apply with the delivery; read by ``status`` (get only) and by a remove run from any
machine (``engine/recorded.py``), which deletes it. It holds names and hashes,
never a secret: the plan hash, presets and the rules hash, facility/severity, log path,
workspace, node script sha, tool version, when, and who (the identity's name), the pods' image
and the log path's undo tokens (ids and earlier values only, so another machine can remove it;
``cloud/logpaths/undo.py`` says which tokens may be kept here). The keeper's pods
carry the script sha too, so status can tell a node that runs another configuration (drift).

One JSON document under one key keeps the shape versioned (``"v": 1``) and easy to read by
hand: ``kubectl -n aksaudit-system get cm aksaudit-applied -o jsonpath='{.data.applied\\.json}'``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from aksaudit_tui.nodes import manifests as m

RECORD_CONFIGMAP = "aksaudit-applied"
RECORD_KEY = "applied.json"
RECORD_VERSION = 1
RECORD_ROLE = "record"
RECORD_SELECTOR = f"{m.MANAGED_SELECTOR},{m.LABEL_ROLE}={RECORD_ROLE}"
ONESHOT_RECORD_NAMESPACE = "kube-system"


@dataclass(frozen=True)
class AppliedRecord:
    """One cluster's applied configuration (see the module docstring)."""

    plan_hash: str
    presets: tuple[str, ...]
    rules_sha256: str
    facility: str
    severity: str
    log_path: str
    workspace_id: str  # the workspace's customer id (what the query API takes)
    workspace_name: str
    workspace_resource_id: str
    script_sha256: str
    delivery: str  # keeper | one-shot
    keeper_interval_s: int
    tool_version: str
    applied_at: str  # ISO 8601, UTC
    applied_by: str  # an identity's name (user principal, app id, or user@host); no secret
    run_id: str
    custom_rules: bool = False
    namespace: str = m.DEFAULT_NAMESPACE
    extra: dict[str, str] = field(default_factory=dict)
    # What a remove from this record needs beyond the above (older records lack them):
    image: str = ""  # the pods' image (by digest), which the namespace's fence admits
    # the log path's undo tokens of every apply of ``log_path`` (names, ids, earlier values;
    # cloud/logpaths/undo.py decides which may be kept here), oldest first
    log_path_undo: tuple[str, ...] = ()
    # tokens kept only in the applying machine's journal, by kind and ids (undo.withheld)
    undo_withheld: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("presets", "log_path_undo", "undo_withheld"):
            d[key] = list(d[key])
        d["v"] = RECORD_VERSION
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppliedRecord | None:
        """The record, or None when ``data`` is not a version-1 record."""
        if not isinstance(data, dict) or data.get("v") != RECORD_VERSION:
            return None

        def s(key: str, default: str = "") -> str:
            v = data.get(key)
            return v if isinstance(v, str) else default

        interval = data.get("keeper_interval_s")
        extra = data.get("extra")
        return cls(
            plan_hash=s("plan_hash"),
            presets=words(data, "presets"),
            rules_sha256=s("rules_sha256"),
            facility=s("facility"),
            severity=s("severity"),
            log_path=s("log_path"),
            workspace_id=s("workspace_id"),
            workspace_name=s("workspace_name"),
            workspace_resource_id=s("workspace_resource_id"),
            script_sha256=s("script_sha256"),
            delivery=s("delivery", "keeper"),
            keeper_interval_s=interval
            if isinstance(interval, int) and not isinstance(interval, bool)
            else 300,
            tool_version=s("tool_version"),
            applied_at=s("applied_at"),
            applied_by=s("applied_by"),
            run_id=s("run_id"),
            custom_rules=data.get("custom_rules") is True,
            namespace=s("namespace", m.DEFAULT_NAMESPACE),
            extra={k: v for k, v in extra.items() if isinstance(v, str)}
            if isinstance(extra, dict)
            else {},
            image=s("image"),
            log_path_undo=words(data, "log_path_undo"),
            undo_withheld=words(data, "undo_withheld"),
        )


def words(data: dict[str, Any], key: str) -> tuple[str, ...]:
    """The strings of the list ``data[key]`` (shapes checked: read from a cluster or a file
    someone may have edited); nothing else."""
    v = data.get(key)
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()


def merged(records: Sequence[AppliedRecord]) -> AppliedRecord | None:
    """The newest record, holding the log-path undo of every record of its log path (oldest
    first): after a namespace change the older record's tokens are still the cluster's."""
    if not records:
        return None
    ordered = sorted(records, key=lambda r: r.applied_at)
    newest = ordered[-1]
    same = [r for r in ordered if r.log_path == newest.log_path]
    return replace(
        newest,
        log_path_undo=tuple(dict.fromkeys(t for r in same for t in r.log_path_undo)),
        undo_withheld=tuple(dict.fromkeys(t for r in same for t in r.undo_withheld)),
    )


def record_namespace(record: AppliedRecord) -> str:
    """Where the record lives: beside the keeper, or in kube-system for one-shot delivery."""
    return record.namespace if record.delivery == "keeper" else ONESHOT_RECORD_NAMESPACE


def record_configmap_manifest(record: AppliedRecord) -> dict[str, Any]:
    """The ConfigMap that carries ``record`` (labelled as ours and as the record)."""
    labels = m.labels(record.run_id, None)
    labels[m.LABEL_ROLE] = RECORD_ROLE
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": RECORD_CONFIGMAP,
            "namespace": record_namespace(record),
            "labels": labels,
            "annotations": {m.ANNOTATION_SCRIPT_SHA: record.script_sha256},
        },
        "data": {RECORD_KEY: json.dumps(record.to_json(), sort_keys=True, indent=1)},
    }


def parse_record(configmap: dict[str, Any] | None) -> AppliedRecord | None:
    """The record in a ConfigMap read from the API (None: absent, not ours, or unreadable)."""
    if not configmap:
        return None
    labels = (configmap.get("metadata") or {}).get("labels") or {}
    if labels.get(m.LABEL_MANAGED_BY) != m.MANAGED_BY_VALUE:
        return None
    text = (configmap.get("data") or {}).get(RECORD_KEY)
    if not isinstance(text, str):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return AppliedRecord.from_json(data)
