"""Which applies the remove flow offers (``tui.models.runlist.removable``): per cluster only the
apply that configured it last, never one superseded by a later apply, nothing for a cluster
whose newest run is a completed remove or is running elsewhere."""

from __future__ import annotations

from aksaudit_tui.engine.journal import RunSummary
from aksaudit_tui.tui.models.runlist import removable


def run(
    run_id: str, clusters: tuple[str, ...], when: str, state: str = "ok", kind: str = "apply"
) -> RunSummary:
    at = f"2026-11-{when}Z"
    return RunSummary(run_id, clusters, "verify", at, state, kind=kind, updated=at)


def offered(runs: list[RunSummary]) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.run_id, r.clusters) for r in removable(runs)]


def test_a_later_apply_supersedes_an_earlier_one_on_the_same_cluster() -> None:
    runs = [
        run("new", ("a",), "27T07:00:00"),
        run("old", ("a", "b"), "26T07:00:00"),
    ]
    # "a" is undone with the newer plan; the old run still owns "b"
    assert offered(runs) == [("new", ("a",)), ("old", ("b",))]
    # superseded on every cluster: the old run is not offered at all
    assert offered([run("newer", ("a", "b"), "28T07:00:00"), *runs]) == [("newer", ("a", "b"))]


def test_a_completed_remove_leaves_the_cluster_out() -> None:
    runs = [
        run("rm", ("a",), "27T08:00:00", kind="remove"),
        run("app", ("a", "b"), "27T07:00:00"),
    ]
    assert offered(runs) == [("app", ("b",))]
    assert offered([run("rm2", ("b",), "27T09:00:00", kind="remove"), *runs]) == []
    # an unfinished remove did not undo everything: the apply is still offered
    part = [run("rm", ("a",), "27T08:00:00", state="partial", kind="remove"), runs[1]]
    assert offered(part) == [("app", ("a", "b"))]
    # an apply after the remove configured it again
    again = [run("re", ("a",), "27T09:00:00", state="failed"), *runs]
    assert offered(again) == [("re", ("a",)), ("app", ("b",))]


def test_the_latest_successful_apply_wins_over_a_newer_unfinished_one() -> None:
    runs = [
        run("broken", ("a",), "27T08:00:00", state="failed"),
        run("good", ("a",), "27T07:00:00"),
    ]
    assert offered(runs) == [("good", ("a",))]
    # a cluster never applied successfully: its newest attempt (it may have changed nodes)
    first = [run("f2", ("a",), "27T08:00:00", state="interrupted"),
             run("f1", ("a",), "27T07:00:00", state="failed")]  # fmt: skip
    assert offered(first) == [("f2", ("a",))]


def test_a_cluster_being_changed_elsewhere_is_not_offered() -> None:
    runs = [run("busy", ("a",), "27T08:00:00", state="running"), run("app", ("a", "b"), "27T07:00")]
    assert offered(runs) == [("app", ("b",))]


def test_a_resumed_run_is_as_new_as_its_resume() -> None:
    resumed = RunSummary(
        "early", ("a",), "verify", "2026-11-26T07:00:00Z", "ok", updated="2026-11-28T07:00:00Z"
    )
    assert offered([run("mid", ("a",), "27T07:00:00"), resumed]) == [("early", ("a",))]
