"""``aksaudit`` (the wizard) and ``aksaudit demo`` (the wizard on the built-in emulator).

Textual, the Azure SDK and the emulator are imported inside the handlers only: importing this
module must stay cheap (``aksaudit --help`` startup time is tracked).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from aksaudit_tui.cli.emulated import emulator_settings

if TYPE_CHECKING:
    from aksaudit_tui.cloud.settings import CloudSettings


def _add_ui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-mouse", action="store_true", help="do not capture the mouse (keys only)"
    )


def register_root(parser: argparse.ArgumentParser) -> None:
    """Top-level options of the bare ``aksaudit`` (the wizard)."""
    from aksaudit_tui.cloud.settings import add_cloud_arguments

    _add_ui_arguments(parser)
    add_cloud_arguments(parser)
    parser.set_defaults(func=run_wizard)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="the whole wizard against the built-in emulator (no Azure needed)",
        description="Start the emulator in-process with the default scenario and open the "
        "wizard on it. Nothing leaves this machine.",
    )
    _add_ui_arguments(demo)
    demo.set_defaults(func=run_demo)


def _identity(settings: CloudSettings) -> str:
    """Who would sign in, found offline ("" when nobody): the wizard shows it at once."""
    from aksaudit_tui.cloud.credentials import sign_in_summary

    return sign_in_summary(settings)


def _run_app(
    settings: CloudSettings,
    identity: str,
    mouse: bool,
    state_dir: Path | None,
    signed_in: bool = True,
) -> int:
    from aksaudit_tui.engine.service import Engine
    from aksaudit_tui.tui.app import AksauditApp, setup_logging

    log_file = setup_logging()
    engine = Engine(settings, state_dir)
    app = AksauditApp(engine, identity=identity, signed_in=signed_in)
    result = app.run(mouse=mouse)
    if app.return_code not in (None, 0) and result is None:
        print(f"aksaudit: the wizard stopped; see {log_file}")
    return int(result or 0)


def run_wizard(args: argparse.Namespace) -> int:
    # Startup time: no cyclic GC passes until the first frame is painted (the App turns it back
    # on then, ``AksauditApp.on_ready``): imports and the first screen make long-lived objects,
    # and the passes over them were ~40 ms of CPU before the first screen (bench/startup.py).
    gc.disable()
    try:
        from aksaudit_tui.cli.checks import cloud_settings

        settings = cloud_settings(args)
        identity = _identity(settings)
        # Not signed in: the start screen says how, and retries after `az login` elsewhere.
        return _run_app(settings, identity, not args.no_mouse, None, signed_in=bool(identity))
    finally:
        gc.enable()  # (the app never painted: a bad flag, a terminal error)


def run_demo(args: argparse.Namespace) -> int:
    from aksaudit_tui.cli.emulator_cmd import require_emulator

    require_emulator()  # the emulator is an optional distribution: one line if it is missing
    from aksaudit_emulator import Emulator, load_scenario

    with tempfile.TemporaryDirectory(prefix="aksaudit-demo-") as tmp:
        emu = Emulator(load_scenario(None), state_dir=Path(tmp) / "emulator")
        emu.start()
        try:
            from aksaudit_tui.cli.emulated import enable_elsewhere_sync

            print("aksaudit demo: preparing the emulated estate (a colleague's cluster) ...")
            for line in enable_elsewhere_sync(emu):
                print(f"aksaudit demo: {line}")
            info = emu.info
            settings = emulator_settings(info)
            identity = f"the built-in emulator at {info.arm_endpoint} (demo token; no Azure)"
            return _run_app(settings, identity, not args.no_mouse, Path(tmp) / "state")
        finally:
            emu.stop()
