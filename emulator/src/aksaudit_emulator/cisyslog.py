"""Container Insights' node side of syslog: the forwarding file and the rsyslog that reads it.

On AKS, ama-logs (the monitoring add-on's DaemonSet) listens on hostPort 28330; its liveness
probe copies ``70-rsyslog-forward-mdsd-ci.conf`` to the hostPath ``/var/run/mdsd-ci``, and the
node's ``ci-syslog-watcher.path`` unit (AgentBaker) copies it into ``/etc/rsyslog.d/`` and
restarts rsyslog. So syslog leaves a node through Container Insights only when that file is in
``/etc/rsyslog.d`` and an rsyslog started after it was written runs (rsyslog reads its
configuration at start); without rsyslog, or without the watcher, nothing arrives, silently.

``drop(root)`` is ama-logs and the watcher on one node (the ingestion round calls it for every
node of a cluster whose add-on is enabled); ``gap(root)`` says why the node's syslog does not
reach ama-logs (None: it does). Files under the node root are the only state, as for auditd.
"""

from __future__ import annotations

import re
from pathlib import Path

from aksaudit_emulator.noderoot import (
    CI_DROP_DIR,
    CI_FORWARD_NAME,
    CI_WATCHER_UNIT,
    RSYSLOG_SERVICE,
    SIM_DIR,
    rsyslog_present,
)

PORT = 28330  # ama-logs' hostPort (azureMonitorProfile.containerInsights.syslogPort default)
FORWARD_FILE = f"etc/rsyslog.d/{CI_FORWARD_NAME}"  # where the watcher puts it
_TARGET = re.compile(r'target="127\.0\.0\.1"\s+port="(\d+)"')


def forward_conf(port: int = PORT) -> str:
    """The forwarding file: every facility and level over TCP to ama-logs on this node."""
    return (
        "# Azure Monitor Container Insights: forward syslog to ama-logs\n"
        f'*.* action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" '
        'queue.type="LinkedList" queue.size="25000" action.resumeRetryCount="-1" '
        'template="RSYSLOG_SyslogProtocol23Format")\n'
    )


def drop(root: Path, port: int = PORT) -> bool:
    """ama-logs runs on the node: its file is in the drop directory, and the watcher (when the
    node has it and rsyslog) copies a new or changed one into /etc/rsyslog.d and restarts
    rsyslog, which starts a stopped one, as ``systemctl restart`` does. Returns whether the
    watcher acted (only on a change: a file already in place changes nothing)."""
    want = forward_conf(port)
    dropped = root / CI_DROP_DIR / CI_FORWARD_NAME
    if _read(dropped) != want:
        # only the last level: a root a test is rebuilding must not get its directories back
        dropped.parent.mkdir(exist_ok=True)
        dropped.write_text(want, encoding="utf-8")
    if not (root / CI_WATCHER_UNIT).is_file() or not rsyslog_present(root):
        return False
    target = root / FORWARD_FILE
    if _read(target) == want or not target.parent.is_dir():
        return False
    target.write_text(want, encoding="utf-8")
    # a (re)start, as the systemctl stand-in records it: the file's mtime is the start time
    (root / SIM_DIR / RSYSLOG_SERVICE).write_text("active\n", encoding="utf-8")
    return True


def gap(root: Path, port: int = PORT) -> str | None:
    """Why this node's syslog does not reach ama-logs (None: rsyslog forwards it)."""
    target = root / FORWARD_FILE
    text = _read(target)
    if text is None:
        return (
            f"/{FORWARD_FILE} missing: ama-logs' node watcher has not configured rsyslog "
            "to forward syslog"
        )
    m = _TARGET.search(text)
    if m is None or int(m.group(1)) != port:
        return f"/{FORWARD_FILE} does not forward to 127.0.0.1:{port} (ama-logs)"
    service = root / SIM_DIR / RSYSLOG_SERVICE
    if not rsyslog_present(root) or _read(service) != "active\n":
        return "rsyslog not running on the node: nothing forwards its syslog to ama-logs"
    try:
        started, written = service.stat().st_mtime_ns, target.stat().st_mtime_ns
    except OSError:
        return "rsyslog not running on the node: nothing forwards its syslog to ama-logs"
    if started < written:
        return f"rsyslog has not been restarted since /{FORWARD_FILE} was written"
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
