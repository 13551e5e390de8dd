"""`aksaudit manifests PLAN [--out DIR]`: every Kubernetes object apply would send, for review.

The objects come from the code apply runs (``engine.manifests.plan_manifests``), so a reviewer
or a GitOps pipeline reads what the cluster gets. Without ``--out``: one YAML stream on stdout
(multi-line values such as the node script as literal blocks, readable as they run). With
``--out DIR``: a kustomize-ready folder, one file per object plus ``kustomization.yaml``,
written atomically (built in a temporary sibling, then renamed), so an error leaves no
half-written folder. DIR must not exist, or be a folder this command wrote (then it is replaced).
Offline: reads the plan and nothing else (no Azure, no cluster).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from aksaudit_tui.errors import EXIT_OK, UsageError

MARKER = ".aksaudit-manifests"  # lets --out replace a folder this command wrote, nothing else
DEFAULT_RUN_ID = "manifests"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "manifests",
        help="print every Kubernetes object apply would send (or write a kustomize folder)",
        description=(
            "Print the namespace, the ConfigMap with the node script and the keeper DaemonSet "
            "(or the one-shot pod template) exactly as 'aksaudit apply PLAN' sends them. Reads "
            "only the plan."
        ),
    )
    p.add_argument("plan", metavar="PLAN")
    p.add_argument("--out", metavar="DIR", default=None, help="write a kustomize folder instead")
    p.add_argument(
        "--run-id",
        default=DEFAULT_RUN_ID,
        metavar="ID",
        help=f"value of the aksaudit.io/run label (default: {DEFAULT_RUN_ID})",
    )
    p.set_defaults(func=_cmd_manifests)


def file_name(obj: dict[str, Any]) -> str:
    """``<kind>-<name>.yaml`` in lower case, e.g. ``daemonset-aksaudit-keeper.yaml``."""
    return f"{str(obj['kind']).lower()}-{obj['metadata']['name']}.yaml"


def _literal(value: Any) -> Any:
    """The object with every multi-line string as a YAML literal block (same value)."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    return value


def to_yaml(obj: dict[str, Any]) -> str:
    """One object as a YAML document (keys in the order apply builds them)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 4096  # long command lines stay on one line
    out = io.StringIO()
    yaml.dump(_literal(obj), out)
    return out.getvalue()


def _write_folder(out: Path, objs: list[dict[str, Any]]) -> None:
    if out.exists() and not (out.is_dir() and (out / MARKER).is_file()):
        raise UsageError(
            f"--out {out} exists and was not written by 'aksaudit manifests'; name a new folder"
        )
    parent = out.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"--out {out}: the folder {parent} does not exist")
    names = [file_name(o) for o in objs]
    kustomization = (
        "# Written by 'aksaudit manifests': the objects 'aksaudit apply' sends, as it sends them.\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        + "".join(f"  - {n}\n" for n in names)
    )
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write in {parent}: {exc.strerror}") from None
    try:
        for name, obj in zip(names, objs, strict=True):
            (staging / name).write_text(to_yaml(obj), encoding="utf-8")
        (staging / "kustomization.yaml").write_text(kustomization, encoding="utf-8")
        (staging / MARKER).write_text("", encoding="utf-8")
        staging.chmod(0o755)
        if out.exists():
            # The old folder leaves only once the new one is complete.
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            os.rename(out, old / out.name)
            os.rename(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"--out {out}: cannot write: {exc.strerror}") from None


def _cmd_manifests(args: argparse.Namespace) -> int:
    from aksaudit_tui.cloud.settings import CloudSettings
    from aksaudit_tui.engine import plan_io
    from aksaudit_tui.engine.config import Timing
    from aksaudit_tui.engine.manifests import plan_manifests

    timing = Timing.for_settings(CloudSettings.from_env_and_args(None))
    plan = plan_io.load(Path(args.plan))
    objs = plan_manifests(plan, run_id=args.run_id, timing=timing)
    if args.out is None:
        sys.stdout.write("---\n".join(to_yaml(o) for o in objs))
        return EXIT_OK
    _write_folder(Path(args.out), objs)
    print(
        f"aksaudit: wrote {len(objs)} objects and kustomization.yaml to {args.out}", file=sys.stderr
    )
    return EXIT_OK
