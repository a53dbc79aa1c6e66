#!/bin/sh
# Install the npm packages of the interoperability tests (test/interop/,
# pinned by its package-lock.json). Idempotent: does nothing when
# test/interop/node_modules already matches the lockfile.
set -eu

cd "$(dirname "$0")/../test/interop"

if ! command -v npm >/dev/null 2>&1; then
	echo "install-npm: npm is missing (Node 20 or newer is needed)" >&2
	exit 1
fi

stamp=node_modules/.sockshim-lock.sha256
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "install-npm: test/interop/node_modules is up to date"
	exit 0
fi

# npm ci installs exactly the lockfile and fails if package.json disagrees
# with it. Install scripts are not needed (ws falls back to plain JavaScript
# without bufferutil's native build).
npm ci --ignore-scripts --no-audit --no-fund
echo "$want" > "$stamp"
