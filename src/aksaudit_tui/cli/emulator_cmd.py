"""``aksaudit emulator``: serve the emulated Azure + Kubernetes estate on 127.0.0.1 over HTTPS.

Prints one JSON line first on stdout (endpoints, kubeconfig, CA bundle, workspaces; no token),
then serves until SIGINT or SIGTERM and stops cleanly.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from aksaudit_tui.errors import EXIT_OK, UsageError


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
    p.add_argument(
        "--scenario", type=Path, default=None, help="scenario YAML (default: the built-in one)"
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where ca.pem, kubeconfig and node roots go (default: a temporary directory)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aksaudit_tui.emulator import Emulator, load_scenario

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {args.port}")
    scenario = load_scenario(args.scenario)
    state_dir = args.state_dir
    if state_dir is not None:
        state_dir = Path(state_dir).expanduser()
    emu = Emulator(scenario, state_dir=state_dir, port=args.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            info = emu.start()
        except OSError as exc:
            why = exc.strerror or "address unavailable"
            raise UsageError(
                f"cannot listen on 127.0.0.1:{args.port}: {why.lower()} (pick another --port)"
            ) from None
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
