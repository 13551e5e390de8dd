"""Command-line entry point: builds the parser from one module per command group.

Each command module exposes ``register(subparsers) -> None`` and may expose
``register_root(parser) -> None`` for top-level options (the wizard sets the root parser's
``func`` that way). A handler set with ``set_defaults(func=...)`` takes the parsed
``argparse.Namespace`` and returns an exit code.
Modules are imported here, so they must keep their own heavy imports (Azure SDK, kubernetes,
Textual) inside the handler functions: startup time is a tracked figure.

Every command also gets ``-v/--verbose`` and the examples of ``cli/examples.py`` at the end of
its ``--help``. A run writes the libraries' diagnostics to a log file (``cli/logfile.py``);
stderr gets one line per error (plus the log file's path when it holds more), never a
traceback: an unexpected exception is logged with its traceback and shown as one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from aksaudit_tui import __version__, redaction
from aksaudit_tui.cli import examples, logfile, tui_cmd
from aksaudit_tui.errors import EXIT_CANCELLED, EXIT_ERROR, EXIT_USAGE, UsageError, UserError

_LOG = logging.getLogger("aksaudit_tui.cli")

# Order is the order shown in --help.
COMMAND_MODULES = (
    "aksaudit_tui.cli.tui_cmd",  # (no subcommand) wizard, demo
    "aksaudit_tui.cli.emulator_cmd",  # emulator
    "aksaudit_tui.cli.whoami_cmd",  # whoami
    "aksaudit_tui.cli.discover_cmd",  # discover
    "aksaudit_tui.cli.engine_cmds",  # plan, apply, resume, status, verify, remove, cleanup
    "aksaudit_tui.cli.presets_cmd",  # presets list/show/render
    "aksaudit_tui.cli.node_script_cmd",  # node-script
    "aksaudit_tui.cli.completion_cmd",  # completion
    "aksaudit_tui.cli.manifests_cmd",  # manifests
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, exit 2, as the contract says; argparse would print the whole usage.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual, but keeps the examples block line for line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(examples.HEADER):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def walk(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(command path, parser)`` for the root and every subcommand, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}".strip())


def _finish(parser: argparse.ArgumentParser) -> None:
    """What every command shares: --verbose, examples in --help, completers."""
    from aksaudit_tui.cli import completion_cmd

    for path, p in walk(parser):
        p.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="also show the libraries' diagnostics on stderr (always in the log file)",
        )
        p.formatter_class = _HelpFormatter
        text = examples.epilog(path)
        if text:
            p.epilog = text
        completion_cmd.attach_completers(p)


def build_parser(commands: bool = True) -> argparse.ArgumentParser:
    """The whole parser; with ``commands=False`` the root only (the bare ``aksaudit``, which
    starts the wizard: importing and building every subcommand cost its startup ~35 ms)."""
    parser = _Parser(
        prog="aksaudit",
        description="Turn on auditd on every AKS worker node, ship it to Log Analytics, prove it.",
    )
    parser.add_argument("--version", action="version", version=f"aksaudit {__version__}")
    if not commands:
        tui_cmd.register_root(parser)  # the root's options are the wizard's
        parser.set_defaults(command=None)
        _finish(parser)
        return parser
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
    _finish(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(commands=bool(args_in) or "_ARGCOMPLETE" in os.environ)
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions, then we exit
        from aksaudit_tui.cli import completion_cmd

        completion_cmd.complete(parser)
    args = parser.parse_args(args_in)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    # The wizard owns the terminal: its --verbose lines would tear the screen (file only).
    wizard = getattr(args, "command", None) in (None, "demo")
    session = logfile.start(bool(getattr(args, "verbose", False)) and not wizard)
    try:
        return _run(func, args, session)
    finally:
        session.close()


def one_line(exc: BaseException) -> str:
    """The message on one line, whatever a library put in it (a YAML error spans five)."""
    return " ".join(part.strip() for part in str(exc).splitlines() if part.strip())


def _run(func: Any, args: argparse.Namespace, session: logfile.LogSession) -> int:
    from aksaudit_tui.cloud.credentials import NotSignedInError

    def more(line: str, complete: bool = False) -> str:
        return line if complete or not session.has_more else f"{line} (details: {session.path})"

    try:
        return int(func(args))
    except UsageError as exc:
        print(f"aksaudit: error: {redaction.scrub(one_line(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except UserError as exc:
        complete = isinstance(exc, NotSignedInError)  # the line says all there is
        line = redaction.scrub(one_line(exc))
        print(more(f"aksaudit: error: {line}", complete), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aksaudit: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:
        # A bug, not the user's fault: the traceback goes to the log file, one line to stderr.
        _LOG.exception("unexpected error")
        redaction.register(os.environ.get("AKSAUDIT_ACCESS_TOKEN"))
        first = redaction.scrub(" ".join(str(exc).split()))[:200]
        line = f"aksaudit: error: unexpected {type(exc).__name__}" + (f": {first}" if first else "")
        print(f"{line} (details: {session.path})", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
