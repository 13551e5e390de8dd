"""Activity on a simulated node, and the audit records the loaded rules make of it.

Records come from activity that matches a rule, as the kernel makes them, not one row per round
for any node with a rule:

- program starts: every round one of the processes a busy AKS node starts all the time
  (kubelet probes, runc, iptables, ip), as container and agent processes run: ``auid`` unset
  (4294967295), uid 0. The exit list is searched in order and the first rule whose fields all
  match decides: ``never`` drops the event, ``always`` records it with that rule's key. So
  ``-F auid>=1000 -F auid!=unset`` (session) rules never see them, and ``never`` rules for
  ``exe=/usr/bin/runc`` quiet runc;
- writes to watched files: a file under the node root whose mtime changed since the last round
  (the heartbeat the node script touches, a test editing /etc/passwd) under a ``-w PATH -p`` watch
  with ``w`` or ``a``. A file first seen counts when it was written after the rules were loaded.

Field filters this model cannot evaluate make a rule not match (no record rather than a wrong
one). Record shapes follow what audisp-syslog logs (measured with the real kernel pipeline).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

UNSET = 4294967295
_OPS = ("!=", ">=", "<=", "=", ">", "<", "&")
_NUMERIC = {"auid", "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "pid", "ppid"}
MAX_WATCHED_FILES = 256  # per node and round: a watch on a big tree is sampled, not walked


@dataclass(frozen=True)
class Exec:
    """One program start."""

    comm: str
    exe: str
    argv: tuple[str, ...]
    uid: int = 0
    auid: int = UNSET

    def value(self, name: str) -> int | str | None:
        if name in ("auid",):
            return self.auid
        if name in ("uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid"):
            return self.uid
        if name in ("exe", "path"):
            return self.exe
        if name == "arch":
            return "b64"
        if name == "success":
            return "1"
        if name == "perm":
            return "x"
        return None


# What a busy node starts without anyone logging in (probes, the runtime, kube-proxy, CNI).
NODE_PROGRAMS: tuple[Exec, ...] = (
    Exec("iptables", "/usr/sbin/xtables-nft-multi", ("iptables", "-w", "-t", "nat", "-L")),
    Exec("runc", "/usr/bin/runc", ("runc", "--version")),
    Exec("sh", "/usr/bin/dash", ("sh", "-c", "cat /proc/loadavg")),
    Exec("ip", "/usr/sbin/ip", ("ip", "-o", "link", "show")),
)


@dataclass(frozen=True)
class Rule:
    """One loaded rule: an exit-list syscall rule or a watch."""

    action: str  # always | never (watches: always)
    syscalls: frozenset[str]
    fields: tuple[tuple[str, str, str], ...]  # (name, op, value)
    key: str | None
    watch: str | None = None  # the watched path (a -w rule)
    perms: str = ""


def _split_field(text: str) -> tuple[str, str, str] | None:
    for op in _OPS:
        name, sep, value = text.partition(op)
        if sep and name and "=" not in name and "!" not in name and "<" not in name:
            if op in ("=", "<", ">") and name[-1:] in ("!", "<", ">"):
                continue
            return name, op, value
    return None


def parse_rules(lines: list[str] | tuple[str, ...]) -> list[Rule]:
    """The exit-list rules and watches in ``auditctl -l`` / rules-file form, in list order
    (``-A`` goes first, as auditctl prepends it)."""
    rules: list[Rule] = []
    for line in lines:
        words = line.split()
        if not words:
            continue
        if words[0] == "-w" and len(words) >= 2:
            perms, wkey = "rwxa", None
            for i, w in enumerate(words):
                if w == "-p" and i + 1 < len(words):
                    perms = words[i + 1]
                elif w == "-k" and i + 1 < len(words):
                    wkey = words[i + 1]
                elif w.startswith("key="):
                    wkey = w[4:]
            rules.append(Rule("always", frozenset(), (), wkey, watch=words[1], perms=perms))
            continue
        if words[0] not in ("-a", "-A") or len(words) < 2:
            continue
        action, _, flt = words[1].partition(",")
        if flt != "exit" and action == "exit":
            action, flt = flt, action
        if flt != "exit":
            continue
        syscalls: set[str] = set()
        fields: list[tuple[str, str, str]] = []
        key: str | None = None
        i = 2
        while i < len(words):
            w = words[i]
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if w == "-S":
                syscalls.update(nxt.split(","))
                i += 2
            elif w == "-F":
                parsed = _split_field(nxt)
                if parsed and parsed[0] == "key":
                    key = parsed[2]
                elif parsed:
                    fields.append(parsed)
                i += 2
            elif w == "-k":
                key = nxt
                i += 2
            else:
                i += 1
        rule = Rule(action, frozenset(syscalls), tuple(fields), key)
        if words[0] == "-A":
            rules.insert(0, rule)
        else:
            rules.append(rule)
    return rules


def _number(text: str) -> int | None:
    if text in ("unset", "-1"):
        return UNSET
    try:
        return int(text, 0)
    except ValueError:
        return None


def _field_matches(event: Exec, name: str, op: str, want: str) -> bool:
    have = event.value(name)
    if have is None:
        return False  # a field this model does not know: no record rather than a wrong one
    if name in _NUMERIC:
        w = _number(want)
        if w is None or not isinstance(have, int):
            return False
        return {
            "=": have == w,
            "!=": have != w,
            ">": have > w,
            "<": have < w,
            ">=": have >= w,
            "<=": have <= w,
            "&": bool(have & w),
        }[op]
    if name == "perm":
        return op == "=" and str(have) in want
    if name == "success":
        return op == "=" and want in ("1", "yes")
    if name == "arch":
        return (op == "=") == (want in ("b64", "x86_64", "aarch64"))
    if name == "dir":
        return op == "=" and str(have).startswith(want.rstrip("/") + "/")
    return (op == "=") == (str(have) == want)


def exec_key(rules: list[Rule], event: Exec) -> tuple[bool, str | None]:
    """(recorded, key) for a program start: the first exit rule for execve whose fields all
    match decides."""
    for rule in rules:
        if rule.watch is not None:
            continue
        if not ({"execve", "all"} & rule.syscalls) and "perm" not in {f[0] for f in rule.fields}:
            continue
        if all(_field_matches(event, n, op, v) for n, op, v in rule.fields):
            return rule.action == "always", rule.key
    return False, None


def _watched_files(root: Path, watch: str) -> list[tuple[str, Path]]:
    target = root / watch.lstrip("/")
    if target.is_file():
        return [(watch, target)]
    out: list[tuple[str, Path]] = []
    if target.is_dir():
        for dirpath, _dirs, files in os.walk(target):
            for name in sorted(files):
                path = Path(dirpath) / name
                out.append(("/" + str(path.relative_to(root)), path))
                if len(out) >= MAX_WATCHED_FILES:
                    return out
    return out


def watched_writes(
    root: Path, rules: list[Rule], seen: dict[str, int], loaded_at_ns: int
) -> list[tuple[str, str | None]]:
    """(path, key) for every watched file written since the last call (``seen``: the mtimes
    of the last call, updated)."""
    out: list[tuple[str, str | None]] = []
    for rule in rules:
        if rule.watch is None or not ({"w", "a"} & set(rule.perms)):
            continue
        for shown, path in _watched_files(root, rule.watch):
            try:
                mtime = path.stat().st_mtime_ns
            except OSError:
                continue
            before = seen.get(shown)
            seen[shown] = mtime
            if before == mtime or (before is None and mtime < loaded_at_ns):
                continue
            out.append((shown, rule.key))
    return out


def pick_program(rng: random.Random) -> Exec:
    return rng.choice(NODE_PROGRAMS)
