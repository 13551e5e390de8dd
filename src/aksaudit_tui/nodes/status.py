"""Parse the node script's final JSON status line out of a pod log."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeStatus:
    """One node script run, as its last JSON line reports it (see docs/ARCHITECTURE.md)."""

    mode: str
    node: str
    os: str | None
    os_version: str | None
    supported: bool
    skip_reason: str | None
    audit_version: str | None
    installed: bool
    running: bool
    plugin_active: bool
    plugin_path: str | None
    facility: str | None
    severity: str | None
    rules_sha256: str | None
    rules_loaded: int
    skipped_watches: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    compliant: bool = True
    ok: bool = False
    rsyslog: str | None = None  # active | inactive | missing; None: not said (skipped, older)

    @property
    def skipped(self) -> bool:
        """The node was left alone on purpose (immutable or unsupported OS)."""
        return not self.supported


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _str_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def _status_from(data: dict[str, Any]) -> NodeStatus:
    loaded = data.get("rules_loaded")
    return NodeStatus(
        mode=str(data.get("mode") or ""),
        node=str(data.get("node") or ""),
        os=_opt_str(data, "os"),
        os_version=_opt_str(data, "os_version"),
        supported=data.get("supported") is True,
        skip_reason=_opt_str(data, "skip_reason"),
        audit_version=_opt_str(data, "audit_version"),
        installed=data.get("installed") is True,
        running=data.get("running") is True,
        plugin_active=data.get("plugin_active") is True,
        plugin_path=_opt_str(data, "plugin_path"),
        facility=_opt_str(data, "facility"),
        severity=_opt_str(data, "severity"),
        rules_sha256=_opt_str(data, "rules_sha256"),
        rules_loaded=loaded if isinstance(loaded, int) and not isinstance(loaded, bool) else 0,
        skipped_watches=_str_list(data, "skipped_watches"),
        changed=_str_list(data, "changed"),
        errors=_str_list(data, "errors"),
        compliant=data.get("compliant", True) is True,
        ok=data.get("ok") is True,
        rsyslog=_opt_str(data, "rsyslog"),
    )


def parse_node_status(log_text: str) -> NodeStatus | None:
    """Return the last ``{"aksaudit": 1, ...}`` line of a node script's output, or None.

    Lines that are not such JSON objects (the script's human lines, a launcher's own output,
    a truncated last line) are ignored, so a partial log gives the last complete status.
    """
    for line in reversed(log_text.splitlines()):
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("aksaudit") == 1:
            return _status_from(data)
    return None
