import { afterEach, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipelineTestCommand } from '../../../../aggregator/pipelines/cli.js';
import { ConfigError, UsageError } from '../../../../lib/errors.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function run(config: string, pipeline: string, input: string) {
  dir = await mkdtemp(join(tmpdir(), 'logship-pipeline-test-'));
  const file = join(dir, 'agg.yaml');
  await writeFile(file, config);
  let out = '';
  let err = '';
  const code = await pipelineTestCommand({
    config: file,
    pipeline,
    input: Readable.from([input]),
    write: (s) => (out += s),
    writeErr: (s) => (err += s),
    format: 'json',
    now: new Date('2026-12-02T00:00:00Z'),
  });
  return { code, docs: out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any> | null), err };
}

const CONFIG = ['pipelines:', '  web:', '    steps:', '      - {type: pattern, preset: nginx_access}', '      - {type: drop, if: \'url.original == "/healthz"\'}'].join('\n');

describe('logship pipeline test', () => {
  it('prints one document per line (null for a dropped one), a summary, and exits 1 when a line failed a step', async () => {
    const r = await run(
      CONFIG,
      'web',
      ['1.2.3.4 - - [01/Dec/2026:18:14:55 +0000] "GET /a HTTP/1.1" 200 3 "-" "x"', '1.2.3.4 - - [01/Dec/2026:18:14:55 +0000] "GET /healthz HTTP/1.1" 200 3 "-" "x"', 'garbage'].join('\n') + '\n',
    );
    expect(r.code).toBe(1);
    expect(r.docs.length).toBe(3);
    expect(r.docs[0]).toMatchObject({ url: { original: '/a' }, '@timestamp': '2026-12-01T18:14:55.000Z', log: { offset: 0 } });
    expect(r.docs[1]).toBeNull();
    expect(r.docs[2]).toMatchObject({ message: 'garbage', tags: ['_parse_failure'], '@timestamp': '2026-12-02T00:00:00.000Z' });
    expect(r.err).toBe('pipeline web: 3 lines, 1 parsed, 1 with a failed step (0-pattern: 1), 1 dropped\n');
    const ok = await run(CONFIG, 'web', '1.2.3.4 - - [01/Dec/2026:18:14:55 +0000] "GET /a HTTP/1.1" 200 3 "-" "x"\n');
    expect(ok.code).toBe(0);
  });

  it('an unknown pipeline is a usage error naming the ones there are; a bad config is a ConfigError', async () => {
    await expect(run(CONFIG, 'nope', '')).rejects.toThrow(UsageError);
    await expect(run(CONFIG, 'nope', '')).rejects.toThrow(/has no pipeline "nope"; it has: web/);
    await expect(run('pipelines:\n  web:\n    steps: [{type: pattern, pattern: "%{NOPE}"}]\n', 'web', '')).rejects.toThrow(ConfigError);
  });
});
