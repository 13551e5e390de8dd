"""Read a simulated node root the way audit itself would, to decide whether lines reach syslog.

Strict on purpose, like real audit: on audit 3.x/4.x only ``/etc/audit/plugins.d/*.conf`` counts,
a 2.x-style ``builtin_syslog`` plugin is not active, every line must be ``key = value`` with
spaces around ``=``, the plugin binary must exist, ``args`` takes at most a priority and a
facility, and a world-writable plugin file is ignored. On 2.x only the builtin syslog plugin in
``/etc/audisp/plugins.d`` works. Like auditd, the plugin configuration is the one read when the
daemon last started or reloaded: an edit without a restart changes nothing until then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from aksaudit_emulator.noderoot import RSYSLOG_SERVICE, rsyslog_present

SIM_DIR = "var/lib/aksaudit-sim"
# The plugin files auditd read at its last start or reload (written by the stand-ins).
RUNNING_PLUGINS = f"{SIM_DIR}/auditd-running"
# audisp-syslog's accepted facility and priority names (audit 3.x audisp-syslog.c).
_FACILITIES = {
    "LOG_AUTH": "auth",
    "LOG_AUTHPRIV": "authpriv",
    "LOG_DAEMON": "daemon",
    "LOG_SYSLOG": "syslog",
    "LOG_USER": "user",
    **{f"LOG_LOCAL{i}": f"local{i}" for i in range(8)},
}
_PRIORITIES = {
    "LOG_EMERG": "emerg",
    "LOG_ALERT": "alert",
    "LOG_CRIT": "crit",
    "LOG_ERR": "err",
    "LOG_WARNING": "warning",
    "LOG_NOTICE": "notice",
    "LOG_INFO": "info",
    "LOG_DEBUG": "debug",
}
_KEYS = {"active", "direction", "path", "type", "args", "format"}
_KEY_RE = re.compile(r"(?:^|\s)(?:-k\s+(\S+)|-F\s+key=(\S+))")


@dataclass(frozen=True)
class NodeAuditState:
    """What the node's audit stack would do right now."""

    installed: bool
    running: bool
    audit_version: str | None
    plugin_active: bool
    plugin_facility: str | None  # e.g. "authpriv" (syslog facility name)
    plugin_priority: str | None  # e.g. "info"
    rule_keys: frozenset[str] = field(default_factory=frozenset)
    rule_count: int = 0
    problems: tuple[str, ...] = ()  # why the plugin is not active, for diagnostics
    # rsyslog runs: every log path's agent reads syslog through it (Container Insights'
    # forwarding file, the Azure Monitor Agent, the legacy agent); without it nothing leaves.
    rsyslog_running: bool = False
    rules: tuple[str, ...] = ()  # the loaded rules, one per line (what activity is matched to)
    rules_loaded_at_ns: int = 0  # when they were last loaded (mtime of the loaded set)

    @property
    def ships_to_syslog(self) -> bool:
        return self.installed and self.running and self.plugin_active


def _dpkg_version(root: Path, package: str) -> str | None:
    status = root / "var/lib/dpkg/status"
    if not status.is_file():
        return None
    for stanza in status.read_text("utf-8", "replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(": ")
            if sep and not line.startswith(" "):
                fields[key] = value.strip()
        if fields.get("Package") == package and fields.get("Status", "").endswith(" installed"):
            return fields.get("Version")
    return None


def _rpm_version(root: Path, package: str) -> str | None:
    record = root / SIM_DIR / "rpm-packages"
    if not record.is_file():
        return None
    for line in record.read_text("utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == package:
            return parts[1]
    return None


def _upstream(version: str) -> str:
    """'1:3.0.7-1build1' -> '3.0.7'; '3.1.2-1.azl3' -> '3.1.2'."""
    version = version.split(":", 1)[-1]
    return version.split("-", 1)[0]


def _exists(root: Path, abs_path: str) -> bool:
    """Whether an absolute node path exists inside ``root`` (symlinks resolved in the root)."""
    candidate = root / abs_path.lstrip("/")
    try:
        resolved = candidate.resolve()
    except OSError:
        return False
    return resolved.is_file() and (resolved == candidate or root.resolve() in resolved.parents)


def parse_plugin_conf(text: str) -> tuple[dict[str, str], list[str]]:
    """Parse an audisp plugin file as audit does: ``key = value`` per line, '#' comments.

    Returns the settings and the errors; a line without a free-standing ``=`` is an error (audit
    rejects the whole file).
    """
    settings: dict[str, str] = {}
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) < 3 or tokens[1] != "=":
            errors.append(f"line {number}: expected 'key = value' with spaces around '='")
            continue
        key = tokens[0]
        if key not in _KEYS:
            errors.append(f"line {number}: unknown keyword {key!r}")
            continue
        settings[key] = " ".join(tokens[2:])
    return settings, errors


def _plugin_state(
    root: Path, major: int, running: bool
) -> tuple[bool, str | None, str | None, list[str]]:
    problems: list[str] = []
    # A running auditd uses the plugin files it read when it started (or reloaded): the
    # stand-ins keep a copy of them. A stopped one will read the files as they are now; so does
    # a running one whose start no stand-in recorded (a root laid out by hand).
    snapshot = root / RUNNING_PLUGINS
    conf_root = snapshot if running and snapshot.is_dir() else root
    if major >= 3:
        conf = conf_root / "etc/audit/plugins.d/syslog.conf"
    else:
        conf = conf_root / "etc/audisp/plugins.d/syslog.conf"
    candidates = [conf]
    if major >= 3:
        # Any plugin file in plugins.d may run audisp-syslog; syslog.conf is the usual one.
        plugdir = conf_root / "etc/audit/plugins.d"
        if plugdir.is_dir():
            candidates += [p for p in sorted(plugdir.glob("*.conf")) if p != conf]
    for path in candidates:
        if not path.is_file():
            continue
        if path.stat().st_mode & 0o002:
            problems.append(f"{path.name}: world writable, audit skips it")
            continue
        settings, errors = parse_plugin_conf(path.read_text("utf-8", "replace"))
        if errors:
            problems.extend(f"{path.name}: {e}" for e in errors)
            continue
        if settings.get("active") != "yes":
            if path == conf:
                problems.append(f"{path.name}: active is not 'yes'")
            continue
        if settings.get("direction", "out") != "out":
            problems.append(f"{path.name}: direction is not 'out'")
            continue
        plugin_path = settings.get("path", "")
        plugin_type = settings.get("type", "")
        if major >= 3:
            if plugin_path.startswith("builtin_"):
                problems.append(f"{path.name}: audit {major}.x has no {plugin_path}")
                continue
            if not plugin_path.endswith("/audisp-syslog"):
                continue
            if plugin_type != "always":
                problems.append(f"{path.name}: type must be 'always' on audit 3.x")
                continue
            if not _exists(root, plugin_path):
                problems.append(f"{path.name}: {plugin_path} does not exist")
                continue
        else:
            if plugin_path != "builtin_syslog" or plugin_type != "builtin":
                problems.append(
                    f"{path.name}: audit 2.x needs path = builtin_syslog, type = builtin"
                )
                continue
        if settings.get("format", "string") != "string":
            problems.append(f"{path.name}: format must be 'string'")
            continue
        args = settings.get("args", "").split()
        if major >= 3 and len(args) > 2:
            problems.append(f"{path.name}: audisp-syslog takes at most 2 args")
            continue
        priority = "info"
        facility = "user"
        if args:
            if args[0] not in _PRIORITIES:
                problems.append(f"{path.name}: unknown priority {args[0]!r}")
                continue
            priority = _PRIORITIES[args[0]]
        if len(args) >= 2:
            if args[1] not in _FACILITIES:
                problems.append(f"{path.name}: unknown facility {args[1]!r}")
                continue
            facility = _FACILITIES[args[1]]
        return True, facility, priority, problems
    if not any(p.is_file() for p in candidates):
        problems.append(f"{conf.relative_to(conf_root)} is missing")
    return False, None, None, problems


def _loaded_rules(root: Path) -> list[str]:
    loaded = root / SIM_DIR / "loaded.rules"
    if not loaded.is_file():
        return []
    return [ln.strip() for ln in loaded.read_text("utf-8").splitlines() if ln.strip()]


def _rsyslog_running(root: Path) -> bool:
    service = root / SIM_DIR / RSYSLOG_SERVICE
    return (
        rsyslog_present(root)
        and service.is_file()
        and service.read_text("utf-8").strip() == "active"
    )


def read_node_audit_state(root: Path | str) -> NodeAuditState:
    """Read ``root`` (a simulated node's /) and say whether audit lines would reach syslog."""
    root = Path(root)
    rsyslog = _rsyslog_running(root)
    raw_version = _dpkg_version(root, "auditd") or _rpm_version(root, "audit")
    # Files alone are not enough: an interrupted install leaves them with no package record.
    has_daemon = any((root / d / "auditd").is_file() for d in ("sbin", "usr/sbin"))
    installed = has_daemon and raw_version is not None
    version = _upstream(raw_version) if raw_version else None
    service = root / SIM_DIR / "services/auditd"
    running = installed and service.is_file() and service.read_text("utf-8").strip() == "active"
    if version is None and installed:
        version = "3" if (root / "etc/audit/plugins.d").is_dir() else "2"
    rules = _loaded_rules(root)
    try:
        loaded_at = (root / SIM_DIR / "loaded.rules").stat().st_mtime_ns
    except OSError:
        loaded_at = 0
    keys = frozenset(k for rule in rules for m in _KEY_RE.finditer(rule) for k in m.groups() if k)
    if not installed or version is None:
        return NodeAuditState(
            installed=installed,
            running=running,
            audit_version=version,
            plugin_active=False,
            plugin_facility=None,
            plugin_priority=None,
            rule_keys=keys,
            rule_count=len(rules),
            problems=("auditd is not installed",) if not installed else (),
            rsyslog_running=rsyslog,
            rules=tuple(rules),
            rules_loaded_at_ns=loaded_at,
        )
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = 3
    active, facility, priority, problems = _plugin_state(root, major, running)
    return NodeAuditState(
        installed=installed,
        running=running,
        audit_version=version,
        plugin_active=active,
        plugin_facility=facility,
        plugin_priority=priority,
        rule_keys=keys,
        rule_count=len(rules),
        problems=tuple(problems),
        rsyslog_running=rsyslog,
        rules=tuple(rules),
        rules_loaded_at_ns=loaded_at,
    )
