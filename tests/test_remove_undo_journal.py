"""Remove's log-path undo from this machine's journal: every readable apply's tokens are used,
and a journal that cannot be read is named in one line (never silently an empty answer); the
remove command's arguments all say what they are for."""

from __future__ import annotations

import json
from pathlib import Path

from aksaudit_tui.cli.main import build_parser, walk
from aksaudit_tui.engine.journal import Journal
from aksaudit_tui.engine.removal import undo_tokens
from aksaudit_tui.nodes.record import AppliedRecord, merged
from test_plan_io import plan


def _apply_with_undo(j: Journal, tokens: list[str]) -> str:
    rec = j.create(plan(), ("access", "log-path", "delivery", "verify"))
    rec.mark("aks-prod-weu", "log-path", "running", undo=tokens)
    rec.mark("aks-prod-weu", "log-path", "done")
    rec.finish("ok")
    return rec.run_id


def test_unreadable_journals_are_named_and_readable_ones_still_give_their_tokens(
    tmp_path: Path,
) -> None:
    j = Journal(tmp_path)
    p = plan()
    good = _apply_with_undo(j, ["dcr-flow|/subscriptions/x/dcr", "addon|/subscriptions/x/c"])
    _apply_with_undo(j, ["dcr-flow|/subscriptions/x/dcr"])  # the same token once only
    (j.runs_dir / "torn.json").write_text('{"run_id": "torn", "plan": ')  # cut short
    newer = j.load(good).doc | {"run_id": "newer", "version": 99}
    (j.runs_dir / "newer.json").write_text(json.dumps(newer))
    mangled = j.load(good).doc | {"run_id": "mangled", "plan": {"clusters": [{}]}}
    (j.runs_dir / "mangled.json").write_text(json.dumps(mangled))

    undo = undo_tokens(j, p, p.clusters[0])

    assert undo.tokens == ("dcr-flow|/subscriptions/x/dcr", "addon|/subscriptions/x/c")
    text = "\n".join(undo.notes)
    assert len(undo.notes) == 3, text
    assert "torn.json" in text and "run newer" in text and "mangled.json" in text
    assert "unsupported journal version 99" in text
    for note in undo.notes:
        assert "\n" not in note and note.endswith("(if any) stay")


def test_a_clean_journal_gives_no_note(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    _apply_with_undo(j, ["ds|/subscriptions/x/ws|aksaudit-authpriv"])
    p = plan()
    undo = undo_tokens(j, p, p.clusters[0])
    assert undo.tokens == ("ds|/subscriptions/x/ws|aksaudit-authpriv",) and undo.notes == ()
    # another log path's tokens are not this plan's to undo
    other = p.with_changes(log_path="ama")
    assert undo_tokens(j, other, other.clusters[0]).tokens == ()


def test_every_argument_of_remove_has_a_help_text() -> None:
    remove = dict(walk(build_parser()))["remove"]
    for action in remove._actions:
        assert action.help, action.dest
    text = remove.format_help()
    assert "the plan file that was applied" in text and "remove without asking" in text


def test_a_remove_from_the_record_that_kept_the_log_path_leaves_its_tokens_to_this_journal(
    tmp_path: Path,
) -> None:
    """Its warning says the record's tokens are kept in this machine's journal: a later remove
    from this machine with the log path finds them there (not when that remove undid them)."""
    j = Journal(tmp_path)
    p = plan()
    steps = ("access", "log-path", "delivery")
    kept = {"aks-prod-weu": {"tokens": ["addon|/subscriptions/x/c"], "notes": []}}
    j.create(p, steps, kind="remove", options={"include_log_path": False, "undo": kept})
    undone = {"aks-prod-weu": {"tokens": ["dcr|/subscriptions/x/undone"], "notes": []}}
    j.create(p, steps, kind="remove", options={"include_log_path": True, "undo": undone})
    assert undo_tokens(j, p, p.clusters[0]).tokens == ("addon|/subscriptions/x/c",)
    other = p.with_changes(log_path="ama")
    assert undo_tokens(j, other, other.clusters[0]).tokens == ()


def test_the_undo_of_every_record_of_the_log_path_is_kept_oldest_first() -> None:
    def rec(at: str, ns: str, log_path: str, *tokens: str) -> AppliedRecord:
        r = AppliedRecord.from_json(
            {"v": 1, "applied_at": at, "namespace": ns, "log_path": log_path,
             "log_path_undo": list(tokens), "undo_withheld": [f"w-{at}"]}
        )  # fmt: skip
        assert r is not None
        return r

    old = rec("2026-01-01", "team-ns", "ama", "dcr|a", "dcra|b")
    other_path = rec("2026-02-01", "x", "legacy-oms", "ds|c")
    new = rec("2026-03-01", "aksaudit-system", "ama", "dcra|b", "vmss-ext|d")
    got = merged([new, other_path, old])
    assert got is not None and got.namespace == "aksaudit-system"
    assert got.log_path_undo == ("dcr|a", "dcra|b", "vmss-ext|d")
    assert got.undo_withheld == ("w-2026-01-01", "w-2026-03-01")
    assert merged([]) is None
