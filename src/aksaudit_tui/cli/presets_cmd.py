"""``aksaudit presets list|show|render``: browse the rule presets and print the rules file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aksaudit_tui.errors import EXIT_OK, UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "presets",
        help="list, show and render audit rule presets",
        description="Audit rule presets: list them, show one, render the node's rules file.",
    )
    sub = parser.add_subparsers(dest="presets_command", metavar="ACTION", required=True)

    p_list = sub.add_parser("list", help="table of presets with expected volume")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.set_defaults(func=cmd_list)

    p_show = sub.add_parser("show", help="one preset: description, volume, tags, rules")
    p_show.add_argument("name", metavar="NAME")
    p_show.set_defaults(func=cmd_show)

    p_render = sub.add_parser(
        "render", help="print /etc/audit/rules.d/50-aksaudit.rules exactly as written on nodes"
    )
    p_render.add_argument("names", metavar="NAME", nargs="*", help="presets, in this order")
    p_render.add_argument("--custom", metavar="FILE", type=Path, help="extra rules file, last")
    p_render.set_defaults(func=cmd_render)


def _fmt_lines(value: float) -> str:
    return f"{value:,.0f}"


def cmd_list(args: argparse.Namespace) -> int:
    from aksaudit_tui.presets import estimate_volume, heartbeat_volume, load_presets

    presets = load_presets()
    rows = []
    for name, preset in presets.items():
        est = estimate_volume([name], presets=presets)
        rows.append((preset, est))
    if args.json:
        hb = heartbeat_volume()
        out = [
            {
                "name": p.name,
                "title": p.title,
                "description": p.description,
                "volume": p.volume,
                "volume_reason": p.volume_reason,
                "scope": p.scope,
                "tags": list(p.tags),
                "keys": list(p.keys),
                "rules": len(p.rules),
                "source": str(p.source),
                "estimate": {
                    "lines_per_node_hour": e.lines_per_node_hour,
                    "bytes_per_node_day": e.bytes_per_node_day,
                    "assumptions": e.assumptions,
                    "heartbeat_lines_per_node_hour": hb.lines_per_node_hour,
                    "heartbeat_bytes_per_node_day": hb.bytes_per_node_day,
                },
            }
            for p, e in rows
        ]
        print(json.dumps(out, indent=2))
        return EXIT_OK
    headers = ("NAME", "TITLE", "VOLUME", "SCOPE", "LINES/NODE/H")
    table = [headers] + [
        (p.name, p.title, p.volume, p.scope, _fmt_lines(e.lines_per_node_hour)) for p, e in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for row in table:
        cells = [row[i].ljust(widths[i]) for i in range(len(headers) - 1)]
        cells.append(row[-1].rjust(widths[-1]))
        print("  ".join(cells))
    if rows:
        print(f"\nEstimates assume {rows[0][1].assumptions}.", file=sys.stderr)
    print(_heartbeat_note(), file=sys.stderr)
    return EXIT_OK


def _heartbeat_note() -> str:
    from aksaudit_tui.presets import heartbeat_volume

    hb = heartbeat_volume()
    return (
        f"The audit heartbeat adds {_fmt_lines(hb.lines_per_node_hour)} lines/node/hour "
        f"({hb.bytes_per_node_day / 1e6:,.2f} MB/node/day: {hb.assumptions}) to any choice."
    )


def cmd_show(args: argparse.Namespace) -> int:
    from aksaudit_tui.presets import estimate_volume, load_presets

    presets = load_presets()
    preset = presets.get(args.name)
    if preset is None:
        raise UsageError(f"unknown preset '{args.name}'; known presets: {', '.join(presets)}")
    est = estimate_volume([preset.name], presets=presets)
    print(f"{preset.name}: {preset.title}")
    print(f"source: {preset.source}")
    print(f"scope: {preset.scope}")
    print(f"volume: {preset.volume} - {preset.volume_reason}")
    print(
        f"estimate: {_fmt_lines(est.lines_per_node_hour)} lines/node/hour, "
        f"{est.bytes_per_node_day / 1e6:,.1f} MB/node/day"
    )
    print(_heartbeat_note())
    print(f"tags: {', '.join(preset.tags) or '-'}")
    print(f"keys: {', '.join(preset.keys) or '-'}")
    print(f"\n{preset.description}\n")
    for rule in preset.rules:
        print(rule)
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from aksaudit_tui.presets import render_rules

    custom_text = None
    custom_source = "custom.rules"
    if args.custom is not None:
        try:
            custom_text = args.custom.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --custom {args.custom}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--custom {args.custom} is not UTF-8 text") from None
        custom_source = str(args.custom)
    text = render_rules(args.names, custom_text, custom_source)
    sys.stdout.write(text)
    return EXIT_OK
