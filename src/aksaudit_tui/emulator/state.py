"""The emulator's in-memory world: what ARM, the query API and the kube API all read and change.

Shared by the ARM side and the Kubernetes side; one lock guards it (handlers are short).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


@dataclass
class EmulatorState:
    """Everything the emulator serves. ARM resources are kept as JSON bodies keyed by lower-cased
    ARM id; Kubernetes objects per cluster by the kube side."""

    state_dir: Path
    clusters: dict[str, SimCluster] = field(default_factory=dict)
    arm: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower(id) -> resource body
    kube: dict[str, Any] = field(default_factory=dict)  # cluster name -> kube-side store
    faults: list[dict[str, Any]] = field(default_factory=list)  # scripted by the scenario/tests
    lock: threading.RLock = field(default_factory=threading.RLock)
