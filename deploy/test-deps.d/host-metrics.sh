# shellcheck shell=bash
# Sourced by deploy/test-deps.sh: packages the host_metrics tests need.
#  - prometheus-node-exporter: test/integration/host-metrics-parity.test.ts
#    diffs our scrape against the real node_exporter (Debian bookworm: 1.5.0),
#    started by the test itself on 127.0.0.1:<free port> and stopped by PID.
#  - prometheus: provides promtool, which lints renderPrometheus() output
#    (test/unit/agent/inputs/host-metrics/render.test.ts).
# deploy/test-deps.sh installs them with a policy-rc.d guard, so the Debian
# services (node_exporter on :9100, prometheus on :9090) are not started.
PACKAGES+=(prometheus-node-exporter prometheus)
