#!/bin/sh
# apt-install.sh PACKAGE...: install Debian packages for the tests, waiting
# (bounded) for the dpkg and apt locks another apt process may hold, as
# unattended upgrades do for a minute or more on a fresh machine.
#
# SOCKSHIM_APT_LOCK_TIMEOUT is the most seconds to wait for the locks in
# total (default 300). APT_GET overrides the apt-get command (tests).
set -eu

timeout="${SOCKSHIM_APT_LOCK_TIMEOUT:-300}"
apt_get="${APT_GET:-apt-get}"

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "apt-install: not root and sudo is missing; install $* by hand" >&2
		exit 1
	fi
fi

start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run ARGS...: apt-get ARGS with DPkg::Lock::Timeout (apt waits for the
# dpkg frontend lock itself), retried while another process holds a lock
# apt does not wait for (the package lists' lock of apt-get update).
run() {
	while :; do
		left=$((timeout - ($(date +%s) - start)))
		[ "$left" -gt 0 ] || left=1
		if $SUDO env DEBIAN_FRONTEND=noninteractive "$apt_get" -o DPkg::Lock::Timeout="$left" "$@" >"$log" 2>&1; then
			cat "$log"
			return 0
		fi
		cat "$log" >&2
		if ! grep -qiE 'could not get lock|unable to acquire the dpkg frontend lock|unable to lock' "$log"; then
			echo "apt-install: apt-get $* failed (see above)" >&2
			return 1
		fi
		if [ $(($(date +%s) - start)) -ge "$timeout" ]; then
			echo "apt-install: gave up after ${timeout}s: another process still holds the dpkg/apt lock (see above; unattended-upgrades?). Wait for it to finish and run again, or install $pkgs by hand." >&2
			return 1
		fi
		echo "apt-install: another process holds the dpkg/apt lock; retrying" >&2
		sleep 2
	done
}

pkgs="$*"
run update
run install -y --no-install-recommends "$@"
