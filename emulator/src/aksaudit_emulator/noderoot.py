"""Simulated node roots: directories laid out like an AKS node's / for one OS image.

The node script and the host-command stand-ins (``standins_dir()``) act on such a directory
through ``AKSAUDIT_ROOT``. Like the real images, no root has auditd installed unless asked
(``auditd_installed=True`` installs it with the stand-in package manager, exactly as the
node script would). Ubuntu and Azure Linux run rsyslog (it carries journald's lines to the
monitoring agents), Flatcar does not; ``rsyslog=False`` builds an image without it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

OS_SKUS: tuple[str, ...] = ("Ubuntu2204", "Ubuntu2404", "AzureLinux3", "Ubuntu1804", "Flatcar")
STANDIN_COMMANDS: tuple[str, ...] = (
    "apt-get",
    "dpkg",
    "dpkg-query",
    "dnf",
    "tdnf",
    "systemctl",
    "augenrules",
    "auditctl",
    "nsenter",
    "service",
    "rpm",
)
SIM_DIR = "var/lib/aksaudit-sim"


@dataclass(frozen=True)
class _Image:
    os_release: str
    usrmerged: bool  # /bin, /sbin, /lib are symlinks into /usr
    package_manager: str  # apt | rpm | none
    candidate: str  # the audit package version the image's repository offers
    libaudit: str  # the audit library package already on the image
    rsyslog: bool = True  # rsyslog installed and running (Flatcar / Azure Container Linux: no)


_IMAGES: dict[str, _Image] = {
    "Ubuntu2204": _Image(
        'PRETTY_NAME="Ubuntu 22.04.5 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
        'VERSION="22.04.5 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\n'
        'ID_LIKE=debian\nHOME_URL="https://www.ubuntu.com/"\nUBUNTU_CODENAME=jammy\n',
        True,
        "apt",
        "1:3.0.7-1build1",
        "1:3.0.7-1build1",
    ),
    "Ubuntu2404": _Image(
        'PRETTY_NAME="Ubuntu 24.04.2 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
        'VERSION="24.04.2 LTS (Noble Numbat)"\nVERSION_CODENAME=noble\nID=ubuntu\n'
        'ID_LIKE=debian\nHOME_URL="https://www.ubuntu.com/"\nUBUNTU_CODENAME=noble\n',
        True,
        "apt",
        "1:3.1.2-2.1build1.1",
        "1:3.1.2-2.1build1.1",
    ),
    "Ubuntu1804": _Image(
        'NAME="Ubuntu"\nVERSION="18.04.6 LTS (Bionic Beaver)"\nID=ubuntu\nID_LIKE=debian\n'
        'PRETTY_NAME="Ubuntu 18.04.6 LTS"\nVERSION_ID="18.04"\nVERSION_CODENAME=bionic\n'
        "UBUNTU_CODENAME=bionic\n",
        False,
        "apt",
        "1:2.8.2-1ubuntu1.1",
        "1:2.8.2-1ubuntu1.1",
    ),
    "AzureLinux3": _Image(
        'NAME="Microsoft Azure Linux"\nVERSION="3.0.20250402"\nID=azurelinux\n'
        'VERSION_ID="3.0"\nPRETTY_NAME="Microsoft Azure Linux 3.0"\nANSI_COLOR="1;34"\n'
        'HOME_URL="https://aka.ms/azurelinux"\n',
        False,
        "rpm",
        "3.1.2-1.azl3",
        "3.1.2-1.azl3",
    ),
    "Flatcar": _Image(
        'NAME="Flatcar Container Linux by Kinvolk"\nID=flatcar\nID_LIKE=coreos\n'
        "VERSION=4081.2.1\nVERSION_ID=4081.2.1\nBUILD_ID=2024-12-17-0211\n"
        'PRETTY_NAME="Flatcar Container Linux by Kinvolk 4081.2.1 (Oklo)"\n'
        'ANSI_COLOR="38;5;75"\nHOME_URL="https://flatcar.org/"\n',
        True,
        "none",
        "",
        "",
        rsyslog=False,
    ),
}

# Directories every node has (watch rules test their parents against these).
_COMMON_DIRS = (
    "etc/ssh",
    "etc/sudoers.d",
    "etc/pam.d",
    "etc/cron.d",
    "etc/systemd/system",
    "etc/kubernetes",
    "etc/default",
    "var/lib/kubelet",
    "var/log",
    "run",
    "tmp",
    "root",
    "home",
    "usr/bin",
    "usr/sbin",
    "usr/lib/systemd/system",
)
_COMMON_FILES = {
    "etc/passwd": (
        "root:x:0:0:root:/root:/bin/bash\nazureuser:x:1000:1000::/home/azureuser:/bin/bash\n"
    ),
    "etc/group": "root:x:0:\nadm:x:4:\nazureuser:x:1000:\n",
    "etc/shadow": "root:*:19000:0:99999:7:::\nazureuser:!:19000:0:99999:7:::\n",
    "etc/sudoers": "root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
    "etc/ssh/sshd_config": "PasswordAuthentication no\nPermitRootLogin no\n",
    "etc/crontab": "SHELL=/bin/sh\n",
    "var/lib/kubelet/config.yaml": (
        "kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n"
    ),
}


def standins_dir() -> Path:
    """Directory holding the host-command stand-ins (put it first on PATH).

    Installed wheels may drop the executable bit on package data, so a copy with the bit set is
    made in the temp dir when needed (keyed by content, reused across calls).
    """
    src = Path(str(resources.files("aksaudit_emulator").joinpath("standins")))
    names = [p for p in sorted(src.iterdir()) if p.is_file()]
    if all(os.access(src / n, os.X_OK) for n in STANDIN_COMMANDS):
        return src
    digest = hashlib.sha256()
    for p in names:
        digest.update(p.name.encode() + b"\0" + p.read_bytes())
    dest = Path(tempfile.gettempdir()) / f"aksaudit-standins-{digest.hexdigest()[:16]}"
    if not (dest / "auditctl").exists():
        staging = Path(tempfile.mkdtemp(prefix="aksaudit-standins-"))
        for p in names:
            shutil.copyfile(p, staging / p.name)
            (staging / p.name).chmod(0o755)
        try:
            staging.rename(dest)
        except OSError:  # another process won the race
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def standin_env(root: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running the node script or a stand-in against ``root``.

    ``AKSAUDIT_SIMULATION=1`` tells the node script it runs against a simulated root: it then
    runs host commands only when they are stand-ins (a ``# aksaudit-standin`` line at the top),
    and with any other root than / refuses to run without it. ``TMPDIR`` is the root's /tmp."""
    env = dict(os.environ if base is None else base)
    env["AKSAUDIT_ROOT"] = str(root)
    env["AKSAUDIT_SIMULATION"] = "1"
    env["TMPDIR"] = str(root / "tmp")  # the node's /tmp: a killed script's leftovers stay there
    env["PATH"] = f"{standins_dir()}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return env


RSYSLOG_SERVICE = "services/rsyslog"  # under SIM_DIR: active | inactive, as systemctl keeps it
# Container Insights: ama-logs copies its rsyslog forwarding file to this hostPath; the node's
# watcher (a path unit AgentBaker ships with rsyslog) copies it into /etc/rsyslog.d
# (``cisyslog``).
CI_FORWARD_NAME = "70-rsyslog-forward-mdsd-ci.conf"
CI_DROP_DIR = "run/mdsd-ci"  # the hostPath /var/run/mdsd-ci (/var/run is /run on the node)
CI_WATCHER_UNIT = "etc/systemd/system/ci-syslog-watcher.path"


def rsyslog_present(root: Path) -> bool:
    """rsyslogd is on the node (running or not)."""
    return any((root / d / "rsyslogd").is_file() for d in ("usr/sbin", "sbin"))


def _install_rsyslog(root: Path, image: _Image) -> None:
    """rsyslog as both images ship it: the daemon, its config, the drop-in directory the
    monitoring agents write their forwarding files to, and the unit, enabled and running."""
    _write(root, "usr/sbin/rsyslogd", "#!/bin/sh\n# simulated rsyslogd\nexit 0\n", 0o755)
    # Ubuntu reads /dev/log (imuxsock); Azure Linux reads the journal (imjournal).
    module = "imjournal" if image.package_manager == "rpm" else "imuxsock"
    _write(
        root,
        "etc/rsyslog.conf",
        f'module(load="{module}")\n$IncludeConfig /etc/rsyslog.d/*.conf\n',
    )
    (root / "etc/rsyslog.d").mkdir(parents=True, exist_ok=True)
    unit_dir = "lib/systemd/system" if image.package_manager == "apt" else "usr/lib/systemd/system"
    if image.usrmerged and unit_dir.startswith("lib/"):
        unit_dir = "usr/" + unit_dir
    _write(
        root,
        f"{unit_dir}/rsyslog.service",
        "[Unit]\nDescription=System Logging Service\n[Service]\nType=notify\n"
        "ExecStart=/usr/sbin/rsyslogd -n -iNONE\n[Install]\nWantedBy=multi-user.target\n",
    )
    _write(root / SIM_DIR, RSYSLOG_SERVICE, "active\n")
    _write(root / SIM_DIR, RSYSLOG_SERVICE + ".enabled", "enabled\n")
    _write(
        root,
        CI_WATCHER_UNIT,
        "[Unit]\nDescription=Watch for the Container Insights syslog forwarding file\n"
        f"[Path]\nPathModified=/{CI_DROP_DIR}/{CI_FORWARD_NAME}\n"
        "[Install]\nWantedBy=multi-user.target\n",
    )
    _write(
        root,
        CI_WATCHER_UNIT.replace(".path", ".service"),
        "[Unit]\nDescription=Copy the Container Insights syslog forwarding file\n"
        f"[Service]\nType=oneshot\nExecStart=/bin/cp /{CI_DROP_DIR}/{CI_FORWARD_NAME} "
        "/etc/rsyslog.d/\nExecStartPost=/bin/systemctl restart rsyslog\n",
    )


def _write(root: Path, rel: str, text: str, mode: int = 0o644) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def build_node_root(
    path: Path | str,
    os_sku: str,
    hostname: str,
    *,
    auditd_installed: bool = False,
    no_egress: bool = False,
    auditd_deb: Path | str | None = None,
    rsyslog: bool | None = None,
) -> Path:
    """Lay out a node root for ``os_sku`` at ``path`` (created; must be empty or absent).

    ``auditd_installed`` installs the audit package with the stand-in package manager (an old
    node, or one configured before); ``no_egress`` makes package installs fail as they do on a
    cluster with locked-down egress. ``auditd_deb`` names a real auditd .deb to unpack instead
    of the synthetic file set (Ubuntu roots only; also passed to later installs through
    ``AKSAUDIT_SIM_AUDITD_DEB`` by whoever runs the node script). ``rsyslog`` None gives the
    image's own (running on Ubuntu and Azure Linux, absent on Flatcar); False leaves it out (a
    custom image), True on an image without it is an error.
    """
    image = _IMAGES.get(os_sku)
    if image is None:
        raise ValueError(f"unknown os_sku {os_sku!r}; use one of {', '.join(OS_SKUS)}")
    if rsyslog and not image.rsyslog:
        raise ValueError(f"{os_sku} has no rsyslog")
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise ValueError(f"{root} is not empty")
    for rel in _COMMON_DIRS:
        (root / rel).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    for top in ("bin", "sbin", "lib"):
        if image.usrmerged:
            (root / "usr" / top).mkdir(parents=True, exist_ok=True)
            (root / top).symlink_to(f"usr/{top}")
        else:
            (root / top).mkdir(exist_ok=True)
    _write(root, "etc/os-release", image.os_release)
    _write(root, "etc/hostname", f"{hostname}\n")
    for rel, text in _COMMON_FILES.items():
        _write(root, rel, text, 0o640 if rel == "etc/shadow" else 0o644)
    sim = root / SIM_DIR
    (sim / "services").mkdir(parents=True)
    if image.rsyslog if rsyslog is None else rsyslog:
        _install_rsyslog(root, image)
    if image.package_manager == "apt":
        libaudit = (
            "Package: libaudit-common\nStatus: install ok installed\nArchitecture: all\n"
            f"Source: audit\nVersion: {image.libaudit}\n\n"
            "Package: libaudit1\nStatus: install ok installed\nArchitecture: amd64\n"
            f"Source: audit\nVersion: {image.libaudit}\n\n"
        )
        _write(root, "var/lib/dpkg/status", libaudit)
        (root / "etc/apt/sources.list.d").mkdir(parents=True)
        _write(sim, "candidate-auditd", f"{image.candidate}\n")
    elif image.package_manager == "rpm":
        (root / "etc/yum.repos.d").mkdir(parents=True)
        _write(sim, "rpm-packages", f"audit-libs {image.libaudit}\n")
        _write(sim, "candidate-audit", f"{image.candidate}\n")
    else:
        # Immutable images: nothing to install with.
        (root / "usr/share/flatcar").mkdir(parents=True)
    if no_egress:
        _write(sim, "no-egress", "")
    if auditd_installed:
        if image.package_manager == "none":
            raise ValueError(f"{os_sku} cannot have auditd installed")
        manager = ["apt-get", "install", "-y", "auditd"]
        if image.package_manager == "rpm":
            manager = ["tdnf", "install", "-y", "audit"]
        env = standin_env(root)
        env.pop("AKSAUDIT_SIM_AUDITD_DEB", None)
        if auditd_deb is not None and image.package_manager == "apt":
            env["AKSAUDIT_SIM_AUDITD_DEB"] = str(auditd_deb)
        if no_egress:
            (sim / "no-egress").unlink()
        for argv in (manager, ["systemctl", "enable", "--now", "auditd"]):
            subprocess.run(
                [str(standins_dir() / argv[0]), *argv[1:]],
                env=env,
                check=True,
                capture_output=True,
            )
        if no_egress:
            _write(sim, "no-egress", "")
        (sim / "calls.log").write_text("", encoding="utf-8")
    return root
