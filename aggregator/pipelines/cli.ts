/**
 * `logship pipeline test --config FILE --pipeline NAME [--format json|pretty] < sample.log`:
 * what each line of a sample becomes, the habit of testing a grok pattern
 * against a sample before shipping it. One output line per input line: the
 * document as JSON (null for a line a drop or sample step leaves out). A
 * summary goes to stderr. Exit 0 when every line parsed without a failed
 * step, 1 when some line failed one, 2 for a bad config or pipeline name.
 */

import { createInterface } from 'node:readline';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import { UsageError } from '../../lib/errors.js';
import { readConfigFile } from '../../lib/config/load.js';
import { parseAggregatorConfig, type AggregatorConfig } from '../config.js';
import { Pipeline } from './pipeline.js';

export interface PipelineTestOptions {
  config: string;
  pipeline: string;
  input: Readable;
  write: (s: string) => void;
  writeErr: (s: string) => void;
  format: 'json' | 'pretty';
  /** read time given to each line (default now): decides the year of year-less syslog times */
  now?: Date;
  /** parses a `logship start` config's aggregator section */
  parseStart?: (text: string, file: string) => AggregatorConfig;
}

/** Longer input lines are cut here, as an agent with max_line_bytes 1MiB would. */
const MAX_LINE = 1024 * 1024;

export async function pipelineTestCommand(o: PipelineTestOptions): Promise<number> {
  const text = await readConfigFile(o.config);
  const isStart = /^aggregator:/m.test(text) && /^agent:/m.test(text);
  const cfg = isStart && o.parseStart ? o.parseStart(text, o.config) : parseAggregatorConfig(text, o.config);
  const names = Object.keys(cfg.pipelines ?? {});
  const config = Object.hasOwn(cfg.pipelines ?? {}, o.pipeline) ? cfg.pipelines[o.pipeline] : undefined;
  if (!config) throw new UsageError(`${o.config} has no pipeline "${o.pipeline}"; it has: ${names.length ? names.join(', ') : '(none)'}`);
  const pipeline = new Pipeline(o.pipeline, config);
  const host = hostname();
  const timestamp = (o.now ?? new Date()).toISOString();
  let lines = 0;
  let dropped = 0;
  let failedLines = 0;
  let offset = 0;
  const rl = createInterface({ input: o.input, crlfDelay: Infinity });
  for await (const raw of rl) {
    const message = raw.length > MAX_LINE ? raw.slice(0, MAX_LINE) : raw;
    const r = pipeline.run({ offset: lines, timestamp, host, source: 'stdin', source_offset: offset, message });
    offset += Buffer.byteLength(raw) + 1;
    lines++;
    if (r.dropped) dropped++;
    if (r.failed.length > 0) failedLines++;
    const doc = r.dropped ? null : r.doc;
    o.write((o.format === 'pretty' ? JSON.stringify(doc, null, 2) : JSON.stringify(doc)) + '\n');
  }
  const perStep = [...pipeline.failures].map(([step, n]) => `${step}: ${n}`).join(', ');
  o.writeErr(`pipeline ${o.pipeline}: ${lines} line${lines === 1 ? '' : 's'}, ${lines - failedLines - dropped} parsed, ${failedLines} with a failed step${perStep ? ` (${perStep})` : ''}, ${dropped} dropped\n`);
  return failedLines > 0 ? 1 : 0;
}
