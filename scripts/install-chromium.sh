#!/bin/sh
# Install Debian's chromium for the browser wasm tests (tools/wasmbrowser).
# Idempotent: does nothing when chromium is already present.
# Honours $CHROMIUM (a custom binary path) the same way the runner does.
set -eu

bin="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$bin" ]; then
	echo "chromium: $bin already installed"
	exit 0
fi
if [ -n "${CHROMIUM:-}" ]; then
	echo "chromium: \$CHROMIUM=$CHROMIUM is not an executable file" >&2
	exit 1
fi

echo "chromium: installing the Debian package (about a minute)..."
"$(dirname "$0")/apt-install.sh" chromium
"$bin" --version
