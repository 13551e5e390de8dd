"""Syscall tables: spot facts, and a cross-check against this machine's ``ausyscall``."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from aksaudit_tui.presets.syscalls import _NOT_IN_30, known, normalize_version, syscall_table


def test_spot_facts() -> None:
    assert syscall_table("x86_64", "3.0")["execve"] == 59
    assert syscall_table("aarch64", "3.0")["execve"] == 221
    assert syscall_table("i386", "3.1")["execve"] == 11
    assert syscall_table("arm", "3.1")["execve"] == 11
    for name in ("open", "chmod", "rename", "unlink", "creat", "fork"):
        assert known(name, "x86_64", "3.1") and not known(name, "aarch64", "3.1")
    assert not known("accept", "i386", "3.1") and known("accept", "arm", "3.1")
    assert known("sys_kexec_load", "i386", "3.0") and not known("kexec_load", "i386", "3.0")
    for version in ("3.0", "3.1"):
        assert not known("fchmodat2", "x86_64", version)
    assert syscall_table("x86_64", "4.0")["fchmodat2"] == 452
    assert syscall_table("aarch64", "4.0")["fchmodat2"] == 452
    assert "map_shadow_stack" not in syscall_table("aarch64", "4.0")
    assert not known("set_mempolicy_home_node", "x86_64", "3.0")
    assert known("set_mempolicy_home_node", "x86_64", "3.1")


def test_versions() -> None:
    assert normalize_version("3.0.7") == "3.0"
    assert normalize_version("3.1.2") == "3.1"
    assert normalize_version("4.0.2") == "4.0"
    assert normalize_version("4.1") == "4.0"
    with pytest.raises(ValueError):
        normalize_version("2.8.5")
    with pytest.raises(ValueError):
        normalize_version("three")


def _installed_version() -> str:
    out = subprocess.run(
        ["auditctl", "-v"], capture_output=True, text=True, check=False, timeout=10
    )
    match = re.search(r"(\d+\.\d+(\.\d+)?)", out.stdout + out.stderr)
    assert match, out
    return match.group(1)


def _dump(machine: str) -> dict[str, int]:
    out = subprocess.run(
        ["ausyscall", machine, "--dump"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    table: dict[str, int] = {}
    for line in out.splitlines()[1:]:
        number, name = line.split()
        table[name] = int(number)
    return table


@pytest.mark.skipif(shutil.which("ausyscall") is None, reason="ausyscall not installed")
@pytest.mark.parametrize("machine", ["x86_64", "i386", "aarch64", "arm"])
def test_tables_match_installed_ausyscall(machine: str) -> None:
    """Our table for the installed audit version is what its ausyscall knows, except the names
    we withhold from 3.0 on purpose (3.0.7 may not know them)."""
    version = _installed_version()
    ours = syscall_table(machine, version)
    theirs = _dump(machine)
    if normalize_version(version) == "3.0":
        withheld = {n: theirs[n] for n in _NOT_IN_30 if n in theirs}
        assert withheld, "a withheld name should be in the 3.0.9 dump"
        ours = {**ours, **withheld}
    if normalize_version(version) == "4.0":
        # our 4.0 delta is a floor: every name we claim must resolve to the same number
        assert {n: theirs.get(n) for n in ours} == ours
        return
    assert ours == theirs
