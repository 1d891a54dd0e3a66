# shellcheck shell=bash
# Test dependencies of the host_metrics input (sourced by deploy/test-deps.sh).
#  - prometheus-node-exporter: test/integration/host-metrics-parity.test.ts
#    diffs our scrape against the real node_exporter (Debian bookworm: 1.5.0).
#  - prometheus: provides promtool, used to lint renderPrometheus() output.
# Installing the packages does not leave an exporter running where
# policy-rc.d forbids starting services; on a normal host the Debian package
# starts prometheus-node-exporter.service (port 9100) and prometheus.service
# (port 9090) -- the tests do not need either and start their own exporter.

host_metrics_test_deps() {
  local pkgs=(prometheus-node-exporter prometheus)
  if command -v prometheus-node-exporter >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    echo "host-metrics: prometheus-node-exporter and promtool already installed"
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  # another apt run may hold the lock: wait for it (bounded), then install
  local i
  for i in $(seq 1 30); do
    if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 update -qq &&
       "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 install -y -qq "${pkgs[@]}"; then
      prometheus-node-exporter --version 2>&1 | head -1
      promtool --version 2>&1 | head -1
      return 0
    fi
    echo "host-metrics: apt-get failed (attempt $i/30), retrying in 10 s" >&2
    sleep 10
  done
  echo "host-metrics: could not install ${pkgs[*]}" >&2
  return 1
}

host_metrics_test_deps
