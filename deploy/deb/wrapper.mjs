/**
 * The .deb's /usr/bin/logship: runs the installed program with the system's
 * node. `logship agent` gets the agent's node flags (agent/heap-flags.ts), the
 * same the systemd unit's ExecStart passes, so an agent started by hand
 * measures like the service; `logship aggregator` and `logship start` get the
 * aggregator's (aggregator/heap-flags.ts), as its unit does; every other
 * command runs with V8's defaults.
 * The flags are plain words (checked), so the script quotes nothing.
 */
export function wrapperScript(agentFlags, entry = '/usr/lib/logship/dist/bin/logship.js', agentEnv = {}, aggregatorFlags = []) {
  checkFlags('agent', agentFlags);
  checkFlags('aggregator', aggregatorFlags);
  const env = Object.entries(agentEnv).map(([k, v]) => {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(k) || !/^[0-9]+$/.test(v)) throw new Error(`agent environment not shell-safe: ${k}=${v}`);
    // a value already in the caller's environment wins
    return `export ${k}="\${${k}:-${v}}"; `;
  });
  return [
    '#!/bin/sh',
    '# logship agent runs with the node flags and environment of its systemd unit (small young generation, no memory reducer, no optimizing compiler, old generation sized for memory, large blocks mapped apart).',
    `if [ "$1" = agent ]; then ${env.join('')}exec /usr/bin/node ${agentFlags.join(' ')} ${entry} "$@"; fi`,
    ...(aggregatorFlags.length
      ? [
          '# logship aggregator and logship start (the aggregator with an agent inside) run with the aggregator\'s (an old generation limit of at least 64 MB).',
          `if [ "$1" = aggregator ] || [ "$1" = start ]; then exec /usr/bin/node ${aggregatorFlags.join(' ')} ${entry} "$@"; fi`,
        ]
      : []),
    `exec /usr/bin/node ${entry} "$@"`,
    '',
  ].join('\n');
}

/** Node flags go into the script unquoted: each must be a plain `--word` or `--word=digits`. */
function checkFlags(who, flags) {
  for (const f of flags) if (!/^--[a-z0-9-]+(=[0-9]+)?$/.test(f)) throw new Error(`${who} node flag not shell-safe: ${f}`);
}

/** A unit of deploy/ as the .deb installs it: docs and program under the package's own paths. */
export function packagedUnit(text) {
  return text.replaceAll('file:///usr/lib/node_modules/logship/README.md', 'file:///usr/share/doc/logship/README.md').replaceAll('/usr/lib/node_modules/logship/', '/usr/lib/logship/');
}
