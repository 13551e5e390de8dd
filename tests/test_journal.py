"""Run journal: atomic versioned JSON, listing, interrupted detection, cluster locks, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aksaudit_tui.engine.journal import JOURNAL_VERSION, Journal, redact
from aksaudit_tui.errors import UserError
from test_plan_io import plan


def test_every_transition_is_saved_as_valid_json(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    rec = j.create(plan(), ("access", "log-path", "delivery", "verify"))
    rec.mark("aks-prod-weu", "access", "running")
    on_disk = json.loads(rec.path.read_text())
    assert on_disk["version"] == JOURNAL_VERSION
    assert on_disk["clusters"]["aks-prod-weu"]["steps"]["access"]["state"] == "running"
    rec.set_lro("aks-prod-weu", "log-path", "ext", "continuation-token-1")
    rec.mark("aks-prod-weu", "access", "already", message="ok")
    rec.finish("ok")
    doc = json.loads(rec.path.read_text())
    assert doc["state"] == "ok"
    assert doc["clusters"]["aks-prod-weu"]["steps"]["log-path"]["lro"] == {
        "ext": "continuation-token-1"
    }
    assert doc["plan"]["clusters"][0]["name"] == "aks-prod-weu"
    # no temp files left behind, file private
    assert [p.name for p in rec.path.parent.iterdir()] == [rec.path.name]
    assert oct(rec.path.stat().st_mode & 0o777) == "0o600"
    # the plan comes back whole
    assert j.load(rec.run_id).plan == plan()


def test_list_runs_newest_first_and_dead_runs_are_interrupted(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    a = j.create(plan(), ("access",), run_id="20260101T000000Z-aaaaaa")
    b = j.create(plan(), ("access",), run_id="20260102T000000Z-bbbbbb")
    b.mark("aks-prod-weu", "access", "done")
    b.finish("ok")
    # a run whose process is gone
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    a.set(pid=int(dead.stdout))
    runs = j.list_runs()
    assert [r.run_id for r in runs] == [b.run_id, a.run_id]
    by_id = {r.run_id: r for r in runs}
    assert by_id[a.run_id].state == "interrupted"
    assert by_id[b.run_id].state == "ok"
    assert by_id[b.run_id].step == "access"
    assert j.latest_unfinished() is not None


def test_registered_secrets_never_reach_the_file(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    redact("SUPERSECRETWORKSPACEKEY==")
    rec = j.create(plan(), ("access",))
    rec.mark("aks-prod-weu", "access", "failed", message="boom SUPERSECRETWORKSPACEKEY== here")
    assert "SUPERSECRETWORKSPACEKEY" not in rec.path.read_text()


def test_a_cluster_cannot_be_locked_twice(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    cid = plan().clusters[0].id
    with j.locked([cid], "run-1"):
        with pytest.raises(UserError, match='cluster "aks-prod-weu" is being changed by another'):
            j.lock_cluster(cid, "run-2")
        # another process too
        code = (
            "import sys; from pathlib import Path\n"
            "from aksaudit_tui.engine.journal import Journal\n"
            f"j = Journal(Path({str(tmp_path)!r}))\n"
            "try:\n"
            f"    j.lock_cluster({cid!r}, 'run-3')\n"
            "except Exception as e:\n"
            "    print(e); sys.exit(7)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 7, out.stderr
        assert f"pid {os.getpid()} run run-1" in out.stdout
    # released: a new lock works
    j.lock_cluster(cid, "run-4").release()


def test_corrupt_or_unknown_journal_is_a_clear_error(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.runs_dir.mkdir(parents=True)
    (j.runs_dir / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="journal is not valid JSON"):
        j.load("bad")
    assert j.list_runs() == []
    with pytest.raises(UserError, match="no run"):
        j.load("missing")
