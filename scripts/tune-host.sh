#!/usr/bin/env bash
# Host limits for a thousand containers and more, written to /etc/sysctl.d/90-strata.conf and
# applied now. Only raises: a value the host already has higher is kept. Run by the quickstart and
# `npm run bench`; `scripts/tune-host.sh --remove` deletes the file (the running values stay until
# the next boot). Why each one: docs/benchmarks.md#host-tuning.
set -euo pipefail
FILE=/etc/sysctl.d/90-strata.conf
if [ "${1:-}" = "--remove" ]; then rm -f "$FILE"; echo "strata: removed $FILE"; exit 0; fi
declare -A WANT=(
  [fs.inotify.max_user_instances]=8192      # inits and services inside watch files; 128 by default
  [fs.inotify.max_user_watches]=1048576
  [kernel.keys.maxkeys]=2000                # runc gives every container a session keyring
  [kernel.keys.maxbytes]=2000000
  [net.ipv4.neigh.default.gc_thresh1]=2048  # one ARP entry per container on its bridge
  [net.ipv4.neigh.default.gc_thresh2]=8192
  [net.ipv4.neigh.default.gc_thresh3]=16384
  [kernel.pid_max]=4194304                  # a few processes per container, and their threads
)
lines=("# Written by Strata's set-up (scripts/tune-host.sh): limits for many containers; raise-only.")
for key in $(printf '%s\n' "${!WANT[@]}" | sort); do
  want=${WANT[$key]}
  now=$(sysctl -n "$key" 2>/dev/null || echo 0)
  if [ "$now" -lt "$want" ]; then
    sysctl -q -w "$key=$want" >/dev/null
    lines+=("$key = $want")
  else
    lines+=("# $key: the host has $now already")
  fi
done
printf '%s\n' "${lines[@]}" > "$FILE"
echo "strata: host limits in $FILE"
