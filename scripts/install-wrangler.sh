#!/bin/sh
# Install wrangler 4 (which bundles workerd) into test/edge/, pinned by its
# package-lock.json, for `make edge-dev` and `make test-edge`. Idempotent:
# does nothing when test/edge/node_modules already matches the lockfile.
set -eu

cd "$(dirname "$0")/../test/edge"

if ! command -v npm >/dev/null 2>&1; then
	echo "install-wrangler: npm is missing (Node 20 is needed)" >&2
	exit 1
fi

stamp=node_modules/.sockshim-lock.sha256
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "install-wrangler: test/edge/node_modules is up to date"
	exit 0
fi

# Install scripts are not needed: workerd's and esbuild's only check that
# the platform package (already in the lockfile) is present.
npm ci --ignore-scripts --no-audit --no-fund
echo "$want" > "$stamp"
