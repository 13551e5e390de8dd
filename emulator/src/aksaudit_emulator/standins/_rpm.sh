# Shared body of the dnf and tdnf stand-ins (sourced after _lib.sh; $PM names the tool).
# Supports: install [-y] audit, list installed, makecache. Lays down the Azure Linux audit file
# set (binaries under /usr/sbin, units under /usr/lib/systemd/system) and, like the RPM, does
# not start the service. The interrupt-install fault (see _lib.sh) kills it before the rpm
# database records the package.
# shellcheck shell=sh

cmd=""
pkgs=""
while [ $# -gt 0 ]; do
	case "$1" in
	--setopt | --repo | --enablerepo | --disablerepo | --releasever) shift ;;
	-*) ;;
	*) if [ -z "$cmd" ]; then cmd=$1; else pkgs="$pkgs $1"; fi ;;
	esac
	shift
done

egress_error() {
	if [ "$PM" = dnf ]; then
		echo "Errors during downloading metadata for repository 'azurelinux-official-base':"
		echo "  - Curl error (6): Couldn't resolve host name for https://packages.microsoft.com/azurelinux/3.0/prod/base/x86_64/repodata/repomd.xml [Could not resolve host: packages.microsoft.com]"
		echo "Error: Failed to download metadata for repo 'azurelinux-official-base': Cannot download repomd.xml: Curl error (6): Couldn't resolve host name for https://packages.microsoft.com/azurelinux/3.0/prod/base/x86_64/repodata/repomd.xml [Could not resolve host: packages.microsoft.com]"
	else
		echo "Refreshing metadata for: 'Azure Linux Official Base 3.0 x86_64'"
		echo "curl#6: Couldn't resolve host name"
		echo "Error: Failed to synchronize cache for repo 'Azure Linux Official Base 3.0 x86_64'"
		echo "Error(1005) : Couldn't resolve host name"
	fi
}

case "$cmd" in
makecache | update | check-update)
	if no_egress; then
		egress_error
		exit 1
	fi
	exit 0
	;;
list)
	[ -r "$SIM/rpm-packages" ] && cat "$SIM/rpm-packages"
	exit 0
	;;
install) ;;
*)
	echo "Error: unknown command '$cmd'" >&2
	exit 1
	;;
esac

for p in $pkgs; do
	case "$p" in
	audit) ;;
	*)
		echo "Error: Unable to find a match: $p"
		exit 1
		;;
	esac
done
have_v=$(rpm_version audit)
if [ -n "$have_v" ]; then
	echo "Package audit-$have_v is already installed."
	echo "Nothing to do."
	exit 0
fi
if no_egress; then
	egress_error
	exit 1
fi
version=$(cat "$SIM/candidate-audit" 2>/dev/null || echo "3.1.2-1.azl3")
upstream=${version%%-*}
echo "Installing:"
echo " audit  x86_64  $version  azurelinux-official-base"
lay_fileset_3 "$upstream" /usr/sbin /usr/lib/systemd/system
mkdir -p "$R/usr/share/audit/sample-rules"
printf '%s\n' '## sample rules shipped by the audit package' | put 0644 /usr/share/audit/sample-rules/README-rules
if interrupted; then
	# Killed mid-transaction: files on disk, nothing in the rpm database.
	rm -f "$R/usr/lib/systemd/system/auditd.service"
	echo "Killed"
	exit 137
fi
printf 'audit %s\n' "$version" >>"$SIM/rpm-packages"
echo "Installed:"
echo "  audit-$version.x86_64"
echo "Complete!"
exit 0
