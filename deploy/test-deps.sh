#!/usr/bin/env bash
# Installs the real servers the test suite runs against (Debian/Ubuntu, as root or with sudo):
# logrotate and rsyslog (rotation and peer tests), prometheus-node-exporter and promtool
# (host-metrics parity and lint), prometheus-alertmanager, nats-server, openssl (the TLS test makes its own CA) and
# systemd-journal-remote (the journald tests and bench write real journal files with it; journalctl comes with systemd).
# Each file in deploy/test-deps.d/ may add packages to PACKAGES.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGES=(openssl logrotate rsyslog prometheus-node-exporter prometheus prometheus-alertmanager nats-server systemd-journal-remote)
for f in "$here"/test-deps.d/*.sh; do
  [ -e "$f" ] || continue
  # shellcheck source=/dev/null
  source "$f"
done
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "test-deps: all present (${PACKAGES[*]})"
  exit 0
fi
echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Debian's packages start their services; tests start their own on other ports, so keep them from starting.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
for i in 1 2 3; do
  if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then break; fi
  echo "test-deps: apt-get failed (attempt $i), retrying in 10s" >&2
  sleep 10
done
if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi
for p in "${missing[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || { echo "test-deps: $p failed to install" >&2; exit 1; }
done
echo "test-deps: installed ${missing[*]}"
