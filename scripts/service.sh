#!/usr/bin/env bash
# Runs the Strata daemon as a service: a systemd unit where systemd runs, else a background
# process with a pid file (/run/strata/daemon.pid) and a log (/var/log/strata/daemon.log).
#   scripts/service.sh start|stop|status|uninstall
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
node=$(command -v node)
socket=${STRATA_SOCKET:-/run/strata/strata.sock}
# The API over TLS and the web panel: on loopback unless told otherwise (STRATA_LISTEN=0.0.0.0:8443
# for other hosts; STRATA_LISTEN= for none).
listen=${STRATA_LISTEN-127.0.0.1:8443}
pidfile=/run/strata/daemon.pid
logfile=/var/log/strata/daemon.log
unit=/etc/systemd/system/strata.service

answers() { "$node" -e "require('net').connect('$socket').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"; }
systemd() { [ -d /run/systemd/system ]; }

case "${1:-}" in
start)
  if answers; then echo "strata: daemon already running on $socket"; exit 0; fi
  if systemd; then
    cat > "$unit" <<UNIT
[Unit]
Description=Strata container daemon
After=network.target

[Service]
Environment=STRATA_LISTEN=$listen
ExecStart=$node $top/bin/strata daemon
# Containers and their monitor outlive the daemon: stop only the daemon itself.
KillMode=process
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
    systemctl enable --now strata.service
  else
    mkdir -p /run/strata
    mkdir -p -m 0700 /var/log/strata; chmod 0700 /var/log/strata
    (umask 077; : >> "$logfile")
    STRATA_LISTEN=$listen nohup setsid "$node" "$top/bin/strata" daemon >> "$logfile" 2>&1 < /dev/null &
    echo $! > "$pidfile"
  fi
  for _ in $(seq 1 100); do answers && break; sleep 0.1; done
  answers || { echo "strata: the daemon did not start; see $logfile" >&2; exit 1; }
  echo "strata: daemon running on $socket${listen:+; API and web panel on https://$listen/}"
  ;;
stop)
  if systemd && [ -f "$unit" ]; then systemctl stop strata.service
  elif [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$pidfile"
  fi
  echo "strata: daemon stopped (containers keep running)"
  ;;
status)
  if answers; then echo "strata: daemon running on $socket"; else echo "strata: daemon not running"; exit 3; fi
  ;;
uninstall)
  "$0" stop || true
  if [ -f "$unit" ]; then systemctl disable strata.service || true; rm -f "$unit"; systemctl daemon-reload || true; fi
  rm -f /usr/local/bin/strata
  echo "strata: service and command removed"
  ;;
*)
  echo "usage: $0 start|stop|status|uninstall" >&2; exit 2 ;;
esac
