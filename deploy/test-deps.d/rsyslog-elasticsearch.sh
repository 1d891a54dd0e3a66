# shellcheck shell=bash
# Sourced by deploy/test-deps.sh: packages the Elasticsearch-compatible ingest tests need.
#  - rsyslog-elasticsearch: the omelasticsearch output module for Debian's rsyslog
#    (bookworm: 8.2302.0). test/integration/es-ingest-rsyslog.test.ts runs a private
#    rsyslogd (its own config, pid file and work dir, input from a temp file through
#    imfile) that ships into the aggregator's /_bulk with bulkmode="on".
PACKAGES+=(rsyslog-elasticsearch)
