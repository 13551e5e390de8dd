"""Render the node script: one self-contained POSIX sh script that configures auditd on a node.

The template is package data (``node_script.sh``); rendering substitutes the rules text, the
syslog facility and severity and the default mode. Rendering is deterministic: the same inputs
give the same bytes, so the script's sha256 identifies a configuration.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from aksaudit_tui.presets.rules import LOCK_MESSAGES, MAX_LINE, lock_setting
from aksaudit_tui.syslog import check_facility, check_severity

MODES: tuple[str, ...] = ("apply", "check", "remove")
RULES_FILE = "/etc/audit/rules.d/50-aksaudit.rules"
_HEREDOC_END = "AKSAUDIT_RULES_EOF"


def _template() -> str:
    return resources.files("aksaudit_tui.nodes").joinpath("node_script.sh").read_text("utf-8")


def normalize_rules_text(rules_text: str) -> str:
    """Rules text as the script embeds it: LF line ends, one trailing newline."""
    text = rules_text.replace("\r\n", "\n").replace("\r", "\n")
    return text.rstrip("\n") + "\n" if text.strip() else ""


def render_node_script(
    rules_text: str, facility: str, severity: str = "info", mode: str = "apply"
) -> str:
    """Return the node script for these rules and syslog facility/severity.

    Raises ValueError for a facility, severity or mode audisp-syslog or the script does not
    know, for rules that set ``-e 2`` or ``-f 2`` in any spelling auditctl acts on (see
    ``presets.rules.lock_setting``; the script's own filter refuses them again) and for rules
    text that would end the embedded heredoc.
    """
    facility = check_facility(facility)  # UnknownSyslogName is a ValueError too
    severity = check_severity(severity)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    text = normalize_rules_text(rules_text)
    for number, line in enumerate(text.split("\n"), 1):
        letter = lock_setting(line)
        if letter is not None:
            raise ValueError(f"rules line {number}: {LOCK_MESSAGES[letter]}")
        if len(line) > MAX_LINE:
            raise ValueError(f"rules line {number}: longer than {MAX_LINE} characters")
        if line.strip() == _HEREDOC_END:
            raise ValueError(f"rules line {number}: the line {_HEREDOC_END!r} is reserved")
        if "\0" in line:
            raise ValueError(f"rules line {number}: contains a NUL byte")
    # The heredoc body is the rules text without its last newline (the template adds it).
    body = text[:-1] if text else ""
    script = _template()
    # Substitute the rules last so text inside them is never taken for a placeholder.
    script = (
        script.replace("@@MODE@@", mode)
        .replace("@@FACILITY@@", facility)
        .replace("@@SEVERITY@@", severity)
    )
    head, sep, tail = script.partition("@@RULES@@\n")
    if not sep:  # pragma: no cover - template invariant
        raise RuntimeError("node script template has no rules placeholder")
    if body:
        return f"{head}{body}\n{tail}"
    return f"{head}{tail}"


def script_sha256(script: str) -> str:
    """The sha256 the pod launcher checks (``AKSAUDIT_SCRIPT_SHA256``)."""
    return hashlib.sha256(script.encode("utf-8")).hexdigest()
