#!/bin/sh
# Install Debian's firefox-esr for the browser wasm tests (tools/wasmbrowser
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
"$(dirname "$0")/apt-install.sh" firefox-esr
"$bin" --version
