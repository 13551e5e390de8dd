"""rsyslog on a node, in the words status and verify both use.

audisp-syslog writes to journald and rsyslog carries the lines on: every log path's agent takes
syslog from rsyslog (Container Insights' node watcher drops a forwarding file into
/etc/rsyslog.d and restarts it). The node script reports rsyslog but never installs or starts
it, so a node without it is configured and compliant yet sends nothing, silently: this names
that link instead of a vague "nothing arrives".
"""

from __future__ import annotations

from aksaudit_tui.cloud import logpaths
from aksaudit_tui.errors import UsageError
from aksaudit_tui.nodes.status import NodeStatus

RSYSLOG_FIX = (
    "run rsyslog on the node (`systemctl enable --now rsyslog`, or a node image that has it); "
    "aksaudit does not install it"
)


def rsyslog_gap(status: NodeStatus | None, log_path: str) -> str | None:
    """Why syslog cannot leave this node for ``log_path``'s agent (None: rsyslog runs, or the
    node script did not say)."""
    if status is None or status.rsyslog not in ("missing", "inactive"):
        return None
    try:
        who = logpaths.describe(log_path).forwarder
    except UsageError:
        who = logpaths.AdapterBase.forwarder
    if status.rsyslog == "missing":
        return f"rsyslog missing: {who} cannot forward syslog from this node"
    return f"rsyslog not running: {who} cannot forward syslog from this node until it runs"
