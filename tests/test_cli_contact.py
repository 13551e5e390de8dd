"""First contact on the command line: bad flags and files, no sign-in, one line each.

- Every command with a bad flag or file: exit 2, exactly one stderr line naming the fix, and no
  network call: the Azure endpoints and the kubeconfig point at a loopback listener that
  records every connection, and any connection to a non-loopback address fails the test.
- No credentials at all: exactly one stderr line, exit 1, nothing sent, and `az` never run
  when it has no login (a fake `az` on PATH records being called). Subprocesses run in their
  own network namespace (`unshare -n`) where available, so even a mistake cannot leave the
  machine (no 169.254.169.254).
- The chain holds the credentials for what is configured, in order, and managed identity
  only when asked: asserted on the credential objects, never by asking them for a token.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aksaudit_tui.cli.main import main
from aksaudit_tui.engine import plan_io
from aksaudit_tui.engine.plan import ClusterTarget, Plan, WorkspaceRef

SUB = "11111111-2222-3333-4444-555555555555"
TOKEN = "tok-RECOGNISABLE-contact-0123456789"


class Recorder:
    """A loopback TCP listener that records (and drops) every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


def valid_plan(facility: str = "authpriv") -> str:
    rg = f"/subscriptions/{SUB}/resourceGroups/rg/providers"
    plan = Plan(
        clusters=(
            ClusterTarget(
                name="aks-a",
                id=f"{rg}/Microsoft.ContainerService/managedClusters/aks-a",
                subscription_id=SUB,
                resource_group="rg",
                node_resource_group="MC_rg_aks-a_westeurope",
            ),
        ),
        workspace=WorkspaceRef(
            name="law", id=f"{rg}/Microsoft.OperationalInsights/workspaces/law", customer_id=SUB
        ),
    )
    return plan_io.dumps(plan).replace("facility: authpriv", f"facility: {facility}")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    """Endpoints and kubeconfig at a recording loopback listener; a token so sign-in is not
    what fails; outbound connections anywhere but loopback fail the test."""
    rec = Recorder()
    url = f"https://127.0.0.1:{rec.port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: aks-a\n"
        f"clusters: [{{name: aks-a, cluster: {{server: '{url}'}}}}]\n"
        "contexts: [{name: aks-a, context: {cluster: aks-a, user: u}}]\n"
        "users: [{name: u, user: {token: x}}]\n"
    )
    for var in [v for v in os.environ if v.startswith(("AKSAUDIT_", "AZURE_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("AKSAUDIT_ARM_ENDPOINT", url)
    monkeypatch.setenv("AKSAUDIT_LOGS_ENDPOINT", f"{url}/v1")
    monkeypatch.setenv("AKSAUDIT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("AKSAUDIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AKSAUDIT_LOG_FILE", str(tmp_path / "aksaudit.log"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.chdir(tmp_path)
    outbound: list[Any] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else ""
        with contextlib.suppress(ValueError):
            if host and not ipaddress.ip_address(host).is_loopback:
                outbound.append(address)
                raise OSError(f"test guard: no connection to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield rec
    rec.close()
    assert not outbound, f"tried to leave the machine: {outbound}"


def run_main(argv: list[str]) -> int | str | None:
    """``main`` in-process; argparse's own refusals exit (through our one-line error())."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


BAD_RULES = "-a always,exit -S execve -k nope\n"  # no -F arch before -S: the validator says so


def _files(tmp: Path) -> None:
    (tmp / "plan.yaml").write_text(valid_plan())
    (tmp / "badfac.yaml").write_text(valid_plan("authprov"))
    (tmp / "broken.yaml").write_text("clusters: [\n")
    (tmp / "secret.yaml").write_text(valid_plan() + "workspace_key: abc\n")
    (tmp / "bad.rules").write_text(BAD_RULES)
    (tmp / "adir").mkdir()


PLAN = ["plan", "--cluster", "aks-a", "--workspace", "law"]

# (argv, a piece of the one line that must name the fix)
MATRIX: list[tuple[list[str], str]] = [
    # plan: every choice, file and number, before discovery
    ([*PLAN, "--facility", "bogus"], 'unknown facility "bogus"; use one of authpriv, auth'),
    ([*PLAN, "--severity", "loud"], 'unknown severity "loud"; use one of emerg'),
    ([*PLAN, "--presets", "nope"], 'unknown preset "nope"; use one of'),
    ([*PLAN, "--custom-rules", "missing.rules"], "missing.rules"),
    ([*PLAN, "--custom-rules", "bad.rules"], "arch"),
    ([*PLAN, "--log-path", "syslog-ng"], "invalid choice: 'syslog-ng'"),
    ([*PLAN, "--delivery", "ssh"], "invalid choice: 'ssh'"),
    ([*PLAN, "--namespace", "Not_A_Name"], "is not a valid Kubernetes name"),
    ([*PLAN, "--image", "busybox"], "is not pinned"),
    ([*PLAN, "--concurrency", "0"], "--concurrency must be a whole number 1..1000"),
    ([*PLAN, "--concurrency", "ten"], "invalid int value: 'ten'"),
    ([*PLAN, "--kube-context", "aks-a"], "use CLUSTER=CONTEXT"),
    ([*PLAN, "--out", "adir"], "is a directory"),
    ([*PLAN, "--kubeconfig", "nope.yaml"], "--kubeconfig: no such file: nope.yaml"),
    ([*PLAN, "--ca-bundle", "nope.pem"], "--ca-bundle / AKSAUDIT_CA_BUNDLE: no such file"),
    ([*PLAN, "--arm-endpoint", "http://127.0.0.1:1"], "must be an https:// URL"),
    (["plan", "--workspace", "law"], "the following arguments are required: --cluster"),
    ([*PLAN, "--bogus"], "unrecognized arguments: --bogus"),
    # apply / remove: the plan file, the timeout, and no --yes without a terminal
    (["apply", "missing.yaml", "--yes"], "missing.yaml: no such plan file"),
    (["apply", "broken.yaml", "--yes"], "broken.yaml:2: not valid YAML"),
    (["apply", "badfac.yaml", "--yes"], 'unknown facility "authprov"; use one of'),
    (["apply", "secret.yaml", "--yes"], "secrets never go in a plan"),
    (["apply", "plan.yaml", "--yes", "--verify-timeout", "-5"], "--verify-timeout must be"),
    (["apply", "plan.yaml"], "refusing to change anything without --yes"),
    (["remove", "missing.yaml", "--yes"], "missing.yaml: no such plan file"),
    (["remove", "plan.yaml"], "refusing to change anything without --yes"),
    # resume / verify / status / cleanup / discover / whoami
    (["resume", "--yes", "--verify-timeout", "0"], "--verify-timeout must be"),
    (["resume"], "refusing to change anything without --yes"),
    (["verify", "--since", "forever"], '--since "forever" is not a duration'),
    (["verify", "--since", "0m"], "must be above 0"),
    (["verify", "--since", "99999999d"], "at most 730d"),
    (["verify", "--timeout", "nan"], "--timeout must be"),
    (["verify", "--plan", "missing.yaml"], "missing.yaml: no such plan file"),
    (["verify", "--run", "nope"], 'no run "nope"'),
    (["resume", "nope", "--yes"], 'no run "nope"'),
    (["status", "--kubeconfig", "nope.yaml"], "--kubeconfig: no such file"),
    (["status", "--state-dir", "plan.yaml"], "--state-dir: not a directory"),
    (["cleanup", "--kubeconfig", "nope.yaml"], "--kubeconfig: no such file"),
    (["discover", "--logs-endpoint", "ftp://x"], "--logs-endpoint must be an https:// URL"),
    (["whoami", "--ca-bundle", "nope.pem"], "no such file"),
    # presets, node-script, emulator, completion, the wizard
    (["presets", "show", "nope"], "unknown preset 'nope'"),
    (["presets", "render", "--custom", "missing.rules"], "cannot read --custom missing.rules"),
    (["presets"], "the following arguments are required: ACTION"),
    (["node-script", "--facility", "bogus", "--presets", "identity-and-config"], "facility"),
    (["node-script", "--facility", "authpriv"], "give --presets A,B and/or --custom FILE"),
    (["node-script", "--facility", "authpriv", "--mode", "wipe"], "invalid choice: 'wipe'"),
    (["emulator", "--port", "70000"], "--port must be between 0 and 65535"),
    (["emulator", "--scenario", "missing.yaml"], "cannot read scenario missing.yaml"),
    (["emulator", "--scenario", "broken.yaml"], "broken.yaml is not valid YAML"),
    (["completion", "cmd"], "invalid choice: 'cmd'"),
    (["--kubeconfig", "nope.yaml"], "--kubeconfig: no such file"),
    (["nonsense"], "invalid choice: 'nonsense'"),
]


@pytest.mark.parametrize(
    ("argv", "says"), MATRIX, ids=[" ".join(a)[:60] for a, _s in MATRIX]
)  # fmt: skip
def test_bad_flag_or_file_is_one_line_exit_2_and_no_network(
    offline: Recorder,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    _files(tmp_path)
    code = run_main(argv)
    out, err = capfd.readouterr()
    lines = err.splitlines()
    assert code == 2, (argv, code, err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("aksaudit"), lines
    assert says in lines[0], lines[0]
    assert "Traceback" not in err and TOKEN not in err + out
    assert offline.connections == 0, f"{argv} made {offline.connections} network connection(s)"


def test_a_bug_is_one_line_with_the_log_path_and_the_traceback_in_the_log(
    offline: Recorder,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aksaudit_tui.cli import presets_cmd

    def broken(_args: Any) -> int:
        raise RuntimeError(f"boom\nsecond line {TOKEN}")

    monkeypatch.setattr(presets_cmd, "cmd_list", broken)
    code = run_main(["presets", "list"])
    _out, err = capfd.readouterr()
    log = tmp_path / "aksaudit.log"
    assert code == 1
    assert err.splitlines() == [
        f"aksaudit: error: unexpected RuntimeError: boom second line <redacted> (details: {log})"
    ]
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in broken" in text


def test_library_warnings_go_to_the_log_file_not_stderr(
    offline: Recorder, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import logging

    from aksaudit_tui.cli import logfile

    for verbose in (False, True):
        session = logfile.start(verbose)
        try:
            for name in ("azure.identity._credentials.chained", "urllib3.connectionpool",
                         "kubernetes.client.rest", "msal.application"):  # fmt: skip
                logging.getLogger(name).warning("noise from %s", name)
        finally:
            session.close()
        err = capfd.readouterr().err
        assert session.has_more
        if verbose:
            assert err.count("aksaudit: log: ") == 4
        else:
            assert err == ""  # not even Python's last-resort handler
    text = (tmp_path / "aksaudit.log").read_text()
    assert text.count("noise from urllib3.connectionpool") == 2
    # closed sessions leave no handler of theirs behind
    import logging.handlers

    assert not any(
        isinstance(h, logging.handlers.RotatingFileHandler) for h in logging.getLogger().handlers
    )
