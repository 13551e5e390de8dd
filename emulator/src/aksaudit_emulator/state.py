"""The emulator's in-memory world: what ARM, the query API and the kube API all read and change.

Shared by the ARM side and the Kubernetes side; one lock guards it (handlers are short).
ARM resources are JSON bodies keyed by lower-cased ARM id, with two indexes (children of a
collection, resources of a type per subscription) so lists stay cheap at 500 nodes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aksaudit_emulator.registry import Registry


def new_token() -> str:
    """The emulator's bearer token: random per start, so a leaked one dies with the process."""
    return secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def identity_token(secret: str, name: str) -> str:
    """A JWT-shaped bearer token for another signed-in person (claim ``upn``), signed with the
    emulator's token (HS256): the emulator accepts it like its own, and a client reads the
    name from its claims as from an Entra token. Lets a scenario have "someone else" act."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"upn": name, "name": name, "iss": "aksaudit-emulator"}).encode())
    signed = f"{header}.{claims}"
    sig = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64(sig)}"


def token_accepted(secret: str, presented: str) -> bool:
    """The emulator's own token, or one ``identity_token`` signed with it."""
    if secrets.compare_digest(presented.encode(), secret.encode()):
        return True
    signed, _, sig = presented.rpartition(".")
    if signed.count(".") != 1:
        return False
    want = _b64(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest())
    return secrets.compare_digest(sig.encode(), want.encode())


@dataclass
class SimNode:
    """One Kubernetes node backed by one scale-set instance."""

    name: str  # also the computer name / Syslog Computer
    cluster: str  # cluster name (unique in a scenario)
    pool: str
    os_sku: str  # Ubuntu2204 | Ubuntu2404 | AzureLinux3 | Ubuntu1804 | Flatcar | Windows2022
    arch: str  # amd64 | arm64
    vmss_name: str
    instance_id: str
    provider_id: str
    root: Path | None  # simulated host filesystem; None for Windows / virtual nodes
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    ready: bool = True
    virtual: bool = False
    ip: str = "10.224.0.4"
    mode: str = "User"  # System | User
    vm_size: str = "Standard_D4ds_v5"
    kernel_version: str = ""
    os_image: str = ""

    @property
    def is_linux(self) -> bool:
        return not self.os_sku.startswith("Windows")


@dataclass
class SimCluster:
    name: str
    subscription_id: str
    resource_group: str
    location: str
    node_resource_group: str
    nodes: dict[str, SimNode] = field(default_factory=dict)
    kubernetes_version: str = "1.32.6"
    restriction_level: str = "Unrestricted"  # ReadOnly = node resource group lockdown

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{self.name}"
        )


@dataclass
class Lro:
    """A long-running operation: done after ``polls`` status reads and ``seconds`` elapsed."""

    op_id: str
    subscription_id: str
    location: str
    resource_id: str  # what the final GET returns (PUT) or "" (POST/DELETE)
    started: float
    polls_needed: int
    seconds: float
    fail: bool = False
    polls: int = 0
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Canceled
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None  # body for the Location final GET (POST)
    on_done: Callable[[Lro], None] | None = None
    finished: float = 0.0  # monotonic time of the end state (finished ones are purged later)


@dataclass
class SyslogRow:
    """One row of the Syslog table; ``visible_at`` models the ingestion delay."""

    visible_at: float
    columns: dict[str, Any]


@dataclass
class EmulatorState:
    """Everything the emulator serves. ARM resources are kept as JSON bodies keyed by lower-cased
    ARM id; Kubernetes objects per cluster by the kube side.

    Built from a scenario by ``world.build_state``; the server's handlers read and write it on
    the loop thread, ``lock`` guards what other threads touch (tests, ingestion). Tests reach in
    to script ``faults``, read ``requests`` (calls per route) or flip a node's ``ready``."""

    state_dir: Path
    clusters: dict[str, SimCluster] = field(default_factory=dict)
    arm: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower(id) -> resource body
    kube: dict[str, Any] = field(default_factory=dict)  # cluster name -> kube-side store
    faults: list[dict[str, Any]] = field(default_factory=list)  # scripted by the scenario/tests
    lock: threading.RLock = field(default_factory=threading.RLock)
    token: str = field(default_factory=new_token, repr=False)
    registry: Registry = field(default_factory=Registry)  # the loopback OCI registry
    tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    page_size: int = 100
    latency_ms: dict[str, float] = field(default_factory=dict)  # arm | logs | kube -> ms
    lro_polls: int = 1  # status reads answering InProgress before the end state
    lro_seconds: float = 0.0
    ingestion_delay_s: float = 2.0
    ingestion_interval_s: float = 2.0
    scenario: dict[str, Any] = field(default_factory=dict)
    # indexes over ``arm``
    children: dict[str, dict[str, None]] = field(default_factory=dict)  # lower(collection) -> ids
    by_type: dict[tuple[str, str], dict[str, None]] = field(default_factory=dict)  # (sub, type)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # protectedSettings etc.
    model_gen: dict[str, int] = field(default_factory=dict)  # lower(vmss or vm id) -> generation
    lros: dict[str, Lro] = field(default_factory=dict)
    shared_keys: dict[str, dict[str, str]] = field(default_factory=dict)  # lower(ws id) -> keys
    syslog: dict[str, list[SyslogRow]] = field(default_factory=dict)  # customerId -> rows
    syslog_feeds: dict[str, list[str]] = field(default_factory=dict)  # node -> last real lines
    # node -> watched file -> mtime_ns when last ingested (a newer write = one record)
    watched_seen: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)  # "METHOD route" -> count
    started_at: float = field(default_factory=time.time)
    version: int = 0  # bumped on every ARM change; GET answers are cached per version
    cache_responses: bool = True
    buckets: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)  # ARM quota
    response_cache: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    # Resource Graph: monotonic times of the calls in the quota window; its tables and query
    # results per state version (later pages slice the same answer; see arm/resourcegraph.py)
    graph_calls: list[float] = field(default_factory=list)
    graph_results: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    # hook: read a node root -> NodeAuditState-like object (injectable for tests)
    audit_reader: Callable[[Path], Any] | None = None

    # ---- ARM store -------------------------------------------------------------------------

    def put(self, rid: str, body: dict[str, Any]) -> None:
        """Store a resource body under its id and index it."""
        key = rid.lower()
        with self.lock:
            self.version += 1
            self.arm[key] = body
            parent = key.rsplit("/", 1)[0]
            self.children.setdefault(parent, {})[key] = None
            sub = _sub_of(key)
            rtype = str(body.get("type", "")).lower()
            if sub and rtype:
                self.by_type.setdefault((sub, rtype), {})[key] = None

    def touch(self) -> None:
        """Say that ARM state changed in place (drops cached GET answers)."""
        with self.lock:
            self.version += 1

    def get(self, rid: str) -> dict[str, Any] | None:
        """The stored body of an ARM id (any case), or None."""
        return self.arm.get(rid.lower())

    def delete(self, rid: str) -> dict[str, Any] | None:
        """Remove a resource and everything under its id; the removed body, or None."""
        key = rid.lower()
        with self.lock:
            self.version += 1
            body = self.arm.pop(key, None)
            if body is None:
                return None
            parent = key.rsplit("/", 1)[0]
            self.children.get(parent, {}).pop(key, None)
            sub = _sub_of(key)
            rtype = str(body.get("type", "")).lower()
            self.by_type.get((sub, rtype), {}).pop(key, None)
            self.secrets.pop(key, None)
            # drop descendants (extensions of a deleted scale set, associations, ...)
            prefix = key + "/"
            for child in [k for k in self.arm if k.startswith(prefix)]:
                self.delete(child)
            return body

    def list_children(self, collection: str) -> list[dict[str, Any]]:
        """The bodies directly under a collection id (e.g. ``{vmss id}/extensions``)."""
        ids = list(self.children.get(collection.lower().rstrip("/"), {}))
        return [self.arm[i] for i in ids if i in self.arm]

    def list_type(self, subscription_id: str, rtype: str) -> list[dict[str, Any]]:
        """Every body of one resource type in a subscription."""
        ids = list(self.by_type.get((subscription_id.lower(), rtype.lower()), {}))
        return [self.arm[i] for i in ids if i in self.arm]

    def list_type_everywhere(self, rtype: str) -> list[dict[str, Any]]:
        """Every body of one resource type, in every subscription."""
        want = rtype.lower()
        keys = [k for k in list(self.by_type) if k[1] == want]
        return [self.arm[i] for k in keys for i in list(self.by_type.get(k, {})) if i in self.arm]

    # ---- nodes -----------------------------------------------------------------------------

    def node(self, name: str) -> SimNode | None:
        """A simulated node by name, in whichever cluster holds it."""
        for cluster in self.clusters.values():
            found = cluster.nodes.get(name)
            if found is not None:
                return found
        return None

    def all_nodes(self) -> list[SimNode]:
        """Every simulated node of every cluster (Windows and virtual ones included)."""
        return [n for c in self.clusters.values() for n in c.nodes.values()]

    def feed_syslog(self, node_name: str, lines: list[str]) -> int:
        """Real audisp syslog lines (RFC 3164/5424 or bare messages) logged on one node now.

        They are routed at once, as the node's agent would forward them: to every workspace
        the node's log path reaches at this moment (lines logged while no path holds are lost),
        visible after the ingestion delay. Returns the rows added."""
        from aksaudit_emulator import ingestion  # ingestion imports this module

        node = self.node(node_name)
        if node is None:
            raise ValueError(f"no emulated node named {node_name!r}")
        with self.lock:
            return ingestion.ingest_feed(self, node, list(lines))

    def syslog_rows(self, customer_id: str) -> list[SyslogRow]:
        with self.lock:
            return list(self.syslog.get(customer_id.lower(), []))


def _sub_of(key: str) -> str:
    parts = key.split("/")
    if len(parts) > 2 and parts[1] == "subscriptions":
        return parts[2]
    return ""
