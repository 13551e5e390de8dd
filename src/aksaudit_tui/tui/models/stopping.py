"""What the wizard says while quitting stops a run safely, and what quitting at once would
leave behind (Textual-free, so it is testable on its own).

Quitting mid-run stops the run safely first: nothing new starts, in-flight steps are recorded
as interrupted, one-shot pods are deleted. That can take up to the engine thread's cleanup
bound (90 s) on a slow API server, so the wizard names what it is waiting for and offers a
second quit key to leave at once. The pods counted are the nodes whose one-shot pod exists
(phase ``scheduled`` or ``running``); a keeper's pods are meant to stay, so a keeper rollout
has none to delete.
"""

from __future__ import annotations

from dataclasses import dataclass

from aksaudit_tui.tui.models.runmodel import RunModel

IN_FLIGHT = ("scheduled", "running")


@dataclass(frozen=True)
class StopNotice:
    """The notification shown while the safe stop runs."""

    pods: int  # one-shot pods the stop deletes
    message: str


def pods_in_flight(model: RunModel, delivery: str | None) -> int:
    """One-shot pods of the run that exist now (a remove always runs one-shot pods)."""
    if model.kind != "remove" and delivery != "one-shot":
        return 0
    return sum(1 for n in model.nodes.values() if n.phase in IN_FLIGHT)


def stop_notice(model: RunModel, delivery: str | None, force_keys: str) -> StopNotice:
    """What the wizard shows from the moment the user chose "Stop and quit"."""
    pods = pods_in_flight(model, delivery)
    doing = (
        f"deleting {pods} one-shot pod(s) and recording in-flight steps as interrupted"
        if pods
        else "recording in-flight steps as interrupted"
    )
    left = (
        f"leaves {pods} privileged pod(s) on the nodes (`aksaudit cleanup` deletes them) "
        "and the run unfinished (`aksaudit resume` continues it)"
        if pods
        else "leaves the run unfinished (`aksaudit resume` continues it)"
    )
    return StopNotice(
        pods,
        f"Stopping safely: {doing}; the wizard quits when that is done. "
        f"Press {force_keys} again to quit at once: that {left}.",
    )
