"""Data collection rule helpers shared by the log paths that write rules (container-insights,
ama): does a rule's syslog collect what we need, and a rule as read turned into a body that can
be PUT back. Pure functions over REST-shaped dicts; no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from aksaudit_tui.cloud.arm import props
from aksaudit_tui.cloud.parse import SYSLOG_STREAM


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
