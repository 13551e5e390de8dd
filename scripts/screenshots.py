"""Generate SVG screenshots of the main screens from the real app on the built-in emulator.

Drives the wizard with keys (Pilot) against the real engine and the emulator's default scenario,
exactly as ``aksaudit demo`` would, and saves ``screenshots/<nn>-<screen>.svg``.
Run: ``make screenshots`` (or ``python scripts/screenshots.py [--size 120x40] [--out DIR]``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = "aks-dev-neu"


async def shoot(out: Path, size: tuple[int, int]) -> list[Path]:
    from aksaudit_emulator import Emulator, load_scenario
    from aksaudit_tui.cli.emulated import enable_elsewhere
    from aksaudit_tui.cli.tui_cmd import emulator_settings
    from aksaudit_tui.engine.service import Engine
    from aksaudit_tui.tui.app import AksauditApp
    from aksaudit_tui.tui.widgets.cluster_tree import ClusterTree

    scenario = load_scenario(None)
    scenario["lro"] = {"polls": 1, "seconds": 0}
    scenario["ingestion"] = {"delay_s": 0, "interval_s": 0.2}
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="aksaudit-shots-") as tmp:
        emu = Emulator(load_scenario(scenario), state_dir=Path(tmp) / "emulator")
        emu.start()
        try:
            await enable_elsewhere(emu)  # as `aksaudit demo`: a colleague's cluster
            # signed in by name (as after `az login`): "enabled by" shows no host name here
            settings = replace(
                emulator_settings(emu.info), access_token=emu.token_for("alex.chen@contoso.com")
            )
            engine = Engine(settings, Path(tmp) / "state")
            app = AksauditApp(
                engine,
                identity="the built-in emulator (demo token; no Azure)",
                keymap={},
                animations=False,
            )
            async with app.run_test(size=size) as pilot:

                async def settle() -> None:
                    await app.workers.wait_for_complete()
                    app.flush_events()
                    await pilot.pause()

                def save(n: int, name: str) -> None:
                    path = out / f"{n:02d}-{name}.svg"
                    path.write_text(app.export_screenshot(title=f"aksaudit: {name}"), "utf-8")
                    written.append(path)

                await settle()
                save(1, "start")
                await pilot.press("n")
                await settle()
                tree = app.screen.query_one(ClusterTree)
                target = next(c for c in app.state.clusters if c.name == CLUSTER)
                await pilot.press("home")
                for _ in range(60):
                    node = tree.cursor_node
                    if node is not None and node.data == ("cluster", target.id):
                        break
                    await pilot.press("down")
                await pilot.press("space", "enter")  # pick it and open its branch
                await pilot.pause()
                save(2, "discover")
                steps = (("logpath", 3), ("rules", 4), ("facility", 5), ("delivery", 6))
                for name, n in steps:
                    await pilot.press("ctrl+n")
                    await settle()
                    save(n, name)
                await pilot.press("ctrl+n")
                await settle()
                save(7, "review")
                await pilot.press("ctrl+n")
                await pilot.pause()
                await pilot.press("y")
                await settle()
                save(8, "run")
                await pilot.press("ctrl+n")
                await settle()
                save(9, "verify")
                await pilot.press("f2")
                await settle()
                save(10, "status")
                # the remove flow from the start screen: the run just applied, its review
                app.goto("start")
                await settle()
                await pilot.press("x")
                await settle()
                save(11, "remove")
                await pilot.press("ctrl+n")
                await settle()
                save(12, "remove-review")
        finally:
            emu.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="120x40", help="terminal size, e.g. 120x40")
    parser.add_argument("--out", default=str(ROOT / "screenshots"), help="output directory")
    args = parser.parse_args(argv)
    try:
        w, h = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        print(f"screenshots: --size must look like 120x40, got {args.size!r}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths: Any = asyncio.run(shoot(out, (w, h)))
    for p in paths:
        print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
