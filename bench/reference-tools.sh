#!/usr/bin/env bash
# The reference tools of the benchmarks, from Debian: podman, lxc and lxc-templates.
#   bench/reference-tools.sh install   installs those missing; records which in $STATE
#   bench/reference-tools.sh revert    purges exactly the packages `install` added
# Every package the install added (dependencies too) is purged on revert. bench/reference.ts removes the host
# objects the tools make while running (bridges, nftables tables, cgroups, state directories).
set -euo pipefail
STATE=/var/lib/strata-bench/reference-packages
PACKAGES=(podman lxc lxc-templates)
case "${1:-}" in
  install)
    mkdir -p "$(dirname "$STATE")"
    before=$(mktemp)
    dpkg-query -W -f '${Package} ${Status}\n' | awk '$4 == "installed" { print $1 }' | sort > "$before"
    missing=()
    for p in "${PACKAGES[@]}"; do grep -qx "$p" "$before" || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
      echo "bench: installing reference tools: ${missing[*]}" >&2
      # policy-rc.d: no package may start a service (lxc-net would make its own bridge).
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.strata-bench
      chmod 755 /usr/sbin/policy-rc.d.strata-bench
      had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
      [ $had_policy = 1 ] || cp /usr/sbin/policy-rc.d.strata-bench /usr/sbin/policy-rc.d
      lxc=(); other=()
      for p in "${missing[@]}"; do case "$p" in lxc*) lxc+=("$p") ;; *) other+=("$p") ;; esac; done
      # podman with its recommends (netavark, the network backend it is measured with); lxc without
      # (they would bring apparmor, PAM changes and qemu).
      [ ${#other[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${other[@]}" >&2
      [ ${#lxc[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${lxc[@]}" >&2
      [ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
      rm -f /usr/sbin/policy-rc.d.strata-bench
    fi
    dpkg-query -W -f '${Package} ${Status}\n' | awk '$4 == "installed" { print $1 }' | sort | comm -13 "$before" - >> "$STATE"
    rm -f "$before"
    ;;
  revert)
    [ -s "$STATE" ] || exit 0
    echo "bench: removing the reference tools it installed: $(tr '\n' ' ' < "$STATE")" >&2
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $(sort -u "$STATE") >&2
    rm -f "$STATE"
    rmdir "$(dirname "$STATE")" 2>/dev/null || true
    ;;
  *) echo "usage: $0 install|revert" >&2; exit 2 ;;
esac
