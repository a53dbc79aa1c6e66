#!/bin/sh
# Install the Debian servers the integration/ tests run against: PostgreSQL,
# OpenSSH's sshd, Redis and nginx. The tests start their own instances on
# 127.0.0.1 in temporary directories; no system service is started or
# enabled here (a policy-rc.d that refuses service starts is put in place
# for the install when the machine has none). Idempotent: installs only
# what is missing.
set -eu

missing=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -x /usr/sbin/nginx ] || missing="$missing nginx"
if [ -z "$missing" ]; then
	echo "servers: postgresql, sshd, redis-server and nginx already installed"
	exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "servers: not root and sudo is missing; install the Debian packages$missing by hand" >&2
		exit 1
	fi
fi

policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	ours=1
fi
cleanup() { if [ -n "$ours" ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

echo "servers: installing the Debian packages$missing..."
# apt-install.sh waits (bounded) for a dpkg/apt lock held by another process.
# shellcheck disable=SC2086 # $missing is a list of package names
"$(dirname "$0")/apt-install.sh" $missing
