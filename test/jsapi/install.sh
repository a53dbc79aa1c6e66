#!/bin/sh
# Install the JS API tests' npm packages (playwright-core, typescript, and
# web/ itself as the "sockshim" package), pinned by package-lock.json.
# Idempotent: does nothing when node_modules already matches the lockfile.
set -eu
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
	echo "test/jsapi: npm is missing (Node 20 or newer is needed)" >&2
	exit 1
fi
stamp=node_modules/.sockshim-lock.sha256
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
npm ci --ignore-scripts --no-audit --no-fund
echo "$want" > "$stamp"
