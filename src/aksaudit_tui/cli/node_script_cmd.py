"""`aksaudit node-script`: print the node script exactly as it runs as root on the nodes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aksaudit_tui.errors import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "node-script",
        help="print the node script (what runs as root on each node)",
        description=(
            "Print the self-contained POSIX sh script that installs auditd, writes the syslog "
            "plugin and one rules file, and loads them. Run it as 'sh node.sh [apply|check|"
            "remove]'; it honours AKSAUDIT_ROOT and ends with one JSON status line."
        ),
    )
    parser.add_argument(
        "--presets",
        default="",
        metavar="A,B",
        help="comma-separated rule preset names (see 'aksaudit presets list')",
    )
    parser.add_argument(
        "--custom", type=Path, metavar="FILE", help="extra audit rules from a file (validated)"
    )
    parser.add_argument("--facility", required=True, help="syslog facility, e.g. authpriv")
    parser.add_argument("--severity", default="info", help="syslog severity (default: info)")
    parser.add_argument(
        "--mode",
        default="apply",
        choices=("apply", "check", "remove"),
        help="the script's default mode when run without an argument (default: apply)",
    )
    parser.set_defaults(func=_run)


def _rules_text(preset_names: list[str], custom_text: str | None) -> str:
    if not preset_names:
        return custom_text or ""
    import importlib

    # Looked up at run time: the presets package may not provide it in a partial build.
    render_rules = getattr(importlib.import_module("aksaudit_tui.presets"), "render_rules", None)
    if render_rules is None:
        raise UsageError("rule presets are not available in this build; use --custom FILE")
    try:
        return str(render_rules(preset_names, custom_text=custom_text))
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc).strip("'\"")) from exc


def _run(args: argparse.Namespace) -> int:
    from aksaudit_tui.nodes.script import render_node_script

    names = [n.strip() for n in str(args.presets).split(",") if n.strip()]
    custom_text: str | None = None
    if args.custom is not None:
        try:
            custom_text = args.custom.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --custom {args.custom}: {exc.strerror}") from exc
    if not names and custom_text is None:
        raise UsageError("give --presets A,B and/or --custom FILE")
    rules = _rules_text(names, custom_text)
    try:
        script = render_node_script(rules, args.facility, args.severity, args.mode)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    sys.stdout.write(script)
    return 0
