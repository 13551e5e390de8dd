"""The real audit pipeline on this machine's kernel: node script -> auditd -> audisp-syslog -> a
syslog datagram socket the test owns.

``run_kernel_pipeline(...)`` lays a node root from the real auditd package, runs the node script
on it (stand-ins on PATH), starts the real ``auditd -n -c <root>/etc/audit`` against what the
script wrote, loads the rendered rules with ``auditctl -R``, runs commands that trigger them and
returns the syslog lines audisp-syslog sent. ``kernel_audit_guard()`` restores the kernel's audit
state (rules, enabled flag, backlog, failure mode) even when the run fails. Tests that want to
feed real lines into the emulated workspace use the ``kernel_pipeline`` session fixture.

Audit daemons: the kernel has one audit daemon slot. Every ``auditd`` these tests start is
recorded under ``OWNED_DAEMONS`` (pid and start time) until it is stopped, so a daemon left
behind by a killed run is recognised and stopped by the next one (``kernel_audit_guard``). A
daemon the tests did not start (the machine's own auditd) is never touched: the test fails and
says which process holds the slot. ``load_with_augenrules(root)`` runs the real ``augenrules
--load`` of the unpacked Debian package against a node root's ``/etc/audit``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

KERNEL_LOCK = Path("/run/aksaudit-kernel-tests.lock")
# One file per running auditd these tests started: name = pid, content = its start time.
OWNED_DAEMONS = Path("/run/aksaudit-kernel-tests")
DEV_LOG = Path("/dev/log")
_PRI_RE = re.compile(r"^<(\d+)>")
_SERIAL_RE = re.compile(r"msg=audit\((\d+\.\d+):(\d+)\)")
_STAMP_RE = re.compile(r"^(<\d+>)([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ")
_TAG_RE = re.compile(r"^<\d+>(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?([^:\[ ]+)(?:\[(\d+)\])?: ")


@dataclass(frozen=True)
class SyslogLine:
    """One datagram audisp-syslog sent to /dev/log."""

    raw: str

    @property
    def pri(self) -> int:
        match = _PRI_RE.match(self.raw)
        return int(match.group(1)) if match else -1

    @property
    def facility(self) -> int:
        return self.pri // 8

    @property
    def severity(self) -> int:
        return self.pri % 8

    @property
    def tag(self) -> str:
        match = _TAG_RE.match(self.raw)
        return match.group(1) if match else ""

    @property
    def message(self) -> str:
        """The SyslogMessage column: what follows ``tag[pid]: ``."""
        match = _TAG_RE.match(self.raw)
        return self.raw[match.end() :] if match else self.raw

    def forwarded(self, hostname: str) -> str:
        """The line as rsyslog forwards it (RFC 3164 with the host name), e.g. to ama-logs.

        syslog(3) leaves the host name out of what it writes to /dev/log; the local syslog
        daemon adds it before forwarding."""
        match = _STAMP_RE.match(self.raw)
        if match is None:
            return self.raw
        return f"{match.group(1)}{match.group(2)} {hostname} {self.raw[match.end() :]}"

    @property
    def event_id(self) -> str | None:
        match = _SERIAL_RE.search(self.raw)
        return f"{match.group(1)}:{match.group(2)}" if match else None


@dataclass
class PipelineCapture:
    lines: list[SyslogLine]
    node_status: dict[str, object]
    hostname: str
    facility: str
    severity: str
    execs: int
    keys: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def audit_lines(self) -> list[SyslogLine]:
        """The audit records (auditd's own start-up messages left out)."""
        return [line for line in self.lines if line.event_id]

    def forwarded(self, hostname: str | None = None) -> list[str]:
        """The audit lines as the node's rsyslog forwards them, ready for
        ``EmulatorState.feed_syslog(node, lines)``."""
        return [line.forwarded(hostname or self.hostname) for line in self.audit_lines]


def kernel_skip_reason() -> str | None:
    """Why the real-kernel tests cannot run here (None when they can).

    A skip is a failure on CI (``fixtures.kernel``). A running audit daemon is not a reason to
    skip: ``kernel_audit_guard`` stops one these tests left behind and fails on any other."""
    if os.geteuid() != 0:
        return "needs root (the kernel audit netlink socket)"
    for tool in ("auditctl", "auditd", "audisp-syslog"):
        if shutil.which(tool) is None and not Path(f"/sbin/{tool}").exists():
            return f"{tool} is not installed (apt-get install auditd)"
    proc = subprocess.run(["auditctl", "-s"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"the kernel audit subsystem is unavailable: {proc.stderr.strip()}"
    if _parse_status(proc.stdout).get("enabled") == "2":
        return "the kernel's audit rules are locked (-e 2) until reboot"
    return None


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat): with the
    pid it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _describe(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid}"
    return f"pid {pid}: {' '.join(a.decode(errors='replace') for a in argv if a)}"


def start_auditd(argv: list[str]) -> subprocess.Popen[str]:
    """Start an audit daemon and record it as the tests' own (see ``stop_auditd``)."""
    daemon = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = process_start_time(daemon.pid)
    if started is not None:
        OWNED_DAEMONS.mkdir(parents=True, exist_ok=True)
        (OWNED_DAEMONS / str(daemon.pid)).write_text(started)
    return daemon


def stop_auditd(daemon: subprocess.Popen[str]) -> None:
    """SIGTERM (SIGKILL after 10 s) an audit daemon ``start_auditd`` started; drop its record."""
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=10)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
    (OWNED_DAEMONS / str(daemon.pid)).unlink(missing_ok=True)


def _started_by_tests(pid: int) -> bool:
    record = OWNED_DAEMONS / str(pid)
    return record.exists() and record.read_text().strip() == process_start_time(pid)


def kernel_daemon_pid() -> int:
    return int(_parse_status(_auditctl("-s").stdout).get("pid", "0"))


def free_the_audit_daemon_slot() -> None:
    """Make sure no audit daemon holds the kernel's audit events before a test takes them.

    A daemon these tests started (recorded by ``start_auditd``, e.g. left behind by a killed
    run) is stopped; any other makes the test fail with the reason, and is left running."""
    pid = kernel_daemon_pid()
    if pid != 0 and not process_alive(pid):
        pid = _forget_dead_registration()
    if pid != 0 and not _started_by_tests(pid):
        pytest.fail(
            f"another audit daemon ({_describe(pid)}) owns the kernel's audit events and these "
            "tests did not start it; stop it (e.g. `systemctl stop auditd`) and run them again",
            pytrace=False,
        )
    if pid != 0:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while process_alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it when it is this process's own child
            time.sleep(0.1)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
        (OWNED_DAEMONS / str(pid)).unlink(missing_ok=True)
    # Records of daemons that are gone (or whose pid now names another process) are stale.
    if OWNED_DAEMONS.is_dir():
        for record in OWNED_DAEMONS.iterdir():
            if not record.name.isdigit() or not _started_by_tests(int(record.name)):
                record.unlink(missing_ok=True)


def _forget_dead_registration() -> int:
    """A daemon killed without unregistering (SIGKILL, OOM) stays registered until the kernel
    next fails to deliver a record to it. Send one (a user message, which needs auditing
    switched on for a moment) so the kernel drops the registration; returns the pid then
    registered (0 unless a live daemon took the slot meanwhile)."""
    enabled = _parse_status(_auditctl("-s").stdout).get("enabled")
    if enabled == "0":
        _auditctl("-e", "1", check=False)
    deadline = time.monotonic() + 5
    pid = kernel_daemon_pid()
    while pid != 0 and not process_alive(pid) and time.monotonic() < deadline:
        _auditctl("-m", "aksaudit kernel tests: dead audit daemon registration", check=False)
        time.sleep(0.1)
        pid = kernel_daemon_pid()
    if enabled == "0":
        _auditctl("-e", "0", check=False)
    if pid != 0 and not process_alive(pid):
        raise AssertionError(f"the kernel keeps a dead audit daemon registered (pid {pid})")
    return pid


def _parse_status(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            out[parts[0]] = parts[1].strip()
    return out


def _auditctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["auditctl", *args], capture_output=True, text=True, check=check)


@contextlib.contextmanager
def kernel_audit_guard() -> Iterator[None]:
    """Serialise kernel audit tests (file lock) and restore the state found, whatever happens."""
    KERNEL_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with KERNEL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        free_the_audit_daemon_slot()
        status = _parse_status(_auditctl("-s").stdout)
        listed = _auditctl("-l").stdout
        saved_rules = [ln for ln in listed.splitlines() if ln.startswith("-")]
        try:
            yield
        finally:
            _auditctl("-D", check=False)
            if saved_rules:
                with tempfile.NamedTemporaryFile("w", suffix=".rules", delete=False) as fh:
                    fh.write("\n".join(saved_rules) + "\n")
                _auditctl("-R", fh.name, check=False)
                os.unlink(fh.name)
            for opt, key in (
                ("-b", "backlog_limit"),
                ("-f", "failure"),
                ("-r", "rate_limit"),
                ("--backlog_wait_time", "backlog_wait_time"),
            ):
                if key in status:
                    _auditctl(opt, status[key], check=False)
            if status.get("enabled") in ("0", "1"):
                _auditctl("-e", status["enabled"], check=False)


@contextlib.contextmanager
def syslog_socket(
    private: bool = False,
) -> Iterator[tuple[socket.socket, Callable[[list[str]], list[str]]]]:
    """Bind a datagram socket where syslog(3) writes (/dev/log).

    Yields the socket and a wrapper for the daemon's argv: when /dev/log is free the socket is
    bound there directly (and removed afterwards); when a syslog daemon owns it, the daemon is
    started in a private mount namespace with our socket bind-mounted over /dev/log
    (``private=True`` forces that way).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    tmpdir = Path(tempfile.mkdtemp(prefix="aksaudit-devlog-"))
    created = False
    try:
        if not private and not DEV_LOG.exists() and not DEV_LOG.is_symlink():
            sock.bind(str(DEV_LOG))
            created = True

            def wrap(argv: list[str]) -> list[str]:
                return argv

        else:
            private_log = tmpdir / "log"
            sock.bind(str(private_log))
            if shutil.which("unshare") is None:
                raise RuntimeError("/dev/log exists and unshare is missing")
            if not DEV_LOG.exists() and not DEV_LOG.is_symlink():
                # A file bind mount needs a target; this placeholder goes away afterwards.
                DEV_LOG.touch()
                created = True

            def wrap(argv: list[str]) -> list[str]:
                inner = f'mount --bind "{private_log}" /dev/log && exec "$@"'
                unshare = ["unshare", "--mount", "--propagation", "private"]
                return [*unshare, "sh", "-c", inner, "sh", *argv]

        yield sock, wrap
    finally:
        sock.close()
        if created:
            with contextlib.suppress(FileNotFoundError):
                DEV_LOG.unlink()
        shutil.rmtree(tmpdir, ignore_errors=True)


def _set_conf(path: Path, values: dict[str, str]) -> None:
    """Set ``key = value`` lines in an auditd.conf-style file (appending missing keys)."""
    lines = path.read_text().splitlines()
    seen: set[str] = set()
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip()
        if key in values and not line.lstrip().startswith("#"):
            out.append(f"{key} = {values[key]}")
            seen.add(key)
        else:
            out.append(line)
    out += [f"{k} = {v}" for k, v in values.items() if k not in seen]
    path.write_text("\n".join(out) + "\n")


def _drain(
    sock: socket.socket, until: Callable[[list[SyslogLine]], bool], timeout: float
) -> list[SyslogLine]:
    lines: list[SyslogLine] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    while True:
        now = time.monotonic()
        end = settle_until if settle_until is not None else deadline
        if now >= end:
            break
        sock.settimeout(max(0.05, end - now))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        lines.append(SyslogLine(data.decode("utf-8", "replace").rstrip("\n")))
        if settle_until is None and until(lines):
            # Collect stragglers of the same events for a moment.
            settle_until = min(deadline, time.monotonic() + 1.0)
    return lines


PRESET = "container-escape"
PRESET_KEY = "aksaudit-memfd"
HEARTBEAT_KEY = "aksaudit-heartbeat"
# The heartbeat file the base preset watches; the rules load it as a host path, so the host
# needs its directory (created for the run and removed again when it was not there).
HOST_HEARTBEAT = Path("/var/lib/aksaudit/heartbeat")
HEARTBEATS = 3  # the first touch creates the file, the others are the keeper's steady state


@contextlib.contextmanager
def host_heartbeat_dir() -> Iterator[None]:
    """The kernel refuses a watch whose parent directory is missing, and the base preset watches
    ``HOST_HEARTBEAT``: its directory exists for the block; what was not there goes again."""
    dir_made = not HOST_HEARTBEAT.parent.exists()
    HOST_HEARTBEAT.parent.mkdir(parents=True, exist_ok=True)
    was_there = HOST_HEARTBEAT.exists()
    try:
        yield
    finally:
        if not was_there:
            with contextlib.suppress(FileNotFoundError):
                HOST_HEARTBEAT.unlink()
        if dir_made:
            with contextlib.suppress(OSError):
                HOST_HEARTBEAT.parent.rmdir()


def pipeline_rules(custom: str) -> str:
    """The shipped ``container-escape`` preset (base fragment included) plus the test's own
    narrow rules; the shipped presets are what the node script really carries."""
    from aksaudit_tui.presets import render_rules

    return render_rules([PRESET], custom_text=custom, custom_source="kernel-test.rules")


def pipeline_custom_rules(watched: str) -> str:
    """The test's own narrow rules: program starts by this process's children, writes to one
    scratch file."""
    me = os.getpid()
    return (
        f"-a always,exit -F arch=b64 -S execve -F ppid={me} -k aks_exec\n"
        f"-a always,exit -F arch=b32 -S execve -F ppid={me} -k aks_exec\n"
        f"-w {watched} -p wa -k aks_watch\n"
    )


def apply_node_script(
    work: Path,
    deb: Path,
    rules: str,
    *,
    facility: str = "authpriv",
    severity: str = "info",
    hostname: str = "aks-nodepool1-12345678-vmss000000",
) -> tuple[Path, dict[str, object]]:
    """Lay an Ubuntu 22.04 node root from the real package at ``work/node`` and run the node
    script's apply on it (stand-ins on PATH); returns the root and the script's status line."""
    from aksaudit_emulator.noderoot import build_node_root, standin_env
    from aksaudit_tui.nodes.script import render_node_script

    root = work / "node"
    build_node_root(root, "Ubuntu2204", hostname, auditd_deb=deb)
    script = render_node_script(rules, facility, severity)
    env = standin_env(root)
    env["AKSAUDIT_SIM_AUDITD_DEB"] = str(deb)
    env["TMPDIR"] = str(work)
    (work / "node.sh").write_text(script)
    proc = subprocess.run(
        ["sh", str(work / "node.sh"), "apply"], env=env, capture_output=True, text=True, check=False
    )
    status = json.loads(proc.stdout.strip().splitlines()[-1])
    if proc.returncode != 0 or not status.get("ok"):
        raise AssertionError(f"node script failed:\n{proc.stdout}\n{proc.stderr}")
    return root, status


def load_with_augenrules(root: Path) -> subprocess.CompletedProcess[str]:
    """Run the node root's own ``augenrules --load`` (the real script from the Debian package)
    against the node root's ``/etc/audit``.

    augenrules reads ``/etc/audit/rules.d`` and writes ``/etc/audit/audit.rules`` at fixed
    paths, then runs ``/sbin/auditctl -R`` on the result; so it runs in a private mount
    namespace with the node root's ``etc/audit`` bind-mounted over ``/etc/audit`` (the host's
    files are not touched; auditctl is the host's, loading into this kernel)."""
    augenrules = root / "sbin/augenrules"
    if not augenrules.is_file() or "SourceRulesDir" not in augenrules.read_text():
        raise AssertionError(f"{augenrules} is not the packaged augenrules")
    if not Path("/etc/audit").is_dir():
        raise AssertionError("/etc/audit is missing here: nothing to bind the node's over")
    inner = 'mount --bind "$1/etc/audit" /etc/audit && exec "$1/sbin/augenrules" --load'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner, "sh", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def daemon_confdir(root: Path) -> Path:
    """The node root's ``etc/audit``, its auditd.conf pointed inside the root (log file, plugin
    directory) and told to ignore disk space: ready for ``auditd -n -c <it>`` on this host."""
    confdir = root / "etc/audit"
    _set_conf(
        confdir / "auditd.conf",
        {
            "log_file": str(root / "var/log/audit/audit.log"),
            "plugin_dir": str(confdir / "plugins.d"),
            "log_group": "root",
            "space_left": "2",
            "admin_space_left": "1",
            "space_left_action": "IGNORE",
            "admin_space_left_action": "IGNORE",
            "disk_full_action": "IGNORE",
            "disk_error_action": "IGNORE",
        },
    )
    (root / "var/log/audit").mkdir(parents=True, exist_ok=True)
    return confdir


def run_kernel_pipeline(
    work: Path,
    deb: Path,
    *,
    facility: str = "authpriv",
    severity: str = "info",
    execs: int = 5,
    private_devlog: bool = False,
    hostname: str = "aks-nodepool1-12345678-vmss000000",
) -> PipelineCapture:
    """Run the whole pipeline once; the caller holds ``kernel_audit_guard()``."""
    watched = f"/tmp/aksaudit-kt-{os.getpid()}-watched"
    rules = pipeline_rules(pipeline_custom_rules(watched))
    root, status = apply_node_script(
        work, deb, rules, facility=facility, severity=severity, hostname=hostname
    )

    confdir = daemon_confdir(root)
    rules_file = root / "etc/audit/rules.d/50-aksaudit.rules"
    keys = ("aks_exec", "aks_watch", PRESET_KEY, HEARTBEAT_KEY)

    with host_heartbeat_dir(), syslog_socket(private_devlog) as (sock, wrap):
        daemon = start_auditd(wrap(["auditd", "-n", "-c", str(confdir)]))
        try:
            wait_for_daemon(daemon)
            _auditctl("-R", str(rules_file))
            true_bin = shutil.which("true") or "/bin/true"
            for _ in range(execs):
                subprocess.run([true_bin], check=True)
            Path(watched).write_text("x\n")
            # The container-escape preset's memfd_create rule, triggered harmlessly.
            os.close(os.memfd_create("aksaudit-kernel-test"))
            # The audit heartbeat, touched the way the node script's touch_heartbeat does it.
            for _ in range(HEARTBEATS):
                subprocess.run(["touch", str(HOST_HEARTBEAT)], check=True)

            def complete(lines: list[SyslogLine]) -> bool:
                text = "\n".join(line.raw for line in lines)
                return (
                    text.count("type=EXECVE") >= execs
                    and 'key="aks_watch"' in text
                    and f'key="{PRESET_KEY}"' in text
                    and text.count(f'key="{HEARTBEAT_KEY}"') >= HEARTBEATS
                )

            captured = _drain(sock, complete, timeout=60.0)  # ends early once complete
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(watched).unlink()
            stop_auditd(daemon)
    return PipelineCapture(
        lines=captured,
        node_status=status,
        hostname=hostname,
        facility=facility,
        severity=severity,
        execs=execs,
        keys=keys,
        metrics=measure(captured),
    )


def wait_for_daemon(daemon: subprocess.Popen[str]) -> None:
    """Until the kernel names this daemon as its audit daemon (not merely any pid)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            out = daemon.stdout.read() if daemon.stdout else ""
            raise AssertionError(f"auditd exited with {daemon.returncode}: {out}")
        if kernel_daemon_pid() == daemon.pid:
            time.sleep(0.3)  # let the dispatcher start its plugins
            return
        time.sleep(0.1)
    raise AssertionError("auditd did not register with the kernel within 30 s")


def measure(lines: list[SyslogLine]) -> dict[str, float]:
    """Bytes per audit line (the SyslogMessage) and syslog lines per execve event."""
    audit = [line for line in lines if line.event_id]
    if not audit:
        return {}
    per_event: dict[str, list[SyslogLine]] = {}
    for line in audit:
        assert line.event_id is not None
        per_event.setdefault(line.event_id, []).append(line)
    # An execve event: its SYSCALL record carries our key and it has an EXECVE record (the
    # CONFIG_CHANGE records of loading the rule carry the key too, but are not program starts).
    # Only the `true` runs count: the heartbeat's `touch` runs are program starts of ours too.
    exec_events = [
        evs
        for evs in per_event.values()
        if any(
            "type=SYSCALL" in ln.raw and 'key="aks_exec"' in ln.raw and 'comm="true"' in ln.raw
            for ln in evs
        )
        and any("type=EXECVE" in ln.raw for ln in evs)
    ]
    exec_lines = [ln for evs in exec_events for ln in evs]
    measured = exec_lines or audit
    beats = [
        evs
        for evs in per_event.values()
        if any("type=SYSCALL" in ln.raw and f'key="{HEARTBEAT_KEY}"' in ln.raw for ln in evs)
    ]
    # the first touch creates the file (one PATH more); the steady state touches an existing one
    steady = beats[1:] or beats
    return {
        "heartbeat_events": float(len(beats)),
        "lines_per_heartbeat": (sum(len(e) for e in steady) / len(steady)) if steady else 0.0,
        "bytes_per_heartbeat": (
            sum(len(ln.message.encode()) for e in steady for ln in e) / len(steady)
        )
        if steady
        else 0.0,
        # What one audit line costs in the Syslog table's SyslogMessage (execve events).
        "bytes_per_line": sum(len(ln.message.encode()) for ln in measured) / len(measured),
        "datagram_bytes_per_line": sum(len(ln.raw.encode()) for ln in measured) / len(measured),
        "lines_per_execve": len(exec_lines) / len(exec_events) if exec_events else 0.0,
        "execve_events": float(len(exec_events)),
    }
