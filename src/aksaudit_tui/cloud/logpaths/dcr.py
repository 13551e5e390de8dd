"""Data collection rule helpers shared by the log paths that write rules (container-insights,
ama): does a rule's syslog collect what we need, a rule as read turned into a body that can be
PUT back, and the ownership tags a rule aksaudit creates carries. Pure functions over
REST-shaped dicts; no I/O.

Ownership: a remove deletes a whole rule only when the rule itself says aksaudit created it
(``OWNER_TAG``), whatever an undo token claims. A token can be planted (the cluster's record is
a ConfigMap) and a rule's name is no proof: the portal names the cluster's Container Insights
rule ``MSCI-<region>-<cluster>`` exactly as an apply does. Tags are set only when the rule is
created (a rule we extend keeps its own tags as they are), so a tag on a rule someone else made
is put there by someone who could delete it anyway.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from aksaudit_tui.cloud.arm import props
from aksaudit_tui.cloud.parse import SYSLOG_STREAM

# The tags of a rule aksaudit created (ARM tag names compare case-insensitively).
OWNER_TAG = "aksaudit-created-by"
OWNER_VALUE = "aksaudit"
PLAN_TAG = "aksaudit-plan-sha256"  # the plan whose apply created it (for people; not checked)


def owner_tags(plan_sha: str) -> dict[str, str]:
    """The tags a rule gets when aksaudit creates it (``plan_sha``: "" when not known)."""
    return {OWNER_TAG: OWNER_VALUE, **({PLAN_TAG: plan_sha} if plan_sha else {})}


def created_by_us(resource: dict[str, Any]) -> bool:
    """Whether a rule (or a workspace data source, tagged the same way by the legacy path) as
    read carries our ownership tag (see the module docstring)."""
    tags = resource.get("tags") or {}
    return isinstance(tags, dict) and any(
        str(k).lower() == OWNER_TAG and str(v).lower() == OWNER_VALUE for k, v in tags.items()
    )


def covers(sources: Sequence[dict[str, Any]], facility: str, levels: Sequence[str]) -> bool:
    """True when the syslog sources, together, collect ``facility`` at every one of ``levels``."""
    have: set[str] = set()
    for src in sources:
        if SYSLOG_STREAM not in (src.get("streams") or [SYSLOG_STREAM]):
            continue
        facs = {str(f).lower() for f in src.get("facilityNames") or ()}
        if facility in facs or "*" in facs:
            lv = {str(x) for x in src.get("logLevels") or ()}
            if "*" in lv:
                return True
            have |= lv
    return set(levels) <= have


def writable_dcr(body: dict[str, Any]) -> dict[str, Any]:
    """A rule as read, minus the read-only parts, ready to PUT back."""
    out = {k: copy.deepcopy(v) for k, v in body.items() if k in ("location", "kind", "tags")}
    p = copy.deepcopy(props(body))
    for ro in ("provisioningState", "immutableId", "metadata", "endpoints"):
        p.pop(ro, None)
    out["properties"] = p
    return out
