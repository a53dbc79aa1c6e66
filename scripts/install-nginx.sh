#!/bin/sh
# Install Debian's nginx for the resume tests behind a load balancer
# (internal/e2e TestResumeBehindNginx, which runs deploy/nginx.conf).
# Idempotent: does nothing when nginx is already present. The package's own
# service is not used: the test starts nginx itself on 127.0.0.1.
set -eu

bin="${NGINX:-/usr/sbin/nginx}"
if [ -x "$bin" ]; then
	echo "nginx: $bin already installed"
	exit 0
fi
echo "nginx: installing the Debian package nginx..."
"$(dirname "$0")/apt-install.sh" nginx
"$bin" -v
