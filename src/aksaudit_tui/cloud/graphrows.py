"""Resource Graph rows -> the inventory model, exactly as the ARM walk would build it.

No I/O. ``GraphIndex.build`` files the rows of ``resourcegraph.QUERIES`` by what discovery looks
them up by (scale sets per node resource group, instances per scale set, rules per id and per
resource group, the Container Insights association per cluster); ``scale_sets`` and
``monitoring`` then answer for one cluster through the same parsers the walk uses
(``parse.py``), so both ways give the same ``Cluster``. What the rows cannot answer (a rule
outside the subscriptions queried) is named, for the caller to read from ARM.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aksaudit_tui.cloud.arm import ArmId, props
from aksaudit_tui.cloud.models import Instance, Monitoring, ScaleSet
from aksaudit_tui.cloud.parse import (
    POOL_TAG,
    is_msci_name,
    parse_extension,
    parse_instance,
    parse_monitoring,
    parse_scale_set,
    pool_of,
    with_rule,
)

if TYPE_CHECKING:
    from aksaudit_tui.cloud.resourcegraph import PerQuery

_WORKSPACE = "microsoft.operationalinsights/workspaces"
_RULE = "microsoft.insights/datacollectionrules"


def _key(*parts: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in parts)


def scale_set_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an ARM scale-set body ``parse_scale_set`` and ``pool_of`` read, from the
    compact row of ``resourcegraph.SCALE_SETS``."""
    vm_profile: dict[str, Any] = {"storageProfile": {"osDisk": {"osType": row.get("osType")}}}
    if row.get("windows"):
        vm_profile["osProfile"] = {"windowsConfiguration": {"provisionVMAgent": True}}
    return {
        "id": row.get("id"),
        "name": row.get("name"),
        "location": row.get("location"),
        "tags": {POOL_TAG: row["pool"]} if row.get("pool") else {},
        "properties": {
            "upgradePolicy": {"mode": row.get("upgradeMode")} if row.get("upgradeMode") else {},
            "virtualMachineProfile": vm_profile,
        },
    }


def instance_body(scale_set_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of ``resourcegraph.INSTANCES``' list as an ARM instance body."""
    p: dict[str, Any] = {"osProfile": {"computerName": item.get("c")}}
    if item.get("l") is not None:
        p["latestModelApplied"] = bool(item.get("l"))
    iid = str(item.get("i") or "")
    return {"id": f"{scale_set_id}/virtualMachines/{iid}", "instanceId": iid, "properties": p}


def _instance_order(i: Instance) -> tuple[int, str]:
    return (int(i.instance_id), "") if i.instance_id.isdigit() else (1 << 62, i.instance_id)


@dataclass
class GraphIndex:
    """The rows of one discovery, filed for lookups (keys lower case)."""

    clusters: list[dict[str, Any]] = field(default_factory=list)
    workspaces: list[dict[str, Any]] = field(default_factory=list)
    # (subscription, node resource group) -> (scale-set body, its extension profile entries)
    scale_sets: dict[tuple[str, ...], list[tuple[dict[str, Any], list[Any]]]] = field(
        default_factory=dict
    )
    instances: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules_by_group: dict[tuple[str, ...], list[dict[str, Any]]] = field(default_factory=dict)
    associations: dict[str, str] = field(default_factory=dict)  # cluster id -> rule id

    @classmethod
    def build(cls, rows: PerQuery[list[dict[str, Any]]]) -> GraphIndex:
        idx = cls(clusters=list(rows.clusters))
        for row in rows.scale_sets:
            rid = ArmId.parse(str(row.get("id") or ""))
            extensions = row.get("extensions")
            entry = (scale_set_body(row), extensions if isinstance(extensions, list) else [])
            idx.scale_sets.setdefault(_key(rid.subscription, rid.resource_group), []).append(entry)
        for row in rows.instances:
            items = row.get("instances")
            if isinstance(items, list):
                idx.instances[str(row.get("id") or "").lower()] = [
                    i for i in items if isinstance(i, dict)
                ]
        for row in rows.workspaces_and_rules:
            rtype = str(row.get("type") or "").lower()
            if rtype == _WORKSPACE:
                idx.workspaces.append(row)
            elif rtype == _RULE:
                rid = ArmId.parse(str(row.get("id") or ""))
                idx.rules[str(row.get("id") or "").lower()] = row
                group = _key(rid.subscription, rid.resource_group)
                idx.rules_by_group.setdefault(group, []).append(row)
        for row in rows.associations:
            assoc_id = str(row.get("id") or "")
            cluster_id, sep, _ = assoc_id.lower().partition(
                "/providers/microsoft.insights/datacollectionruleassociations/"
            )
            if sep and row.get("rule"):
                idx.associations[cluster_id] = str(row["rule"])
        return idx

    def scale_sets_of(
        self, subscription: str, node_resource_group: str, pools: Mapping[str, Any]
    ) -> tuple[ScaleSet, ...]:
        """The cluster's pool scale sets with their instances and extensions, sorted by name
        (as the walk: scale sets of the node resource group that belong to a pool)."""
        found = []
        for body, raw in self.scale_sets.get(_key(subscription, node_resource_group), ()):
            if not pool_of(body):
                continue
            name = str(body.get("name") or "")
            items = self.instances.get(str(body.get("id") or "").lower(), [])
            sid = str(body.get("id") or "")
            instances = tuple(
                sorted(
                    (parse_instance(instance_body(sid, i), name) for i in items),
                    key=_instance_order,
                )
            )
            extensions = tuple(parse_extension(e) for e in raw if isinstance(e, dict))
            pool = (pool_of(body) or "").lower()
            found.append(
                parse_scale_set(body, pools.get(pool), node_resource_group, instances, extensions)
            )
        return tuple(sorted(found, key=lambda s: s.name))

    def association(self, cluster_id: str) -> str | None:
        """The rule id of the cluster's ContainerInsightsExtension association, if any."""
        return self.associations.get(cluster_id.lower())

    def rule(self, rule_id: str) -> dict[str, Any] | None:
        return self.rules.get(rule_id.lower())

    def msci_rule(self, subscription: str, resource_group: str, cluster: str) -> Any:
        """The first Container Insights rule (MSCI-<region>-<cluster>) of the cluster's group."""
        for row in self.rules_by_group.get(_key(subscription, resource_group), ()):
            if is_msci_name(str(row.get("name") or ""), cluster):
                return row
        return None


def monitoring(
    cluster_body: Mapping[str, Any],
    rule_id: str | None,
    rule: Mapping[str, Any] | None,
) -> Monitoring:
    """The cluster's monitoring from its body, its association's rule id (``rule_id``, None
    without one) and the rule found (by that id, else by MSCI name), as the walk builds it."""
    base = parse_monitoring(cluster_body)
    if rule is None:
        return base
    return with_rule(base, rule, rule_id, associated=bool(rule_id))


def pools_of(cluster_body: Mapping[str, Any]) -> dict[str, Any]:
    """The cluster's agent pool profiles by lower-case name (to match scale sets)."""
    profiles = props(cluster_body).get("agentPoolProfiles") or []
    return {str(a.get("name") or "").lower(): a for a in profiles}
