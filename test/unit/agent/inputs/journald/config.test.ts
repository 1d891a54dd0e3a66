/** The journald input's option table: defaults, and errors with their positions. */
import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../../../../agent/config.js';
import { ConfigError } from '../../../../../lib/errors.js';

const head = 'aggregator: {urls: [http://127.0.0.1:9400]}\ninputs:\n';

describe('journald input config', () => {
  it('fills every default', () => {
    const c = parseAgentConfig(`${head}  - {type: journald, topic: journal}\n`, 'agent.yaml', {});
    expect(c.inputs[0]).toEqual({
      type: 'journald',
      name: 'journald-0',
      topic: 'journal',
      units: [],
      exclude_units: [],
      identifiers: [],
      priority: 'debug',
      include_kernel: true,
      start_at: 'end',
      current_boot_only: false,
      max_message_bytes: 1024 * 1024,
      journalctl: 'journalctl',
    });
  });

  it('lists every error with FILE:LINE:COL', () => {
    let err: unknown;
    try {
      parseAgentConfig(`${head}  - {type: journald, topic: j, priority: loud, journal_directory: /x, journal_namespace: y, start_at: middle}\n`, 'agent.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/agent\.yaml:3:\d+: inputs\[0\]\.priority: must be one of "emerg"/);
    expect(msg).toMatch(/inputs\[0\]\.journal_namespace: set journal_directory or journal_namespace, not both/);
    expect(msg).toMatch(/inputs\[0\]\.start_at: must be one of "beginning", "end"/);
  });
});
