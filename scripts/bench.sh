#!/usr/bin/env bash
# `npm run bench`: builds and runs the benchmarks; results go to bench/results/.
#   npm run bench -- --quick     fewer runs and containers
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
runs=15; containers=100
if [ "${1:-}" = "--quick" ]; then runs=5; containers=20; fi
node dist/bench/start.js --runs "$runs"
node dist/bench/resources.js --runs "$runs" --containers "$containers"
node dist/bench/network.js --runs "$runs"
