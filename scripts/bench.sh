#!/usr/bin/env bash
# `npm run bench`: the benchmark suite against runc, podman and LXC (docs/benchmarks.md).
#   npm run bench                 the full suite (1000 containers, 1000 Debian with sshd; about 45 minutes)
#   npm run bench -- --quick      a smaller one (100 containers, 100 Debian with sshd; about 15 minutes)
#   npm run bench -- --only logins   one group (ids: bench/suite.ts GROUPS)
# Installs the reference tools from Debian when missing and removes them again afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
# The logged-in density benchmark logs in to containers with ssh and a key made for the run.
STRATA_EXTRA_PACKAGES='openssh-client' bash scripts/setup-host.sh
bash scripts/tune-host.sh
trap 'bash bench/reference-tools.sh revert' EXIT
bash bench/reference-tools.sh install
node dist/bench/suite.js "$@"
