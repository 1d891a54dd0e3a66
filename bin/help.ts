/** Usage text of every command (`logship --help`, `logship CMD --help`). */
export const HELP = `logship: tail log files and host metrics, buffer durably, forward, store and replay.

Usage: logship <command> [options]

Commands:
  agent       --config FILE        run the agent (tails files, scrapes host metrics, forwards)
  aggregator  --config FILE        run the aggregator (stores partitioned logs, serves reads)
  start       [--config FILE] [--data-dir DIR]
                                   all-in-one: aggregator with embedded storage plus an agent
  check       --config FILE        validate a config: exit 0 with a summary, 2 with every error
  read        --url URL --topic T  print records (see logship read --help)
  topics      --url URL            list topics and partitions with offsets and bytes
  pipeline test --config FILE --pipeline NAME < sample.log
                                   print what a pipeline makes of each line of a sample
  alerts      --url URL            alert rules, their groups, state, since when, last notification per sink
  sinks       --url URL            each sink's state, lag per topic, documents and last error
  status      [--url URL]          the agent's files, buffer, backlog and delivery state

Every command takes --help, --log-level fatal|error|warn|info|debug|trace|silent, and --log-format
json|pretty (default: pretty on a terminal, JSON lines otherwise; also LOGSHIP_LOG_FORMAT).
Exit codes: 0 done, 1 runtime failure, 2 bad usage or config.
`;

const COMMANDS: Record<string, string> = {
  agent: `Usage: logship agent --config FILE [--log-level LEVEL]

Runs the agent. SIGTERM/SIGINT: flush, persist and exit 0 within 10 s.
SIGHUP: reload the config; an invalid one is refused and the old one keeps running.`,
  aggregator: `Usage: logship aggregator --config FILE [--log-level LEVEL]

Runs the aggregator. Refuses to listen on a non-loopback address without auth.tokens.
SIGTERM/SIGINT: finish in-flight requests, close the logs, exit 0. SIGHUP: reload.`,
  start: `Usage: logship start [--config FILE] [--data-dir DIR] [--log-level LEVEL]

All-in-one for one host or a first try: an aggregator with embedded storage plus an
agent, from config/logship.yaml unless --config is given. Data goes to --data-dir,
else $LOGSHIP_DATA_DIR, else ./data. Unless the config names auth.tokens, the agent
sends with an ingest-only token and readers use a read-only one, both made at first
start: logship read --token-file DATA_DIR/tokens/read.token ...`,
  check: `Usage: logship check --config FILE [--kind agent|aggregator|start]

Validates any logship config. Exit 0 with a one-line summary, or exit 2 listing
every problem as FILE:LINE:COL: key.path: what is wrong. Token files are read and
checked like inline tokens. Warnings (to stderr, exit code unchanged): tokens without
scopes, token or key files others can read, token files not readable here.`,
  read: `Usage: logship read --url URL --topic T [--partition N]
                    [--from-beginning | --offset N | --since TIME] [--follow]
                    [--group NAME] [--format raw|json] [--max N] [--parse] [--token-file FILE]

Prints records. Without --partition: all partitions (order kept within each).
Start: --offset N, --since TIME (ISO 8601 or ms since epoch), --from-beginning;
the default is the beginning, or the end with --follow. Without --follow it exits
at the end of the log. --group NAME resumes from, and commits, that group's offsets.
--format raw (default) prints messages; json prints one object a line:
{"topic","partition","offset","timestamp","host","source","source_offset","message"}.
--parse: what the topic's pipeline (the aggregator's pipelines: config) makes of each
record; raw prints one document a line (records a drop or sample step leaves out are
not printed), json adds "document" to each record. Nothing is re-stored.
The token comes from --token-file or $LOGSHIP_TOKEN.`,
  pipeline: `Usage: logship pipeline test --config FILE --pipeline NAME [--format json|pretty] < sample.log

Runs pipeline NAME of an aggregator (or start) config over the lines on stdin and prints
what each becomes: one document as JSON per line (null when a drop or sample step leaves
it out). A summary goes to stderr. Exit 0 when no step failed, 1 when some line failed a
step (tagged _parse_failure, with error.message), 2 for a bad config or pipeline name.`,
  alerts: `Usage: logship alerts --url URL [--format text|json] [--token-file FILE]

Lists the alert rules (GET /v1/alerts, read scope) with one line per group (host):
state (inactive, pending, firing, resolved), since when, the match count or metric
value, and the last notification per sink (accepted or failed, when).`,
  topics: `Usage: logship topics --url URL [--format text|json] [--token-file FILE]

Lists topics, partitions, first and next offsets (next is exclusive), records and bytes.`,
  sinks: `Usage: logship sinks --url URL [--format text|json] [--token-file FILE]

Lists the aggregator's record sinks (GET /v1/sinks, read scope): name, type, state
(ok, degraded with the reason, not_running), lag per topic (records stored but not yet
delivered), documents (indexed, duplicate, dead_lettered, dropped, retried) and the last error.`,
  status: `Usage: logship status [--url URL] [--format text|json]

Shows the agent's files (path, identity, offset, size, lag), buffer bytes, the age of
the oldest unacknowledged batch, aggregator reachability and backlog progress.
URL is the agent's status listener, default http://127.0.0.1:9401.`,
};

export function commandHelp(cmd: string): string {
  return COMMANDS[cmd] ?? HELP;
}
