"""`--help` ends with real examples that parse; shell completion answers from the parser."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from aksaudit_tui.cli.examples import EXAMPLES, HEADER
from aksaudit_tui.cli.main import build_parser, walk
from engine_helpers import aksaudit_cmd


def test_every_command_has_examples_and_they_parse(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = dict(walk(parser))
    for path in ("", "whoami", "discover", "plan", "apply", "resume", "status", "verify",
                 "remove", "cleanup", "presets", "node-script", "completion", "demo"):  # fmt: skip
        assert path in commands, path
        assert path in EXAMPLES and len(EXAMPLES[path]) >= 2, path
    for path, lines in EXAMPLES.items():
        if path not in commands:
            continue  # a command group not built in this tree
        help_text = commands[path].format_help()
        assert help_text.rstrip().endswith(lines[-1].rstrip()), path
        assert HEADER.strip() in help_text
        for line in lines:
            if not line.startswith("aksaudit"):
                continue
            words = shlex.split(line.replace("\\\n", " "), comments=True)
            if ">" in words:  # the shell's redirection, not ours
                words = words[: words.index(">")]
            args = parser.parse_args(words[1:])  # raises SystemExit on a stale example
            assert getattr(args, "func", None) is not None, line


def complete(line: str, tmp_path: Path, **env: str) -> list[str]:
    out = tmp_path / "completions"
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("AKSAUDIT_")}
    run_env.update(
        _ARGCOMPLETE="1",
        _ARGCOMPLETE_IFS="\n",
        _ARGCOMPLETE_STDOUT_FILENAME=str(out),
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
        COMP_TYPE="9",
        AKSAUDIT_LOG_FILE=str(tmp_path / "log"),
        **env,
    )
    p = subprocess.run(
        aksaudit_cmd(), env=run_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert p.returncode == 0, p.stderr
    return sorted(w.strip() for w in out.read_text().split("\n") if w.strip())


def test_completion_of_commands_flags_and_names(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: []\n"
        "contexts: [{name: aks-prod-weu, context: {}}, {name: aks-dev-neu, context: {}}]\n"
    )
    assert "plan" in complete("aksaudit pl", tmp_path)
    assert complete("aksaudit who", tmp_path) == ["whoami"]
    assert "--facility" in complete("aksaudit plan --fac", tmp_path)
    assert complete("aksaudit plan --facility loc", tmp_path) == [f"local{i}" for i in range(8)]
    assert complete("aksaudit node-script --severity w", tmp_path) == ["warning"]
    assert complete("aksaudit presets show container-e", tmp_path) == ["container-escape"]
    assert complete("aksaudit plan --presets identity-and-config,cis", tmp_path) == [
        "identity-and-config,cis-scoped"
    ]
    clusters = complete("aksaudit status --cluster aks-", tmp_path, KUBECONFIG=str(kubeconfig))
    assert clusters == ["aks-dev-neu", "aks-prod-weu"]


def test_completion_command_prints_shell_code() -> None:
    p = subprocess.run(
        [*aksaudit_cmd(), "completion", "bash"], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert p.returncode == 0 and "complete " in p.stdout and "aksaudit" in p.stdout


def test_probe_nodes_help_says_what_the_check_pod_changes() -> None:
    """A check pod touches aksaudit's own heartbeat file (the record that proves the pipeline of
    a quiet node): the help says exactly that, never "read-only"."""
    commands = dict(walk(build_parser()))
    for path in ("status", "verify"):
        text = " ".join(commands[path].format_help().split())
        assert "read-only check pod" not in text, path
        assert "changes nothing on the node but aksaudit's own heartbeat file" in text, path
        assert "/var/lib/aksaudit/heartbeat" in text, path
    script = Path(__file__).parents[1] / "src/aksaudit_tui/nodes/node_script.sh"
    header = script.read_text().split("set -u", 1)[0]
    assert "check  : change nothing but its own heartbeat file" in header
