"""Command-line entry point: builds the parser from one module per command group.

Each command module exposes ``register(subparsers) -> None`` and may expose
``register_root(parser) -> None`` for top-level options (the wizard sets the root parser's
``func`` that way). A handler set with ``set_defaults(func=...)`` takes the parsed
``argparse.Namespace`` and returns an exit code.
Modules are imported here, so they must keep their own heavy imports (Azure SDK, kubernetes,
Textual) inside the handler functions: startup time is a tracked figure.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from aksaudit_tui import __version__
from aksaudit_tui.errors import EXIT_ERROR, EXIT_USAGE, UsageError, UserError

# Order is the order shown in --help.
COMMAND_MODULES = (
    "aksaudit_tui.cli.tui_cmd",  # (no subcommand) wizard, demo
    "aksaudit_tui.cli.emulator_cmd",  # emulator
    "aksaudit_tui.cli.discover_cmd",  # discover
    "aksaudit_tui.cli.engine_cmds",  # plan, apply, resume, status, verify, remove, cleanup
    "aksaudit_tui.cli.presets_cmd",  # presets list/show/render
    "aksaudit_tui.cli.node_script_cmd",  # node-script
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, exit 2, as the contract says; argparse would print the whole usage.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="aksaudit",
        description="Turn on auditd on every AKS worker node, ship it to Log Analytics, prove it.",
    )
    parser.add_argument("--version", action="version", version=f"aksaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command group not built yet
        if hasattr(module, "register_root"):
            module.register_root(parser)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args))
    except UsageError as exc:
        print(f"aksaudit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UserError as exc:
        print(f"aksaudit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aksaudit: cancelled", file=sys.stderr)
        return 4
    except BrokenPipeError:
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
