"""Binding ids and the user's keymap file (as posting does).

Every binding the app defines has an id; ``~/.config/aksaudit/keymap.yaml`` (platformdirs)
maps ids to other keys, e.g. ``wizard.next: ctrl+right``.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

# id -> (default key, what it does); the ids are the stable names users remap.
BINDING_IDS: dict[str, tuple[str, str]] = {
    "app.status": ("f2", "Status (coverage) from any screen"),
    "app.run": ("f3", "Back to the running/last run"),
    "app.keys": ("question_mark", "This screen's keys"),
    "app.interrupt": ("ctrl+c", "Cancel the run in progress (asks first), like ctrl+x"),
    "wizard.next": ("ctrl+n", "Next wizard step"),
    "wizard.back": ("escape", "Previous wizard step"),
    "start.new": ("n", "Start screen: new enablement"),
    "start.resume": ("r", "Start screen: resume the selected unfinished run"),
    "start.remove": ("x", "Start screen: remove (undo an enablement, after a review)"),
    "start.cleanup": ("c", "Start screen: clean up leftover privileged pods"),
    "start.sign_in": ("s", "Start screen: look for a sign-in again (after az login elsewhere)"),
    "discover.toggle": ("space", "Discover: pick / unpick the cluster under the cursor"),
    "discover.refresh": ("ctrl+r", "Discover: discover again"),
    "discover.workspace": ("w", "Discover: the workspace of the cluster under the cursor"),
    "remove.refresh": ("ctrl+r", "Remove: read the runs and the clusters' records again"),
    "review.export": ("e", "Review: export plan.yaml"),
    "review.commands": ("y", "Review: show the equivalent az/kubectl commands"),
    "review.script": ("v", "Review: view the node script"),
    "run.cancel": ("ctrl+x", "Run: cancel (asks first)"),
    "verify.retry": ("ctrl+r", "Verify: check again"),
    "status.refresh": ("ctrl+r", "Status: refresh"),
    "status.export_json": ("j", "Status: export JSON"),
    "status.export_csv": ("c", "Status: export CSV"),
    "status.filter": ("f", "Status: filter clusters (name, subscription or state)"),
    "status.sort": ("s", "Status: sort by name, coverage, drift or heartbeat"),
    "status.probe": ("p", "Status: probe the nodes live (asks first; starts check pods)"),
    "rules.custom": ("f4", "Rules: custom rules editor"),
    "rules.preview": ("f5", "Rules: preview of the rules file"),
    "confirm.yes": ("y", "Confirm dialogs: yes"),
    "confirm.no": ("escape,n", "Confirm dialogs: no"),
    "view.copy": ("c", "Text views: copy to the clipboard"),
    "view.close": ("escape,q", "Text views: close"),
}


def keymap_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("aksaudit")) / "keymap.yaml"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """Read the user's overrides; a bad file is logged and ignored (the app still starts)."""
    p = path or keymap_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}  # the usual case: no YAML parser needed at startup
    except OSError as exc:
        log.warning("keymap %s ignored: %s", p, exc)
        return {}
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        log.warning("keymap %s ignored: %s", p, exc)
        return {}
    if not isinstance(data, dict):
        log.warning("keymap %s ignored: not a mapping of binding id to key", p)
        return {}
    out: dict[str, str] = {}
    for k, v in data.items():
        if str(k) in BINDING_IDS and isinstance(v, str) and v.strip():
            out[str(k)] = v.strip()
        else:
            log.warning("keymap %s: unknown binding id or empty key: %r", p, k)
    return out
