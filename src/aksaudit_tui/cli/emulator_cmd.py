"""``aksaudit emulator``: serve the emulated Azure + Kubernetes estate on 127.0.0.1 over HTTPS.

Prints one JSON line first on stdout (endpoints, kubeconfig, CA bundle, workspaces; no token),
then serves until SIGINT or SIGTERM and stops cleanly. Before that line, the scenario's clusters
marked ``enabled_elsewhere`` are enabled by a real apply as that person (``cli/emulated.py``).

The emulator is a separate distribution (``aksaudit-emulator``, the ``demo`` extra). It is imported
lazily, after ``require_emulator()`` has turned its absence into one line with the install command;
its own ``ScenarioError`` becomes the product's ``UsageError`` here (``scenario_errors()``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from aksaudit_tui.errors import EXIT_OK, UsageError, UserError

EMULATOR_MISSING = (
    "the emulator is not installed; install it with: pip install 'aksaudit-tui[demo]' "
    "(from a clone: pip install -e ./emulator)"
)


def require_emulator() -> None:
    """Raise a one-line ``UserError`` (exit 1) when the ``aksaudit_emulator`` package is absent."""
    if importlib.util.find_spec("aksaudit_emulator") is None:
        raise UserError(EMULATOR_MISSING)


@contextmanager
def scenario_errors() -> Iterator[None]:
    """Turn the emulator's ``ScenarioError`` (a bad scenario) into a ``UsageError`` (exit 2)."""
    from aksaudit_emulator.errors import ScenarioError

    try:
        yield
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "emulator",
        help="serve an emulated Azure + AKS estate on 127.0.0.1 (for tests and the demo)",
        description=(
            "Serve ARM, the Log Analytics query API and the Kubernetes API of an emulated estate "
            "on 127.0.0.1 over HTTPS. Prints one JSON line with the endpoints first, then serves "
            "until interrupted."
        ),
    )
    p.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--scenario", type=Path, default=None, help="scenario YAML (default: the built-in one)"
    )
    what.add_argument(
        "--fleet",
        metavar="SxCxN",
        default=None,
        help="a generated fleet instead: S subscriptions x C clusters each x N nodes each "
        "(e.g. 200x5x10)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where ca.pem, kubeconfig and node roots go (default: a temporary directory)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {args.port}")
    require_emulator()
    # Imported here: the emulator is an optional distribution (and aiohttp/trustme are slow).
    from aksaudit_emulator import Emulator, load_scenario
    from aksaudit_emulator.fleet import fleet_scenario, parse_fleet

    state_dir = args.state_dir
    if state_dir is not None:
        state_dir = Path(state_dir).expanduser()
    with scenario_errors():
        source = fleet_scenario(*parse_fleet(args.fleet)) if args.fleet else args.scenario
        emu = Emulator(load_scenario(source), state_dir=state_dir, port=args.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            with scenario_errors():
                info = emu.start()
        except OSError as exc:
            why = exc.strerror or "address unavailable"
            raise UsageError(
                f"cannot listen on 127.0.0.1:{args.port}: {why.lower()} (pick another --port)"
            ) from None
        # the scenario's clusters enabled "from another machine" (a real apply as that person)
        from aksaudit_tui.cli.emulated import enable_elsewhere_sync

        for line in enable_elsewhere_sync(emu):
            print(f"aksaudit emulator: {line}", file=sys.stderr)
        sys.stdout.write(json.dumps(info.public()) + "\n")
        sys.stdout.flush()
        print(
            f"aksaudit emulator: serving on {info.arm_endpoint} (Ctrl+C to stop)", file=sys.stderr
        )
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("aksaudit emulator: stopped", file=sys.stderr)
    return EXIT_OK
