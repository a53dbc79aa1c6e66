#!/bin/sh
# Install Debian's firefox-esr for the browser wasm tests (internal/cmd/wasmbrowser
# -browser=firefox, driven over WebDriver BiDi by internal/bidi).
# Idempotent: does nothing when Firefox is already present.
# Honours $FIREFOX (a custom binary path) the same way the runner does.
set -eu

bin="${FIREFOX:-/usr/bin/firefox-esr}"
if [ -x "$bin" ]; then
	echo "firefox: $bin already installed"
	exit 0
fi
if [ -n "${FIREFOX:-}" ]; then
	echo "firefox: \$FIREFOX=$FIREFOX is not an executable file" >&2
	exit 1
fi

echo "firefox: installing the Debian package firefox-esr (about 15 seconds)..."
here=$(dirname "$0")
if [ -x "$here/apt-install.sh" ]; then
	"$here/apt-install.sh" firefox-esr
else
	SUDO=
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get -o DPkg::Lock::Timeout=300 update
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends firefox-esr
fi
"$bin" --version
