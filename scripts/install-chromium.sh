#!/bin/sh
# Install Debian's chromium for the browser wasm tests (internal/cmd/wasmbrowser).
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

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "chromium: not root and sudo is missing; install the Debian package 'chromium' by hand" >&2
		exit 1
	fi
fi

echo "chromium: installing the Debian package (about a minute)..."
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
"$bin" --version
