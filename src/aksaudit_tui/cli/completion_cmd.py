"""``aksaudit completion SHELL``: shell completion for commands, flags and names (argcomplete).

``eval "$(aksaudit completion bash)"`` installs it. The shell then runs ``aksaudit`` with
``_ARGCOMPLETE`` set; :func:`complete` answers from the parser and exits before any command
runs. Besides commands and flags it completes what is cheap to know offline: cluster names
(the kubeconfig's contexts, which ``az aks get-credentials`` names after the clusters),
preset names (the shipped and user preset files), facilities and severities. Nothing here
touches the network.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from aksaudit_tui.errors import EXIT_OK

SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "completion",
        help="print the shell code that completes aksaudit's commands, flags and names",
        description="Print the shell code for tab completion of commands, flags, cluster "
        "names (kubeconfig contexts) and preset names. Add it to your shell's startup file.",
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["aksaudit"], shell=args.shell))
    return EXIT_OK


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer a completion request (exits the process) when the shell asked for one."""
    import argcomplete

    argcomplete.autocomplete(parser)


# --- completers: (prefix, **kwargs) -> candidates; imports inside for startup time --------------


def cluster_names(prefix: str = "", **_: Any) -> list[str]:
    """Context names of the kubeconfig (``KUBECONFIG`` or ``~/.kube/config``)."""
    from aksaudit_tui.nodes.kubeconfig import contexts

    return sorted({c.name for c in contexts() if c.name.startswith(prefix)})


def preset_names(prefix: str = "", **_: Any) -> list[str]:
    from aksaudit_tui.engine.rules import known_presets

    # "a,b,c" lists complete their last item
    head, sep, last = prefix.rpartition(",")
    done = head + sep
    return [done + n for n in known_presets() if n.startswith(last)]


def facilities(prefix: str = "", **_: Any) -> list[str]:
    from aksaudit_tui.syslog import FACILITIES

    return [f for f in FACILITIES if f.startswith(prefix)]


def severities(prefix: str = "", **_: Any) -> list[str]:
    from aksaudit_tui.syslog import SEVERITIES

    return [s for s in SEVERITIES if s.startswith(prefix)]


_BY_DEST: dict[str, Callable[..., list[str]]] = {
    "cluster": cluster_names,
    "presets": preset_names,
    "names": preset_names,  # presets render NAME...
    "facility": facilities,
    "severity": severities,
}


def attach_completers(parser: argparse.ArgumentParser) -> None:
    """Give the name-valued arguments of one parser their completer (argcomplete reads the
    ``completer`` attribute of an action)."""
    for action in parser._actions:
        completer = _BY_DEST.get(action.dest)
        if action.dest == "name" and parser.prog.endswith("presets show"):
            completer = preset_names
        if completer is not None:
            setattr(action, "completer", completer)  # noqa: B010  (argparse has no slot for it)
