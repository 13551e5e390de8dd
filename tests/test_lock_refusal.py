"""Issue 10 point 4: no rules text can lock the kernel (``-e 2``) or make it panic (``-f 2``),
in any spelling auditctl acts on. The Python parser refuses them (presets, custom rules, plan
files, the rendered node script); no flag or plan key opts in."""

from __future__ import annotations

import pytest

from aksaudit_tui.cli.main import main
from aksaudit_tui.engine import plan_io
from aksaudit_tui.errors import UsageError
from aksaudit_tui.nodes.script import render_node_script
from aksaudit_tui.presets import render_rules, validate_rules
from aksaudit_tui.presets.rules import MAX_LINE, lock_setting
from test_plan_io import GOOD as PLAN

# Every line auditctl would act on to set -e 2 / -f 2 (getopt: attached values, bundled flags,
# any position on the line; a tab before '#' is no comment to auditctl, which splits on spaces).
LOCKING = [
    ("-e 2", "e"),
    ("-e2", "e"),
    ("-e  2", "e"),
    ("  -e 2", "e"),
    ("-e\t2", "e"),
    ("-b 8192 -e 2", "e"),
    ("-D -e 2", "e"),
    ("-De 2", "e"),
    ("-De2", "e"),
    ("-r 0 -e2", "e"),
    ("\t# -e 2", "e"),
    ("x -e 2", "e"),
    ("-f 2", "f"),
    ("-f2", "f"),
    ("-b 8192 -f 2", "f"),
    ("-Df2", "f"),
    ("--backlog_wait_time 60000 -f 2", "f"),
]
# Lines that do not lock: real comments, other values, the 2 as another option's value.
HARMLESS = [
    "# -e 2",
    "   # -e 2 is never written",
    "#-e 2",
    "-e 1",
    "-e 0",
    "-f 1",
    "-e 02",
    "-ke 2",
    "--backlog_wait_time 2",
    "-w /etc/e2 -p wa -k e2",
    "-a always,exit -F arch=b64 -S execve -F a0=2 -k f2",
]


@pytest.mark.parametrize(("line", "letter"), LOCKING)
def test_every_locking_spelling_is_refused(line: str, letter: str) -> None:
    assert lock_setting(line) == letter
    errors = validate_rules(f"-b 8192\n{line}\n-f 1\n", "t.rules")
    assert [e.line for e in errors] == [2]
    assert errors[0].message.startswith(f"-{letter} 2 ")
    with pytest.raises(UsageError, match=rf"^custom\.rules:1: -{letter} 2 "):
        render_rules(["procmon-sessions"], f"{line}\n")
    with pytest.raises(ValueError, match=rf"rules line 2: -{letter} 2 "):
        render_node_script(f"-b 8192\n{line}\n", "authpriv")


@pytest.mark.parametrize("line", HARMLESS)
def test_harmless_lines_are_not_taken_for_locks(line: str) -> None:
    assert lock_setting(line) is None


def test_no_opt_in_exists() -> None:
    with pytest.raises(TypeError):
        validate_rules("-e 2", "t", allow_lock=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        render_rules(["procmon-sessions"], "-e 2\n", allow_lock=True)  # type: ignore[call-arg]
    with pytest.raises(SystemExit) as exc:
        main(["presets", "render", "procmon-all", "--allow-lock"])
    assert exc.value.code == 2


def test_lines_auditctl_would_read_as_two_are_refused() -> None:
    long = "-w /etc/passwd -p wa -k " + "k" * MAX_LINE
    errors = validate_rules(long, "t")
    assert len(errors) == 1 and "longer than" in errors[0].message
    with pytest.raises(ValueError, match="longer than"):
        render_node_script("-w /etc/passwd -p wa -k x " + " " * MAX_LINE + "\n", "authpriv")


def test_plans_cannot_opt_in_and_never_write_the_key() -> None:
    with pytest.raises(UsageError, match=r"plan\.yaml:16: allow_lock is gone"):
        plan_io.loads(PLAN + "allow_lock: true\n", name="plan.yaml")
    old = plan_io.loads(PLAN + "allow_lock: false\n", name="plan.yaml")  # plans written before
    assert "allow_lock" not in plan_io.dumps(old)
    inline = PLAN + "custom_rules:\n  inline: |\n    -b 8192 -e 2\n"
    with pytest.raises(UsageError, match="-e 2 locks"):
        plan_io.loads(inline, name="plan.yaml")
