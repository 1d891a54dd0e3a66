# shellcheck shell=bash
# Sourced by deploy/test-deps.sh: packages the pipelines tests need.
#  - nginx-light: test/integration/pipelines-nginx.test.ts runs Debian's nginx as a
#    private instance (its own -p prefix, -c conf, pid and log files, daemon off,
#    127.0.0.1:<free port>) and checks the parsed access and error logs against
#    the requests it sent; test/integration/agent-behind-nginx.test.ts puts it in
#    front of an aggregator as a reverse proxy (one server passing upgrades, one
#    not) for the batch stream and its fallback. The Debian service is kept from
#    starting by the policy-rc.d guard in deploy/test-deps.sh.
#  - rsyslog (already in the base list) for test/integration/pipelines-rsyslog.test.ts.
PACKAGES+=(nginx-light)
