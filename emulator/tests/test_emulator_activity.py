"""Records come from activity that matches the loaded rules (issue 13), not one synthetic row per
round for any node with a rule: container and agent program starts (auid unset) under execve
rules, writes to watched files. The rule matching itself, then through ingestion and the real
Logs query client.
"""

from __future__ import annotations

import time
from typing import Any

from aksaudit_emulator import activity
from test_emulator_arm import WS_PROD
from test_emulator_arm_ingestion import (
    PLUGIN,
    assert_no_new_rows,
    cid,
    configure_node,
    node_of,
    query_rows,
    set_running,
    wait_rows,
)

USER_PLUGIN = PLUGIN.replace("LOG_AUTHPRIV", "LOG_USER")  # user: collected by the MSCI rule
SESSION = "-a always,exit -F arch=b64 -S execve,execveat -F auid>=1000 -F auid!=unset -k sessions\n"
QUIET = (
    "-a never,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/runc\n"
    "-a never,exit -F arch=b64 -S execve,execveat -F exe=/usr/sbin/xtables-nft-multi\n"
    "-a always,exit -F arch=b64 -S execve,execveat -k every-exec\n"
)
WATCH = "-w /etc/passwd -p wa -k identity\n"


def _by_comm() -> dict[str, activity.Exec]:
    return {p.comm: p for p in activity.NODE_PROGRAMS}


def test_the_first_matching_exit_rule_decides() -> None:
    progs = _by_comm()
    session = activity.parse_rules(SESSION.splitlines())
    # container processes have auid unset: a session rule never sees them
    assert all(activity.exec_key(session, p) == (False, None) for p in progs.values())
    human = activity.Exec("vi", "/usr/bin/vim.basic", ("vi",), uid=1000, auid=1000)
    assert activity.exec_key(session, human) == (True, "sessions")
    quiet = activity.parse_rules(QUIET.splitlines())
    assert activity.exec_key(quiet, progs["runc"]) == (False, None)  # `never` first
    assert activity.exec_key(quiet, progs["iptables"]) == (False, None)
    assert activity.exec_key(quiet, progs["sh"]) == (True, "every-exec")
    # -A goes before the rules already loaded
    prepended = activity.parse_rules([*QUIET.splitlines(), "-A always,exit -S execve -k first"])
    assert activity.exec_key(prepended, progs["runc"]) == (True, "first")
    # a field the model cannot evaluate makes no record rather than a wrong one
    clone = activity.parse_rules(["-a always,exit -F arch=b64 -S execve -F a0&0x10 -k x"])
    assert activity.exec_key(clone, progs["sh"]) == (False, None)
    # b32 rules do not see b64 programs; watches and other syscalls are not execve rules
    other = activity.parse_rules(
        ["-a always,exit -F arch=b32 -S execve -k b32", WATCH.strip(), "-a always,exit -S bpf -k b"]
    )
    assert activity.exec_key(other, progs["sh"]) == (False, None)


def test_session_rules_get_nothing_from_container_activity(emulator: Any) -> None:
    node = node_of(emulator, "aks-prod-weu", "apps", 0)
    ws = cid(emulator, WS_PROD)
    configure_node(emulator, node, plugin=USER_PLUGIN, rules=SESSION)
    assert_no_new_rows(emulator, ws, node)


def test_never_rules_quiet_the_runtime_and_the_rest_is_recorded(emulator: Any) -> None:
    node = node_of(emulator, "aks-prod-weu", "apps", 1)
    ws = cid(emulator, WS_PROD)
    configure_node(emulator, node, plugin=USER_PLUGIN, rules=QUIET)
    assert wait_rows(emulator, ws, node)
    time.sleep(1.0)  # ~10 rounds: every program of the node has come up
    rows = query_rows(emulator, ws, node)
    syscalls = [r["SyslogMessage"] for r in rows if "type=SYSCALL" in r["SyslogMessage"]]
    assert syscalls and all('key="every-exec"' in m for m in syscalls)
    assert not any('comm="runc"' in m or 'comm="iptables"' in m for m in syscalls), syscalls


def test_a_write_to_a_watched_file_is_one_record(emulator: Any) -> None:
    node = node_of(emulator, "aks-prod-weu", "apps", 2)
    ws = cid(emulator, WS_PROD)
    root = configure_node(emulator, node, plugin=USER_PLUGIN, rules=WATCH)
    assert_no_new_rows(emulator, ws, node)  # programs start, but no rule is about them
    passwd = root / "etc/passwd"
    passwd.write_text(passwd.read_text() + "intruder:x:0:0::/root:/bin/sh\n")
    rows = wait_rows(emulator, ws, node)
    messages = [r["SyslogMessage"] for r in rows]
    assert any('key="identity"' in m for m in messages)
    assert any('name="/etc/passwd"' in m for m in messages)
    assert_no_new_rows(emulator, ws, node)  # one write, one record


def test_a_write_while_the_pipeline_is_broken_is_lost_not_delivered_later(emulator: Any) -> None:
    """A real node loses a watched write made while auditd is stopped or the plugin is off: the
    emulator must not deliver it as a fresh record once the path holds again (a heartbeat
    touched while the node was broken would pass verify after the fix)."""
    node = node_of(emulator, "aks-prod-weu", "apps", 0)
    ws = cid(emulator, WS_PROD)
    root = configure_node(emulator, node, plugin=USER_PLUGIN, rules=WATCH)
    passwd = root / "etc/passwd"
    conf = root / "etc/audit/plugins.d/syslog.conf"
    for broken, fixed in (
        (lambda: set_running(root, False), lambda: set_running(root, True)),
        (lambda: conf.write_text(USER_PLUGIN.replace("active = yes", "active = no")),
         lambda: conf.write_text(USER_PLUGIN)),
    ):  # fmt: skip
        broken()
        passwd.write_text(passwd.read_text() + "lost:x:0:0::/root:/bin/sh\n")
        time.sleep(0.5)  # ~5 ingestion rounds with the write on the node
        fixed()
        assert_no_new_rows(emulator, ws, node)  # the write was lost, not delayed
        # once the path holds, the next write is one record
        passwd.write_text(passwd.read_text() + "later:x:0:0::/root:/bin/sh\n")
        messages = [r["SyslogMessage"] for r in wait_rows(emulator, ws, node)]
        assert any('key="identity"' in m for m in messages), messages
