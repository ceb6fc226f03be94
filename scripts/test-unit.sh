#!/usr/bin/env bash
# `npm run test:unit`: the tests of src/ that need no daemon, container or network (seconds).
# Built first; the content store's and the archive's tests chown files and set trusted xattrs,
# so like `npm test` it runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d dist ] || npm run --silent build
mapfile -t files < <(find dist/src -name '*.test.js' -not -name '*.integration.test.js' | sort)
exec node --test --test-concurrency=2 "${files[@]}"
