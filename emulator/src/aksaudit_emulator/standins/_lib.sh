# Shared helpers for the host-command stand-ins (sourced, not run).
# Every stand-in acts on $AKSAUDIT_ROOT, a directory laid out like a node's /, and records its
# state under $AKSAUDIT_ROOT/var/lib/aksaudit-sim/. They refuse to run against the real root.
# shellcheck shell=sh

if [ -z "${AKSAUDIT_ROOT:-}" ] || [ "${AKSAUDIT_ROOT%/}" = "" ]; then
	echo "${0##*/} (aksaudit stand-in): AKSAUDIT_ROOT must name a simulated node root, not /" >&2
	exit 97
fi
R="${AKSAUDIT_ROOT%/}"
SIM="$R/var/lib/aksaudit-sim"
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$SIM/services"
printf '%s\n' "${0##*/} $*" >>"$SIM/calls.log"

no_egress() { [ -e "$SIM/no-egress" ]; }

# dpkg's state word for a package: installed, unpacked, half-configured... (empty when absent).
dpkg_state() {
	[ -r "$R/var/lib/dpkg/status" ] || return 0
	awk -v want="$1" '
		/^Package: / { p = ($2 == want) }
		p && /^Status: / { print $4; exit }
	' "$R/var/lib/dpkg/status"
}

# Record PKG VERSION ARCH STATUS in var/lib/dpkg/status, replacing any stanza of PKG.
dpkg_record() {
	mkdir -p "$R/var/lib/dpkg"
	_st="$R/var/lib/dpkg/status"
	if [ -s "$_st" ]; then
		awk -v want="$1" '
			/^Package: / { skip = ($2 == want) }
			!skip { print }
			/^$/ { skip = 0 }
		' "$_st" >"$_st.new"
		mv "$_st.new" "$_st"
		[ -z "$(tail -n 1 "$_st")" ] || echo >>"$_st"
	fi
	cat >>"$_st" <<STANZA
Package: $1
Status: $4
Priority: optional
Section: admin
Maintainer: Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>
Architecture: $3
Source: audit
Version: $2
Description: User space tools for security auditing

STANZA
}

# Fault var/lib/aksaudit-sim/interrupt-install (one-shot): the next package install is killed
# after unpacking the files and before configuring them, as when the apply pod is deleted in
# the middle of apt-get/dnf. systemd never learnt the unit (no daemon-reload): the unit file is
# held back under $SIM/pending-unit until `dpkg --configure -a` (or a reinstall) finishes.
interrupted() {
	[ -e "$SIM/interrupt-install" ] || return 1
	rm -f "$SIM/interrupt-install"
	return 0
}

hold_back_unit() {
	_u=$(unit_file "$1") || return 0
	mkdir -p "$SIM/pending-unit"
	printf '%s\n' "${_u#"$R"}" >"$SIM/pending-unit/$1.path"
	mv "$_u" "$SIM/pending-unit/$1.service"
}

release_unit() {
	[ -r "$SIM/pending-unit/$1.path" ] || return 0
	_p=$(cat "$SIM/pending-unit/$1.path")
	mkdir -p "$(dirname "$R$_p")"
	mv "$SIM/pending-unit/$1.service" "$R$_p"
	rm -f "$SIM/pending-unit/$1.path"
}

# auditd's postinst: generate audit.rules on first install, enable and start the service.
auditd_postinst() {
	echo "Setting up auditd ($1) ..."
	if [ ! -f "$R/etc/audit/audit.rules" ]; then
		"$HERE/augenrules" >/dev/null 2>&1 || true
	fi
	set_service auditd.enabled enabled
	start_unit auditd start || true
	echo "Created symlink /etc/systemd/system/multi-user.target.wants/auditd.service → /lib/systemd/system/auditd.service."
}

# Installed version of a dpkg package (empty when not installed).
dpkg_version() {
	[ -r "$R/var/lib/dpkg/status" ] || return 0
	awk -v want="$1" '
		/^Package: / { p = ($2 == want); s = ""; v = "" }
		p && /^Status: / { s = $0 }
		p && /^Version: / { v = $2 }
		/^$/ { if (p && s ~ / installed$/) { print v; exit } p = 0 }
		END { if (p && s ~ / installed$/) print v }
	' "$R/var/lib/dpkg/status" | head -n 1
}

# Installed version of an rpm package recorded by the dnf/tdnf stand-ins.
rpm_version() {
	[ -r "$SIM/rpm-packages" ] || return 0
	awk -v want="$1" '$1 == want { print $2; exit }' "$SIM/rpm-packages"
}

unit_file() {
	for d in /lib/systemd/system /usr/lib/systemd/system /etc/systemd/system; do
		if [ -f "$R$d/$1.service" ]; then
			printf '%s' "$R$d/$1.service"
			return 0
		fi
	done
	return 1
}

service_state() {
	if [ -r "$SIM/services/$1" ]; then cat "$SIM/services/$1"; else echo inactive; fi
}

set_service() { printf '%s\n' "$2" >"$SIM/services/$1"; }

put() {
	# put MODE PATH < content
	mkdir -p "$(dirname "$R$2")"
	cat >"$R$2"
	chmod "$1" "$R$2"
}

stub_bin() {
	# A small executable standing in for an audit binary; `-v` prints the version.
	put 0755 "$1" <<STUB
#!/bin/sh
# aksaudit-standin
# aksaudit simulated ${1##*/} (audit $2)
case "\${1:-}" in -v | --version) echo "${1##*/} version $2" ;; esac
exit 0
STUB
}

syslog_plugin_3() {
	put 0640 /etc/audit/plugins.d/syslog.conf <<'CONF'
# Syslog plugin for the audit event dispatcher (simulated audit 3.x package file).
# args: the priority, and optionally the facility (LOG_LOCAL0..7, LOG_AUTH,
# LOG_AUTHPRIV, LOG_DAEMON, LOG_SYSLOG, LOG_USER).

active = no
direction = out
path = /sbin/audisp-syslog
type = always 
args = LOG_INFO
format = string
CONF
	{
		printf '%s\n\n' '# af_unix plugin (simulated audit 3.x package file).'
		af_unix_conf
	} | put 0640 /etc/audit/plugins.d/af_unix.conf
}

# The af_unix plugin stanza both audit generations ship (inactive).
af_unix_conf() {
	cat <<'CONF'
active = no
direction = out
path = builtin_af_unix
type = builtin 
args = 0640 /var/run/audispd_events
format = string
CONF
}

# What every audit file set ends with: the stop rules, the rules and log dirs, the unit.
# fileset_tail SBIN UNITDIR
fileset_tail() {
	printf '%s\n' '-e 0' | put 0640 /etc/audit/audit-stop.rules
	mkdir -p "$R/etc/audit/rules.d" "$R/var/log/audit"
	unit_auditd "$2" "$1"
}

auditd_conf() {
	# auditd_conf VERSION_MAJOR
	{
		printf '# auditd.conf (simulated audit package file)\n'
		printf 'local_events = yes\nwrite_logs = yes\nlog_file = /var/log/audit/audit.log\n'
		printf 'log_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 8\n'
		printf 'num_logs = 5\npriority_boost = 4\nname_format = NONE\n'
		printf 'max_log_file_action = ROTATE\nspace_left = 75\nspace_left_action = SYSLOG\n'
		if [ "$1" -ge 3 ]; then
			printf 'q_depth = 2000\noverflow_action = SYSLOG\nmax_restarts = 10\n'
			printf 'plugin_dir = /etc/audit/plugins.d\nend_of_event_timeout = 2\n'
		else
			printf 'dispatcher = /sbin/audispd\ndisp_qos = lossy\n'
		fi
	} | put 0640 /etc/audit/auditd.conf
}

default_rules_d() {
	put 0640 /etc/audit/rules.d/audit.rules <<'RULES'
## First rule - delete all
-D

## Increase the buffers to survive stress events.
-b 8192

## Set failure mode to syslog
-f 1
RULES
}

unit_auditd() {
	# unit_auditd DIR SBIN
	put 0644 "$1/auditd.service" <<UNIT
[Unit]
Description=Security Auditing Service (simulated)
DefaultDependencies=no

[Service]
Type=forking
PIDFile=/run/auditd.pid
ExecStart=$2/auditd
ExecStartPost=-$2/augenrules --load
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
}

# Upstream-shaped audit 3.x file set. lay_fileset_3 VERSION SBIN UNITDIR
lay_fileset_3() {
	for b in auditd auditctl audisp-syslog aureport ausearch autrace augenrules; do
		stub_bin "$2/$b" "$1"
	done
	for b in aulast aulastlog ausyscall auvirt; do stub_bin "/usr/bin/$b" "$1"; done
	auditd_conf 3
	syslog_plugin_3
	fileset_tail "$2" "$3"
	chmod 0750 "$R/etc/audit/rules.d"
}

# Audit 2.x (2.8) file set: audispd with its builtin syslog plugin under /etc/audisp.
lay_fileset_2() {
	for b in auditd auditctl audispd aureport ausearch autrace augenrules; do
		stub_bin "/sbin/$b" "$1"
	done
	auditd_conf 2
	put 0640 /etc/audisp/audispd.conf <<'CONF'
# audispd.conf (simulated audit 2.x package file)
q_depth = 250
overflow_action = SYSLOG
priority_boost = 4
max_restarts = 10
name_format = HOSTNAME
plugin_dir = /etc/audisp/plugins.d/
CONF
	put 0640 /etc/audisp/plugins.d/syslog.conf <<'CONF'
# Syslog plugin for audispd (simulated audit 2.x package file).
# args: the priority, and optionally the facility.

active = no
direction = out
path = builtin_syslog
type = builtin 
args = LOG_INFO
format = string
CONF
	af_unix_conf | put 0640 /etc/audisp/plugins.d/af_unix.conf
	fileset_tail /sbin /lib/systemd/system
}

# Start (or restart) a unit the way systemd would, including auditd's ExecStartPost.
start_unit() {
	if ! unit_file "$1" >/dev/null; then
		echo "Failed to $2 $1.service: Unit $1.service not found." >&2
		return 5
	fi
	set_service "$1" active
	case "$1" in
	auditd)
		snapshot_plugins
		# auditd writes its pid file when it starts (the node script compares its age with
		# the plugin file's); a new file, so its mtime is the start time.
		mkdir -p "$R/run"
		rm -f "$R/run/auditd.pid"
		echo 812 >"$R/run/auditd.pid"
		;;
	esac
	case "$1" in
	auditd | audit-rules) "$HERE/augenrules" --load >/dev/null 2>&1 || true ;;
	esac
	return 0
}

# A unit stops; auditd removes its pid file on exit.
stop_unit() {
	set_service "$1" inactive
	[ "$1" = auditd ] && rm -f "$R/run/auditd.pid"
	return 0
}

# auditd reads its plugin configuration when it starts (and on reload): keep what it read, so
# an edit without a restart does not change what the running daemon sends.
snapshot_plugins() {
	rm -rf "$SIM/auditd-running"
	mkdir -p "$SIM/auditd-running"
	for d in etc/audit/plugins.d etc/audisp/plugins.d; do
		if [ -d "$R/$d" ]; then
			mkdir -p "$SIM/auditd-running/$d"
			cp -p "$R/$d"/* "$SIM/auditd-running/$d/" 2>/dev/null || true
		fi
	done
}
