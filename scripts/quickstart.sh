#!/usr/bin/env bash
# `npm run quickstart`: everything from a fresh Debian 12 host to a running demo container.
# Running it again is harmless: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "strata: run the quickstart as root (it installs packages and runs containers)" >&2; exit 1; fi

bash scripts/setup-host.sh
bash scripts/tune-host.sh
ln -sf "$(pwd)/bin/strata" /usr/local/bin/strata
echo "strata: 'strata' is on the PATH ($(command -v strata))"
bash scripts/service.sh start

if ! strata template inspect busybox >/dev/null 2>&1; then
  strata template build busybox --from busybox
fi
if ! strata inspect demo >/dev/null 2>&1; then
  strata create demo --template busybox
fi
if [ "$(strata inspect demo --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).state))')" != running ]; then
  strata start demo
fi
strata list

cat <<'NEXT'

Strata is running, and so is a container called "demo". Try:

  strata exec demo -- ps              # processes inside: its init is pid 1
  strata enter demo                   # a login shell inside (exit to leave)
  strata create web --template busybox && strata start web
  strata template build debian --from debootstrap     # a Debian template (a few minutes)
  strata template build host --from host              # host-linked: the host's /usr, shared
  strata logs demo; strata inspect demo; strata stop demo; strata destroy demo

The web panel is at https://127.0.0.1:8443/ (its certificate is the daemon's own; 'strata info'
shows its fingerprint). Make a user to sign in with:

  strata user create admin --role admin --password-stdin     # type a password, then Enter

Everything lives in /var/lib/strata; the README says how to uninstall.
NEXT
