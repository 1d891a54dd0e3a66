# Alerting tests (issue 12): prometheus-alertmanager is in the base list; faketime runs an agent
# whose clock is an hour behind, so the backlog-guard test can ship ERROR lines whose record time
# is an hour old.
PACKAGES+=(faketime)
