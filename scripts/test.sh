#!/usr/bin/env bash
# `npm test`: installs what the tests need, builds, and runs every test (unit and integration)
# with node's test runner. Integration tests run real containers: run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "strata: the tests run real containers and need root" >&2; exit 1; fi
# What only the tests use: ssh logs in to containers with a key (the catalogue test); Chromium
# drives the web panel and nginx proxies it (the panel test).
STRATA_EXTRA_PACKAGES='openssh-client chromium nginx-light criu' bash scripts/setup-host.sh
mapfile -t files < <(find dist -name '*.test.js' -not -path '*/node_modules/*' | sort)
# --test-force-exit: a file whose tests are done exits even if a stray handle would keep it alive.
exec node --test --test-concurrency=1 --test-force-exit --test-timeout=1200000 "${files[@]}"
