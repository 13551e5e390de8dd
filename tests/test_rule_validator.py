"""The Python auditctl validator: good and bad lines for every rule type, arch and version."""

from __future__ import annotations

import re

import pytest

from aksaudit_tui.presets import RuleError, validate_rules

TARGETS = [(a, v) for a in ("x86_64", "aarch64") for v in ("3.0", "3.1")]

GOOD = [
    # control lines
    "-b 8192",
    "--backlog_wait_time 60000",
    "--backlog_wait_time=0",
    "-f 1",
    "-f 0",
    "-e 1",
    "-r 100",
    "-D",
    "-D -k aksaudit-old",
    "--loginuid-immutable",
    # watches
    "-w /etc/passwd -p wa -k aksaudit-identity",
    "-w /etc/sudoers.d/ -p rwxa",
    "-k aksaudit-x -w /etc/shadow -p wa",
    # syscall rules, both orders of list/action, comma lists and repeated -S
    "-a always,exit -F arch=b64 -S execve,execveat -k aksaudit-exec\n"
    "-a always,exit -F arch=b32 -S execve -S execveat -k aksaudit-exec",
    "-a exit,always -F arch=b64 -S mount -F auid>=1000 -F auid!=unset -k k1\n"
    "-A exit,always -F arch=b32 -S mount -F auid>=1000 -F auid!=unset -k k1",
    "-a always,exit -F arch=b64 -S clone -F a0&0x7e020000 -k ns\n"
    "-a always,exit -F arch=b32 -S clone -F a0&0x7e020000 -k ns",
    "-a always,exit -F arch=b64 -S openat -F exit=-EACCES -F success=0 -k acc\n"
    "-a always,exit -F arch=b32 -S openat -F exit=-EACCES -F success=0 -k acc",
    "-a always,exit -F arch=b64 -S execve -C uid!=euid -F euid=0 -k su\n"
    "-a always,exit -F arch=b32 -S execve -C uid!=euid -F euid=0 -k su",
    "-a always,exit -F arch=b64 -S execve -F key=aksaudit-a -F loginuid=1001\n"
    "-a always,exit -F arch=b32 -S execve -F key=aksaudit-a -F loginuid=1001",
    # 452 (fchmodat2) by number: portable from 424 up, on every audit version
    "-a always,exit -F arch=b64 -S fchmod,452 -k perm\n-a always,exit -F arch=b32 -S 452 -k perm",
    # path/perm rules need no arch and no -S
    "-a always,exit -F path=/usr/bin/sudo -F perm=x -F auid>=1000 -F auid!=unset -k priv",
    "-a always,exit -F dir=/etc/ssh/ -F perm=wa -k sshd",
    # never rules need no twin and no key
    "-a never,exit -F arch=b64 -S execve -F exe=/usr/bin/runc",
    # explicit machines resolve with their own table on any node
    "-a always,exit -F arch=x86_64 -S chmod -k perm\n-a always,exit -F arch=i386 -S chmod -k perm",
    "-a always,exit -F arch=aarch64 -S renameat -k r\n-a always,exit -F arch=armv7l -S accept -k r",
    # other lists
    "-a always,exclude -F msgtype=CWD",
    "-a never,user -F uid=0",
    "-a never,filesystem -F fstype=tracefs",
    "-a always,task -F uid=0 -k t",
]


@pytest.mark.parametrize("text", GOOD)
@pytest.mark.parametrize(("arch", "version"), TARGETS)
def test_good_rules_validate_everywhere(text: str, arch: str, version: str) -> None:
    assert validate_rules(text, "good.rules", arch=arch, audit_version=version) == []


# (text, line with the error, fragment of the message) -- evaluated for x86_64 at 3.1
BAD = [
    ("-a always", 1, "bad '-a always'"),
    ("-a always,entry -F arch=b64 -S execve", 1, "entry list"),
    ("-a sometimes,exit -F arch=b64 -S execve", 1, "name one list"),
    ("-a possible,exit -F arch=b64 -S execve", 1, "deprecated"),
    ("# fine\n-a always,exit -S execve -k x", 2, "-S without -F arch="),
    ("-a always,exit -S execve -F arch=b64 -k x", 1, "-S without -F arch="),
    ("-a always,exit -F arch=b64 -S execve -F arch=b32 -k x", 1, "arch= given twice"),
    ("-a always,exit -F arch=b128 -S execve -k x", 1, "unknown arch"),
    ("-a always,exit -F arch=armv8l -S execve -k x", 1, "unknown arch"),
    ("-a always,exit -F arch<b64 -S execve -k x", 1, "takes only = or !="),
    ("-a always,exit -F bogus=1 -F arch=b64 -S execve", 1, "unknown field 'bogus'"),
    ("-a always,exit -F arch=b64 -S execve -F uid=root", 1, "numeric id"),
    ("-a always,exit -F arch=b64 -S execve -F auid=alice", 1, "bad auid value"),
    ("-a always,exit -F arch=b64 -S execve -F auid>=", 1, "has no value"),
    ("-a always,exit -F arch=b64 -S execve -F pid=abc", 1, "use a number"),
    ("-a always,exit -F path=/etc/x -F perm=wz -k x", 1, "bad perm"),
    ("-a always,exit -F path=etc/x -F perm=wa -k x", 1, "absolute path"),
    ("-a always,exit -F arch=b64 -S execve -F exit=oops", 1, "bad exit value"),
    ("-a always,exit -F arch=b64 -S execve -F filetype=pipe", 1, "bad filetype"),
    ("-a always,exit -F arch=b64 -S execve -F msgtype=EXECVE", 1, "msgtype"),
    ("-a never,filesystem -F fstype=ext4", 1, "unknown fstype"),
    ("-a always,exit -F arch=b64 -S execve -C uid<euid", 1, "bad comparison"),
    ("-a always,exit -F arch=b64 -S execve -F a0", 1, "bad field"),
    ("-a always,task -F arch=b64 -S execve -k x", 1, "-S works only on the exit list"),
    ("-a always,exit -F arch=b64 -F auid=1000 -k x", 1, "audits every syscall"),
    ("-a always,exit -F arch=b64 -S execve,,open -k x", 1, "empty syscall name"),
    ("-a always,exit -F arch=b64 -S execve -k x -a always,exit", 1, "more than one -a"),
    ("-a always,exit -F arch=b64 -S execve -p wa", 1, "belongs to watches"),
    ("-a always,exclude -F arch=b64 -F auid=1", 1, "not allowed on the exclude list"),
    ("-a always,exclude -F success=1", 1, "not allowed on the exclude list"),
    # syscall names per arch and version
    ("-a always,exit -F arch=b64 -S bogus_call -k x", 1, "unknown to auditctl 3.1"),
    ("-a always,exit -F arch=b64 -S fchmodat2 -k x", 1, "needs audit 4.0"),
    ("-a always,exit -F arch=b64 -S 90 -k x", 1, "differ"),
    ("-a always,exit -F arch=b64 -S 3000 -k x", 1, "out of range"),
    ("-a always,exit -F arch=b64 -S newfstat -k x", 1, "exists only on aarch64"),
    ("-a always,exit -F arch=b32 -S accept -k x", 1, "exists only on arm"),
    # twins
    ("-a always,exit -F arch=b64 -S execve -k x", 1, "no 32-bit twin"),
    (
        "-a always,exit -F arch=b64 -S execve -k x\n-a always,exit -F arch=b32 -S execve -k y",
        1,
        "no 32-bit twin",
    ),
    # watches
    ("-w etc/passwd -p wa -k x", 1, "not absolute"),
    ("-w /etc/passwd -k x", 1, "has no -p"),
    ("-w /etc/passwd -p wq -k x", 1, "bad permissions"),
    ("-w /etc/passwd -p wa -S execve", 1, "cannot be combined with -w"),
    ("-w /a -w /b -p wa", 1, "more than one -w"),
    # keys
    ("-w /etc/passwd -p wa -k " + "k" * 32, 1, "32 characters"),
    ('-w /etc/passwd -p wa -k bad"key', 1, "characters that break"),
    ("-w /etc/passwd -p wa -k", 1, "needs a value"),
    # control lines
    ("-e 2", 1, "locks the audit configuration until reboot"),
    ("-f 2", 1, "panics the node"),
    ("-e 3", 1, "bad '-e 3'"),
    ("-f 9", 1, "bad '-f 9'"),
    ("-b lots", 1, "bad '-b lots'"),
    ("-b 0", 1, "bad '-b 0'"),
    ("--backlog_wait_time 999999", 1, "use 0 to 60000"),
    ("--backlog_wait_time", 1, "needs a value"),
    ("-r -5", 1, "needs a value"),
    ("-r x", 1, "bad '-r x'"),
    ("-k lonely", 1, "needs a rule"),
    ("-i", 1, "ignore errors"),
    ("-c", 1, "continue past errors"),
    ("-d always,exit -F arch=b64 -S execve", 1, "deletes a rule"),
    ("-X", 1, "unknown option '-X'"),
    ("--nope", 1, "unknown option '--nope'"),
    ("-w /etc/passwd -p wa -k x # trailing", 1, "inline comments"),
    ("always,exit", 1, "unexpected 'always,exit'"),
    ("-D extra", 1, "unexpected 'extra'"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD)
def test_bad_rules_name_line_and_fix(text: str, line: int, fragment: str) -> None:
    errors = validate_rules(text, "bad.rules", arch="x86_64", audit_version="3.1")
    assert errors, f"no error for {text!r}"
    first = errors[0]
    assert isinstance(first, RuleError)
    assert (first.source, first.line) == ("bad.rules", line)
    assert fragment in first.message
    # file:line: what is wrong; what to fix
    assert re.match(rf"^bad\.rules:{line}: [^;]+; .+", str(first)), str(first)


def test_syscalls_differ_by_arch() -> None:
    text = "-a always,exit -F arch=b64 -S chmod,open -k p\n-a always,exit -F arch=b32 -S chmod -k p"
    assert validate_rules(text, "t", arch="x86_64") == []
    errors = validate_rules(text, "t", arch="aarch64")
    assert [(e.line, "'chmod'" in e.message) for e in errors] == [(1, True)]
    assert "exists only on x86_64" in errors[0].message
    assert validate_rules(text, "t", arch="any") == []


def test_syscalls_differ_by_version() -> None:
    pair = "-a always,exit -F arch={} -S set_mempolicy_home_node -k m"
    text = f"{pair.format('b64')}\n{pair.format('b32')}"
    assert len(validate_rules(text, "t", audit_version="3.0")) == 2
    assert validate_rules(text, "t", audit_version="3.1") == []
    fchmodat2 = text.replace("set_mempolicy_home_node", "fchmodat2")
    assert validate_rules(fchmodat2, "t", audit_version="3.1.2")
    assert validate_rules(fchmodat2, "t", audit_version="4.0.2") == []
    assert validate_rules(fchmodat2, "t", arch="aarch64", audit_version="4.0") == []


def test_lock_is_refused_always() -> None:
    errors = validate_rules("-e 2\n-f 2", "t")
    assert [(e.line, e.message.split()[:2]) for e in errors] == [(1, ["-e", "2"]), (2, ["-f", "2"])]


def test_twin_may_name_other_syscalls() -> None:
    text = (
        "-a always,exit -F arch=b64 -S accept -F success=1 -k net\n"
        "-a always,exit -F arch=b32 -S accept4 -F success=1 -k net\n"
    )
    assert validate_rules(text, "t") == []
    # but the twin must have the same filter
    assert validate_rules(text.replace("success=1 -k net\n-a", "success=0 -k net\n-a", 1), "t")


def test_errors_are_sorted_and_all_reported() -> None:
    text = "-b x\n-w /a -p wa -k k\n-e 7\n"
    errors = validate_rules(text, "multi.rules")
    assert [e.line for e in errors] == [1, 3]
    assert str(errors[0]).startswith("multi.rules:1: ")


def test_unsupported_arguments() -> None:
    with pytest.raises(ValueError, match="arch"):
        validate_rules("-b 1", "t", arch="ppc64")
    with pytest.raises(ValueError, match="not supported"):
        validate_rules("-b 1", "t", audit_version="2.8.5")
