#!/usr/bin/env bash
# `npm run bench`: builds and runs the benchmarks; results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
node dist/bench/start.js "$@"
