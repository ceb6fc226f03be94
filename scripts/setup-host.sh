#!/usr/bin/env bash
# Installs what Strata needs on a Debian 12 host: runc, busybox-static, debootstrap and the small
# tools Strata calls, then npm dependencies from the lock file, then builds. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(runc busybox-static debootstrap lxcfs e2fsprogs btrfs-progs attr containernetworking-plugins nftables libnftables-dev iptables curl iproute2 util-linux mount tar gzip xz-utils zstd file procps ca-certificates build-essential)
# Callers add their own needs (the tests: an ssh client) in STRATA_EXTRA_PACKAGES.
read -r -a extra <<< "${STRATA_EXTRA_PACKAGES:-}"
PACKAGES+=("${extra[@]}")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "strata: installing host packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "strata: installing npm dependencies from the lock file"
  npm ci --no-audit --no-fund
fi
echo "strata: building"
npm run --silent build
