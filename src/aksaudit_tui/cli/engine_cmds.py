"""Headless engine commands: plan, apply, resume, status, verify, remove, cleanup.

A contract scripts rely on: results on stdout (``--json``: one JSON object per line, events then a
final summary object), human progress on stderr, exit codes 0 ok / 1 error / 2 usage / 3 partly
failed / 4 cancelled / 5 verification failed. Heavy imports stay inside the handlers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

# Light: the plan's vocabulary and defaults (no SDK imports), so --help can show them.
from aksaudit_tui.cli import checks
from aksaudit_tui.engine.plan import (
    DEFAULT_IMAGE,
    DEFAULT_LOG_PATH,
    DEFAULT_NAMESPACE,
    DELIVERIES,
    LOG_PATHS,
)
from aksaudit_tui.errors import (
    EXIT_CANCELLED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VERIFY_FAILED,
    UsageError,
    UserError,
)
from aksaudit_tui.nodes.image import FLAG_FIX, require_digest

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aksaudit_tui.engine.events import Event
    from aksaudit_tui.engine.logpath_undo import LogPathUndo
    from aksaudit_tui.engine.plan import Plan
    from aksaudit_tui.engine.service import Engine

T = TypeVar("T")


def register(subparsers: Any) -> None:
    from aksaudit_tui.cloud.settings import add_cloud_arguments, add_discovery_arguments

    def common(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
        add_cloud_arguments(p)
        p.add_argument(
            "--state-dir",
            metavar="DIR",
            default=None,
            help="run journals dir (default: the platform state dir; env AKSAUDIT_STATE_DIR)",
        )
        if json_flag:
            p.add_argument("--json", action="store_true", help="one JSON object per line on stdout")

    p = subparsers.add_parser("plan", help="write a plan (plan.yaml) from flags, resolving names")
    p.add_argument("--cluster", action="append", required=True, metavar="NAME", help="repeatable")
    p.add_argument(
        "--workspace",
        action="append",
        default=[],
        metavar="[CLUSTER=]WORKSPACE",
        help="name, workspace ID or ARM id; CLUSTER=WORKSPACE for one cluster (repeatable); "
        "without it each cluster takes the workspace its monitoring add-on uses, else the one "
        "in its subscription and region",
    )
    p.add_argument("--subscription", metavar="ID", default=None, help="limit discovery")
    p.add_argument("--log-path", choices=LOG_PATHS, default=DEFAULT_LOG_PATH)
    p.add_argument("--presets", metavar="A,B", default=None)
    p.add_argument("--custom-rules", metavar="FILE", default=None)
    p.add_argument("--facility", default="authpriv")
    p.add_argument("--severity", default="info")
    p.add_argument("--delivery", choices=DELIVERIES, default="keeper")
    p.add_argument("--namespace", default=None, help=f"for our pods (default: {DEFAULT_NAMESPACE})")
    p.add_argument("--image", default=None, help=f"pod image (default: {DEFAULT_IMAGE})")
    p.add_argument("--concurrency", type=int, default=None)
    p.add_argument("--kube-context", action="append", default=[], metavar="CLUSTER=CONTEXT")
    p.add_argument("--out", metavar="FILE", default=None, help="default: print to stdout")
    p.add_argument(
        "--equivalents",
        action="store_true",
        help="print the equivalent az/kubectl commands on stdout instead of the plan "
        "(the plan still goes to --out)",
    )
    common(p, json_flag=False)
    add_discovery_arguments(p)
    p.set_defaults(func=_cmd_plan)

    p = subparsers.add_parser("apply", help="apply a plan: log path, node delivery, verify")
    p.add_argument("plan", metavar="PLAN")
    p.add_argument("--yes", action="store_true", help="change without asking")
    p.add_argument("--no-verify", action="store_true", help="skip the log-arrival check")
    p.add_argument("--verify-timeout", type=float, default=None, metavar="SECONDS")
    common(p)
    p.set_defaults(func=_cmd_apply)

    p = subparsers.add_parser("resume", help="continue a half-finished run")
    p.add_argument("run_id", metavar="RUN_ID", nargs="?", default=None)
    p.add_argument("--yes", action="store_true")
    p.add_argument("--list", action="store_true", help="list runs and exit")
    p.add_argument("--no-verify", action="store_true")
    p.add_argument("--verify-timeout", type=float, default=None, metavar="SECONDS")
    common(p)
    p.set_defaults(func=_cmd_resume)

    p = subparsers.add_parser(
        "status", help="coverage of every cluster and node you can read (read-only)"
    )
    p.add_argument("--cluster", metavar="NAME", default=None)
    p.add_argument("--subscription", metavar="ID", default=None)
    p.add_argument(
        "--window", default="24h", help="look back this far for heartbeats (e.g. 24h, 2h)"
    )
    p.add_argument(
        "--probe-nodes",
        action="store_true",
        help="also run a check pod (privileged) on every node of clusters applied from here; "
        "it changes nothing on the node but aksaudit's own heartbeat file "
        "(/var/lib/aksaudit/heartbeat); without it nothing is started or written",
    )
    common(p)
    add_discovery_arguments(p)
    p.set_defaults(func=_cmd_status)

    p = subparsers.add_parser("verify", help="check audit lines arrive from every Linux node")
    p.add_argument(
        "--since",
        default="15m",
        help="look back this far (e.g. 15m, 2h, 30s); with --probe-nodes only records since "
        "the probe count",
    )
    p.add_argument("--run", metavar="RUN_ID", default=None, help="default: the newest run")
    p.add_argument("--plan", metavar="PLAN", default=None, help="verify this plan's clusters")
    p.add_argument(
        "--probe-nodes",
        action="store_true",
        help="first run a check pod (privileged) on every node; it changes nothing on the node "
        "but aksaudit's own heartbeat file (/var/lib/aksaudit/heartbeat): a compliant node "
        "touches it, which verify then waits for, and a node the check finds not compliant is "
        "missing with its reason; without it verify starts nothing and reads the keeper's status",
    )
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS")
    common(p)
    p.set_defaults(func=_cmd_verify)

    p = subparsers.add_parser(
        "remove",
        help="undo an enablement on the nodes (and optionally the log path): from the plan "
        "that was applied, or from the cluster's own record",
    )
    p.add_argument(
        "plan",
        metavar="PLAN",
        nargs="?",
        default=None,
        help="the plan file that was applied: its clusters are restored as it configured them",
    )
    p.add_argument(
        "--cluster",
        metavar="NAME",
        default=None,
        help="instead of PLAN: remove what the cluster's record (ConfigMap aksaudit-applied) "
        "says was applied, from any machine (no journal needed)",
    )
    p.add_argument(
        "--subscription", metavar="ID", default=None, help="with --cluster: where to look for it"
    )
    p.add_argument(
        "--image",
        metavar="REPO@sha256:...",
        default=None,
        help="with --cluster: the pods' image, by digest (a mirror's, on an air-gapped or "
        f"mirrored cluster; no registry is asked); default: {DEFAULT_IMAGE} pinned to its digest",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="remove without asking (needed when there is no terminal to confirm on)",
    )
    p.add_argument(
        "--log-path",
        action="store_true",
        help="also remove the DCR facility / data source / extensions the tool added",
    )
    common(p)
    p.set_defaults(func=_cmd_remove)

    p = subparsers.add_parser("cleanup", help="delete privileged pods the tool left behind")
    p.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    p.add_argument("--yes", action="store_true", help="delete without asking")
    common(p)
    p.set_defaults(func=_cmd_cleanup)


# --- helpers -------------------------------------------------------------------------------------


def _engine(args: argparse.Namespace, azure: bool = True) -> Engine:
    """The engine for a command, after its flags were checked; ``azure`` commands need a
    sign-in source (checked offline: not signed in is one line, exit 1, nothing sent)."""
    from aksaudit_tui.engine.service import Engine

    settings = checks.cloud_settings(args)
    if azure:
        checks.signed_in(settings)
    state = Path(args.state_dir) if getattr(args, "state_dir", None) else None
    return Engine(settings, state_dir=state)


def parse_duration(text: str, flag: str = "--since") -> timedelta:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise UsageError(f'{flag} "{text}" is not a duration; use e.g. 30s, 15m, 2h, 1d')
    seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2) or "s"]
    # Log Analytics keeps data at most 12 years; anything past two years is a typo.
    if not 0 < seconds <= 730 * 86400:
        raise UsageError(f'{flag} "{text}" must be above 0 and at most 730d')
    return timedelta(seconds=seconds)


class Renderer:
    """Events to stdout JSON lines (``--json``) or to human lines on stderr (Rich)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._last_wait = 0.0
        from rich.console import Console

        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def json_line(self, obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj, default=str) + "\n")
        sys.stdout.flush()

    def __call__(self, ev: Event) -> None:
        if self.as_json:
            self.json_line(ev.to_json())
            return
        from rich.markup import escape

        name = type(ev).__name__
        d = ev.to_json()
        c = escape(str(d.get("cluster") or ""))
        if name == "RunStarted":
            self.err.print(
                f"[bold]run {escape(d['run_id'])}[/]: {', '.join(map(escape, d['clusters']))}"
            )
        elif name == "StepStarted":
            self.err.print(f"[cyan]{c}[/] {escape(d['step'])}: {escape(d['title'])}")
            for line in d["changes"]:
                self.err.print(f"    will change: {escape(line)}")
        elif name == "StepLog":
            style = {"warning": "yellow", "error": "red"}.get(d["level"], "dim")
            node = f" {escape(d['node'])}" if d.get("node") else ""
            self.err.print(f"  [{style}]{c}{node}: {escape(d['line'])}[/]")
        elif name == "StepFinished":
            style = {"done": "green", "already": "green", "failed": "red"}.get(
                d["outcome"], "yellow"
            )
            msg = f" - {escape(d['message'])}" if d["message"] else ""
            self.err.print(f"[cyan]{c}[/] {escape(d['step'])}: [{style}]{d['outcome']}[/]{msg}")
        elif name == "NodeUpdate":
            if d["phase"] in ("compliant", "failed", "skipped", "removed"):
                style = {"compliant": "green", "failed": "red"}.get(d["phase"], "dim")
                self.err.print(
                    f"  {c} {escape(d['node'])}: [{style}]{d['phase']}[/] {escape(d['result'])}"
                )
        elif name == "VerifyWaiting":
            now = time.monotonic()
            if now - self._last_wait >= 5 or d["arrived"] == d["expected"]:
                self._last_wait = now
                self.err.print(
                    f"  waiting for audit lines: {d['arrived']}/{d['expected']} nodes, "
                    f"{d['seconds_left']:.0f}s left"
                )
        elif name == "NodeArrival":
            if not d["arrived"] and d.get("reason"):
                self.err.print(
                    f"  [red]{c} {escape(d['node'])}: no audit lines[/] - {escape(d['reason'])}"
                )
        elif name == "RunWarning":
            where = f"{c}: " if c else ""
            self.err.print(f"[yellow]warning:[/] {where}{escape(d['message'])}")
        elif name == "RunFinished":
            style = {"ok": "green", "cancelled": "yellow"}.get(d["outcome"], "red")
            msg = f": {escape(d['message'])}" if d["message"] else ""
            self.err.print(f"[bold {style}]run {d['outcome']}[/]{msg}")


def _run_cancellable(make: Callable[[asyncio.Event], Awaitable[T]]) -> tuple[T, bool]:
    """Run a coroutine with SIGINT/SIGTERM setting its cancel flag. Returns (value, cancelled)."""

    async def main() -> tuple[T, bool]:
        cancel = asyncio.Event()
        loop = asyncio.get_running_loop()
        hits = {"n": 0}

        def on_signal() -> None:
            hits["n"] += 1
            cancel.set()
            if hits["n"] == 1:
                print("aksaudit: cancelling (cleaning up; press again to abort)", file=sys.stderr)
            else:
                os._exit(EXIT_CANCELLED)

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
        value = await make(cancel)
        return value, cancel.is_set()

    return asyncio.run(main())


def _confirm(args: argparse.Namespace, what: str) -> None:
    """Without --yes: ask on a terminal, refuse (exit 2) without one."""
    if getattr(args, "yes", False):
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError(f"refusing to {what} without --yes (no terminal to confirm on)")
    sys.stderr.write(f"{what}? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not confirmed; nothing changed")


def _print_review(changes: list[Any]) -> None:
    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for ch in changes:
        mark = "[green]already done[/]" if ch.status == "already done" else "[yellow]will change[/]"
        err.print(f"{escape(ch.cluster)} {escape(ch.step)}: {mark} {escape(ch.description)}")
        if ch.warning:
            err.print(f"    [yellow]warning:[/] {escape(ch.warning)}")


# --- commands ------------------------------------------------------------------------------------


def _cmd_plan(args: argparse.Namespace) -> int:
    from aksaudit_tui.engine import plan_io
    from aksaudit_tui.engine.plan import PlanRequest

    checks.plan_flags(args)
    if args.out and Path(args.out).is_dir():
        raise UsageError(f"--out {args.out}: is a directory; name the plan file")
    contexts = checks.kube_contexts(args.kube_context)
    workspace, workspaces = checks.workspace_flags(args.workspace)
    presets = checks.preset_list(args.presets)
    engine = _engine(args)
    plan = asyncio.run(
        engine.plan_from_names(
            PlanRequest(
                clusters=args.cluster,
                workspace=workspace,
                workspaces=workspaces,
                subscription=args.subscription,
                log_path=args.log_path,
                presets=presets,
                custom_rules_file=args.custom_rules,
                facility=args.facility,
                severity=args.severity,
                delivery=args.delivery,
                namespace=args.namespace,
                image=args.image,
                concurrency=args.concurrency,
                kube_contexts=contexts,
            )
        )
    )
    for note in plan.notes:  # also a comment in the plan itself
        print(f"aksaudit: warning: {note}", file=sys.stderr)
    if args.out:
        plan_io.dump(plan, args.out)
        print(f"aksaudit: wrote {args.out}", file=sys.stderr)
    elif not args.equivalents:
        sys.stdout.write(plan_io.dumps(plan))
    if args.equivalents:
        from aksaudit_tui.engine.equivalents import equivalent_commands

        sys.stdout.write(equivalent_commands(plan))
    return EXIT_OK


def _verify_opts(engine: Engine, args: argparse.Namespace) -> None:
    if getattr(args, "no_verify", False):
        engine.verify_after_apply = False
    if getattr(args, "verify_timeout", None) is not None:
        engine.verify_deadline_s = float(args.verify_timeout)


def _cmd_apply(args: argparse.Namespace) -> int:
    from aksaudit_tui.engine import plan_io

    plan = plan_io.load(args.plan)
    checks.positive_seconds("--verify-timeout", args.verify_timeout)
    if not args.yes and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("refusing to change anything without --yes (no terminal to confirm on)")
    engine = _engine(args)
    _verify_opts(engine, args)
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise UsageError(
                "refusing to change anything without --yes (no terminal to confirm on)"
            )
        changes = asyncio.run(engine.review(plan))
        _print_review(changes)
        _confirm(args, "apply these changes")
    render = Renderer(args.json)
    result, _cancelled = _run_cancellable(lambda cancel: engine.apply(plan, render, cancel))
    if args.json:
        render.json_line(result.to_json())
    return result.exit_code


def _cmd_resume(args: argparse.Namespace) -> int:
    checks.positive_seconds("--verify-timeout", args.verify_timeout)
    if not args.list and not args.yes and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("refusing to change anything without --yes (no terminal to confirm on)")
    engine = _engine(args, azure=not args.list)
    _verify_opts(engine, args)
    if args.list:
        runs = engine.journal.list_runs()
        for r in runs:
            if args.json:
                print(json.dumps(r.__dict__, default=list))
            else:
                print(f"{r.run_id}  {r.state:<11} {r.kind:<7} {r.step:<10} {','.join(r.clusters)}")
        return EXIT_OK
    if not args.yes and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("refusing to change anything without --yes (no terminal to confirm on)")
    if not args.yes:
        _confirm(args, f"resume run {args.run_id or '(newest unfinished)'}")
    render = Renderer(args.json)
    result, _c = _run_cancellable(lambda cancel: engine.resume(args.run_id, render, cancel))
    if args.json:
        render.json_line(result.to_json())
    return result.exit_code


def _cmd_status(args: argparse.Namespace) -> int:
    engine = _engine(args)
    window = parse_duration(args.window, "--window")
    report = asyncio.run(
        engine.status(
            args.cluster,
            subscription=args.subscription,
            window=window,
            probe_nodes=args.probe_nodes,
        )
    )
    for w in report.warnings:
        print(f"aksaudit: warning: {w}", file=sys.stderr)
    code = EXIT_OK if report.fully_covered else EXIT_VERIFY_FAILED
    if args.json:
        print(json.dumps(report.to_json()))
        return code
    if not args.probe_nodes:
        _print_fleet(report)
        return code
    from rich.console import Console
    from rich.table import Table

    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=220)  # piped: do not squeeze the table to 80
    for c in report.clusters:
        if c.error:
            out.print(f"{c.name}: [red]{c.error}[/]", markup=True)
            continue
        t = Table(title=f"{c.name}: coverage {c.coverage:.0%}", title_justify="left")
        for col in (
            "node",
            "pool",
            "os",
            "audit",
            "auditd",
            "plugin",
            "rules",
            "log path",
            "last seen",
            "skipped",
        ):
            t.add_column(col)

        def yn(v: bool | None) -> str:
            return "-" if v is None else ("yes" if v else "NO")

        for n in c.nodes:
            t.add_row(
                n.node,
                n.pool,
                n.os,
                n.audit_version or "-",
                yn(n.auditd_running),
                n.plugin_facility or "-",
                yn(n.rules_match),
                yn(n.log_path_ok),
                n.last_seen or "-",
                n.skipped_reason or "",
            )
        out.print(t)
    return code


def _print_fleet(report: Any) -> None:
    """One line per cluster, then a table of the nodes that are not covered."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=220)
    style = {"covered": "green", "drift": "yellow", "silent": "red", "new": "cyan"}
    for c in report.clusters:
        head = Text(f"{c.name}", style="bold")
        if c.error:
            head.append(f"  unknown: {c.error}", style="red")
        elif not c.enabled:
            head.append("  0% not enabled", style="dim")
        else:
            head.append(
                f"  {c.coverage:.0%} covered ({c.covered_count}/{len(c.linux_nodes)} Linux "
                f"nodes), {c.log_path}, {', '.join(c.presets)}; enabled by {c.enabled_by} at "
                f"{c.applied_at}; last heartbeat {c.last_heartbeat or 'none'}"
            )
            if c.drift_count:
                head.append(f"; {c.drift_count} drift", style="yellow")
        out.print(head)
        for note in c.notes:
            out.print(f"  note: {note}", markup=False)
        rows = [n for n in c.nodes if n.state not in ("covered", "not enabled")]
        if not rows:
            continue
        t = Table(show_header=True, box=None, pad_edge=False)
        for col in ("node", "pool", "state", "reason", "fix"):
            t.add_column(col)
        for n in rows:
            t.add_row(
                n.node,
                n.pool,
                Text(n.state or "-", style=style.get(n.state or "", "")),
                Text(n.reason),
                Text(n.fix),
            )
        out.print(t)


def _cmd_verify(args: argparse.Namespace) -> int:
    since = parse_duration(args.since)
    checks.positive_seconds("--timeout", args.timeout)
    target: Any = args.run
    if args.plan:
        from aksaudit_tui.engine import plan_io

        target = plan_io.load(args.plan)
    engine = _engine(args)
    render = Renderer(args.json)
    deadline = args.timeout if args.timeout is not None else engine.verify_deadline_s
    report, cancelled = _run_cancellable(
        lambda cancel: engine.verify(
            target, since, render, deadline, cancel, probe_nodes=args.probe_nodes
        )
    )
    if args.json:
        render.json_line(report.to_json())
    else:
        for n in report.nodes:
            mark = "arrived" if n.arrived else f"MISSING - {n.reason}"
            print(f"{n.cluster}\t{n.node}\t{n.records}\t{n.last_seen or '-'}\t{mark}")
        for e in report.errors:
            print(f"aksaudit: error: {e}", file=sys.stderr)
    if cancelled:
        return EXIT_CANCELLED
    return EXIT_OK if report.ok else EXIT_VERIFY_FAILED


def _cmd_remove(args: argparse.Namespace) -> int:
    from aksaudit_tui.engine import plan_io

    if (args.plan is None) == (args.cluster is None):
        raise UsageError(
            "remove needs exactly one of PLAN (the plan file that was applied) or --cluster "
            "NAME (what the cluster's record says was applied)"
        )
    if args.subscription and args.cluster is None:
        raise UsageError("--subscription goes with --cluster (a plan names its subscriptions)")
    if args.image is not None:
        if args.cluster is None:
            raise UsageError("--image goes with --cluster (a plan names its image)")
        require_digest(args.image, fix=FLAG_FIX)  # before any network call
    plan = plan_io.load(args.plan) if args.plan is not None else None
    if not args.yes and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("refusing to change anything without --yes (no terminal to confirm on)")
    engine = _engine(args)
    undo = None
    if plan is None:
        plan, undo = _removal_from_record(engine, args)
    else:
        _confirm(args, "remove the audit configuration from these clusters")
    render = Renderer(args.json)
    result, _c = _run_cancellable(
        lambda cancel: engine.remove(plan, render, args.log_path, cancel, undo)
    )
    if args.json:
        render.json_line(result.to_json())
    return result.exit_code


def _removal_from_record(
    engine: Engine, args: argparse.Namespace
) -> tuple[Plan, Mapping[str, LogPathUndo]]:
    """(plan, undo) of ``remove --cluster``, from the cluster's record; shown, then confirmed
    after the review unless --yes. One line and nothing changed when there is no record."""
    scan = asyncio.run(engine.recorded_clusters(args.cluster, subscription=args.subscription))
    if scan.problems:
        raise UserError(scan.problems[0])
    if not scan.clusters:
        name = scan.unrecorded[0] if scan.unrecorded else args.cluster
        raise UsageError(
            f"--cluster {name}: the cluster holds no aksaudit record (ConfigMap aksaudit-applied"
            "), so there is nothing it says was applied; nothing changed"
        )
    removal = engine.removal_from_record(scan.clusters[0], image=args.image)
    plan = removal.plan
    # --image (by digest) or this version's default image, never the record's: pinned here so
    # the review names the digest the pods run (the remove pins it again, a no-op then)
    plan = asyncio.run(engine.pin_image(plan))
    print(f"aksaudit: {removal.source.describe()}", file=sys.stderr)
    todo = removal.undo[removal.source.name]
    if not args.log_path and todo.tokens:
        print(
            f"aksaudit: the log path stays as it is ({len(todo.tokens)} recorded change(s); "
            "--log-path undoes them)",
            file=sys.stderr,
        )
    if not args.yes:
        changes = asyncio.run(
            engine.review_remove(plan, include_log_path=args.log_path, undo=removal.undo)
        )
        _print_review(changes)
        _confirm(args, f"remove the audit configuration from {removal.source.name}")
    return plan, removal.undo


def _cmd_cleanup(args: argparse.Namespace) -> int:
    engine = _engine(args, azure=False)  # kube only: the kubeconfig's contexts (flags checked)
    if not args.dry_run and not args.yes and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("refusing to delete anything without --yes (no terminal to confirm on)")
    listed = None
    if not args.dry_run and not args.yes:
        # show what would go, then ask; the deleting pass lists again under the cluster locks
        # and deletes only what was shown and agreed to (the cluster may change meanwhile)
        listed = asyncio.run(engine.cleanup(dry_run=True))
        if not listed:
            print("aksaudit: nothing left behind", file=sys.stderr)
            return EXIT_OK
        for f in listed:
            ns = f"{f.namespace}/" if f.namespace else ""
            print(f"{f.cluster}\t{f.kind}\t{ns}{f.name}\twould delete", file=sys.stderr)
        _confirm(args, f"delete these {len(listed)} object(s)")
    found = asyncio.run(engine.cleanup(dry_run=args.dry_run, confirmed=listed))
    if args.json:
        print(json.dumps({"leftovers": [f.to_json() for f in found], "dry_run": args.dry_run}))
    else:
        if not found:
            print("aksaudit: nothing left behind", file=sys.stderr)
        for f in found:
            verb = "deleted" if f.deleted else ("would delete" if args.dry_run else "FAILED")
            ns = f"{f.namespace}/" if f.namespace else ""
            print(f"{f.cluster}\t{f.kind}\t{ns}{f.name}\t{verb}")
    return EXIT_OK if args.dry_run or all(f.deleted for f in found) else 1


__all__ = ["EXIT_USAGE", "register"]
