"""The product pointed at a running emulator: its settings (demo, screenshots, the scenario's
clusters "enabled from another machine") and those clusters made real at start.

A scenario marks a cluster ``enabled_elsewhere: {by, workspace, log_path?, presets?}``; the
emulator cannot carry that out (it knows nothing of our node script or record), so
``aksaudit emulator`` and ``aksaudit demo`` run the real plan and apply for it right after the
start: signed in as ``by`` (a token the emulator signs for that name, so the record's "enabled
by" is that person), from a throw-away state directory that is deleted afterwards. The cluster
then holds what a colleague's apply leaves behind (the ``aksaudit-applied`` ConfigMap, the
keeper DaemonSet and its status lines, heartbeats in the workspace) and this machine has no
journal of it, which is what status must see through.

Startup time: the engine and the settings load inside the functions (``tui_cmd`` imports this
module at its top, and ``aksaudit --help`` startup is tracked).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from aksaudit_tui.errors import UserError

if TYPE_CHECKING:
    from aksaudit_emulator import Emulator, EmulatorInfo
    from aksaudit_tui.cloud.settings import CloudSettings


def emulator_settings(info: EmulatorInfo) -> CloudSettings:
    """Settings that point every client at a running emulator (demo, screenshots), at the
    emulator's explicit fast pace (no LRO poll wait, short back-off and deadlines)."""
    from aksaudit_tui.cloud.settings import CloudSettings

    return CloudSettings(
        arm_endpoint=info.arm_endpoint,
        logs_endpoint=info.logs_endpoint,
        ca_bundle=str(info.ca_bundle),
        access_token=info.token,
        kubeconfig=str(info.kubeconfig),
        registry_endpoint=info.registry_endpoint,
        profile="fast",
    )


async def enable_elsewhere(emu: Emulator) -> list[str]:
    """Apply each ``enabled_elsewhere`` cluster of the running emulator's scenario as its
    ``by`` person; returns one line per cluster ("aks-x: enabled by NAME"). ``UserError`` when
    an apply does not end ok (the scenario asks for something the tool refuses)."""
    from aksaudit_tui.engine.plan import DEFAULT_LOG_PATH, PlanRequest
    from aksaudit_tui.engine.service import Engine

    done: list[str] = []
    for item in emu.enabled_elsewhere():
        settings = replace(emulator_settings(emu.info), access_token=emu.token_for(item["by"]))
        with tempfile.TemporaryDirectory(prefix="aksaudit-elsewhere-") as tmp:
            other = Engine(settings, Path(tmp))
            other.verify_after_apply = False  # status proves it; the demo need not wait
            plan = await other.plan_from_names(
                PlanRequest(
                    clusters=[item["cluster"]],
                    workspace=item["workspace"],
                    log_path=item.get("log_path") or DEFAULT_LOG_PATH,
                    presets=item.get("presets"),  # None: the default presets
                )
            )
            plan = await other.pin_image(plan)
            result = await other.apply(plan)
        if result.outcome != "ok":
            raise UserError(
                f"the scenario's cluster {item['cluster']} (enabled_elsewhere) could not be "
                f"enabled: {result.message}"
            )
        done.append(f"{item['cluster']}: enabled by {item['by']} (from another machine)")
    return done


def enable_elsewhere_sync(emu: Emulator) -> list[str]:
    """``enable_elsewhere`` for callers without an event loop (the CLI handlers)."""
    return asyncio.run(enable_elsewhere(emu))
