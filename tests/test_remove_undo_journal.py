"""Remove's log-path undo from this machine's journal: every readable apply's tokens are used,
and a journal that cannot be read is named in one line (never silently an empty answer); the
remove command's arguments all say what they are for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aksaudit_tui.cli.main import build_parser, walk
from aksaudit_tui.engine.journal import Journal
from aksaudit_tui.engine.logpath_undo import LogPathUndo
from aksaudit_tui.engine.runoptions import RemoveOptions
from aksaudit_tui.engine.undo_scan import undo_tokens
from aksaudit_tui.nodes.record import AppliedRecord, merged
from engine_helpers import dcr_bodies, engine_for, linux_nodes, node_root
from test_plan_io import plan
from tui_helpers import pinned_oneshot_plan


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
    kept = {"aks-prod-weu": LogPathUndo(("addon|/subscriptions/x/c",))}
    j.create(p, steps, kind="remove", options=RemoveOptions(False, kept))
    undone = {"aks-prod-weu": LogPathUndo(("dcr|/subscriptions/x/undone",))}
    j.create(p, steps, kind="remove", options=RemoveOptions(True, undone))
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


def test_remove_options_are_journaled_in_the_layout_earlier_versions_wrote(tmp_path: Path) -> None:
    """The typed options write the journal's version-1 layout, and read back what earlier
    versions wrote (a hand-edited value of the wrong shape reads as absent)."""
    j = Journal(tmp_path)
    undo = {"aks-prod-weu": LogPathUndo(("dcr|/subscriptions/x/r",), ("a note",))}
    rec = j.create(plan(), ("access",), kind="remove", options=RemoveOptions(True, undo))
    written = json.loads(rec.path.read_text())["options"]
    assert written == {
        "include_log_path": True,
        "undo": {"aks-prod-weu": {"tokens": ["dcr|/subscriptions/x/r"], "notes": ["a note"]}},
    }
    assert RemoveOptions.from_json(j.load(rec.run_id).options) == RemoveOptions(True, undo)
    assert RemoveOptions.from_json({"include_log_path": False}) == RemoveOptions(False, None)
    odd = RemoveOptions.from_json({"include_log_path": "yes", "undo": {"c": {"tokens": "x"}}})
    assert odd == RemoveOptions(False, {"c": LogPathUndo()})
    assert RemoveOptions.from_json(None) == RemoveOptions(False, None)


async def test_a_remove_journal_in_the_old_layout_resumes(
    make_emulator: Any, tmp_path: Path
) -> None:
    """A remove journal written by the version before the typed options (its JSON by hand, as
    that version's Journal.create wrote it), interrupted before any step: `resume` reads its
    options and undoes what its ``undo`` names (the apply's journal is gone: nothing else
    names those changes), restoring every node and the log path as it was."""
    emu = make_emulator(None)
    before = {b["name"]: b["properties"].get("dataSources") for b in dcr_bodies(emu)}
    engine = engine_for(emu, tmp_path / "state")
    engine.verify_after_apply = False
    applied_plan = await pinned_oneshot_plan(engine)
    applied = await engine.apply(applied_plan)
    assert applied.outcome == "ok", applied.message
    cluster = applied_plan.clusters[0].name
    tokens = engine.journal.load(applied.run_id).step(cluster, "log-path")["undo"]
    assert tokens, "the apply changed the log path: there is something to undo"
    (engine.journal.runs_dir / f"{applied.run_id}.json").unlink()
    nodes = linux_nodes(emu, cluster)
    assert all((node_root(emu, cluster, n) / "var/lib/aksaudit").exists() for n in nodes)
    old = {
        "version": 1,
        "run_id": "20261201T000000Z-0ld000",
        "kind": "remove",
        "state": "failed",
        "pid": 0,
        "started": "2026-12-01T00:00:00Z",
        "updated": "2026-12-01T00:00:00Z",
        "finished": "2026-12-01T00:00:01Z",
        "steps": ["access", "delivery", "log-path"],
        "plan": applied_plan.to_dict(),
        "options": {"include_log_path": True, "undo": {cluster: {"tokens": tokens, "notes": []}}},
        "clusters": {cluster: {"steps": {}}},
    }
    (engine.journal.runs_dir / f"{old['run_id']}.json").write_text(json.dumps(old, indent=1))

    result = await engine.resume(str(old["run_id"]))

    assert result.outcome == "ok", result.message
    for n in nodes:
        assert not (node_root(emu, cluster, n) / "var/lib/aksaudit").exists(), n
    done = engine.journal.load(str(old["run_id"]))
    assert done.step_state(cluster, "log-path") == "done"
    assert done.options == old["options"]  # the resume kept what the first attempt was asked
    after = {b["name"]: b["properties"].get("dataSources") for b in dcr_bodies(emu)}
    assert after == before
