/**
 * Issue 13, acceptance: Debian's real rsyslog (omelasticsearch from the
 * rsyslog-elasticsearch package, bulkmode="on") ships 100,000 lines into the
 * aggregator's /_bulk, and every line reads back from the topic exactly once.
 *
 * The rsyslogd is private: its own config, pid file and work dir, input from a
 * temp file through imfile, no system socket. It authenticates with uid/pwd
 * (Basic, the token as password) and uses omelasticsearch's own default
 * template, so what is checked is what rsyslog really sends; a TCP proxy in
 * between keeps the first bytes of each connection so the test can also
 * assert the request line, headers and action line rsyslog used.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../helpers/procs.js';
import { countTopic, duplicates, readTopic, startEsAggregator, type EsAggregator } from '../helpers/es-ingest.js';
import { requestHeads, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const LINES = 100_000;
const TOPIC = 'rsyslog-bulk';
const MODULE = '/usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so';

function rsyslogd(): string {
  const r = spawnSync('sh', ['-c', 'command -v rsyslogd || ls /usr/sbin/rsyslogd'], { encoding: 'utf8' });
  const path = r.stdout.trim().split('\n')[0];
  if (!path || !existsSync(MODULE)) throw new Error(`rsyslogd with omelasticsearch is missing: run deploy/test-deps.sh (installs rsyslog-elasticsearch); looked for ${MODULE}`);
  return path;
}

describe('rsyslog omelasticsearch (bulkmode on) into /_bulk', () => {
  let agg: EsAggregator;
  let proxy: TcpProxy;
  let rs: ChildProcess | undefined;
  let rsOut = '';
  let work: string;

  beforeAll(async () => {
    const bin = rsyslogd();
    agg = await startEsAggregator({}, 'logship-es-rsyslog-');
    proxy = await startTcpProxy(agg.port);
    work = join(agg.dir, 'rsyslog');
    await mkdir(join(work, 'spool'), { recursive: true });
    const input = join(work, 'in.log');
    const lines: string[] = [];
    for (let i = 0; i < LINES; i++) lines.push(`rsyslog line ${String(i).padStart(6, '0')} "quoted" \\ back`);
    await writeFile(input, lines.join('\n') + '\n');
    const conf = join(work, 'rsyslog.conf');
    await writeFile(
      conf,
      [
        `global(workDirectory="${join(work, 'spool')}" processInternalMessages="on")`,
        `module(load="imfile")`,
        `module(load="omelasticsearch")`,
        // Internal messages (errors of the action) land in a file the test prints on failure.
        `*.* action(type="omfile" file="${join(work, 'internal.log')}")`,
        `input(type="imfile" file="${input}" tag="logship-test" ruleset="toes")`,
        `ruleset(name="toes" queue.type="LinkedList" queue.size="300000" queue.dequeueBatchSize="1000") {`,
        `  action(type="omelasticsearch" server="127.0.0.1" serverport="${proxy.port}" searchIndex="${TOPIC}"`,
        `         bulkmode="on" uid="logship" pwd="${agg.token}" errorfile="${join(work, 'es-errors.json')}"`,
        `         action.resumeRetryCount="-1" action.resumeInterval="1")`,
        `}`,
        '',
      ].join('\n'),
    );
    rs = spawn(bin, ['-n', '-f', conf, '-i', join(work, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    rs.stdout!.on('data', (d: Buffer) => (rsOut = (rsOut + d.toString()).slice(-20_000)));
    rs.stderr!.on('data', (d: Buffer) => (rsOut = (rsOut + d.toString()).slice(-20_000)));
  }, 120_000);

  afterAll(async () => {
    if (rs && rs.exitCode === null && rs.signalCode === null) {
      const gone = new Promise((r) => rs!.once('exit', r));
      rs.kill('SIGKILL');
      await gone;
    }
    await proxy?.close();
    await agg?.cleanup();
  });

  async function detail(): Promise<string> {
    const read = async (f: string) => (await readFile(join(work, f), 'utf8').catch(() => '')).slice(-3000);
    return `rsyslogd output:\n${rsOut}\ninternal.log:\n${await read('internal.log')}\nes-errors.json:\n${await read('es-errors.json')}\naggregator:\n${agg.proc.output().slice(-3000)}`;
  }

  it('stores all 100,000 lines, each exactly once, as the documents rsyslog sent', { timeout: 300_000 }, async () => {
    let last = -1;
    let same = 0;
    let note = '';
    await waitFor(
      () => `${LINES} records in ${TOPIC} (last count ${last})\n${note}`,
      async () => {
        const n = await countTopic(agg.url, TOPIC);
        same = n === last ? same + 1 : 0;
        last = n;
        if (rs!.exitCode !== null) note = await detail();
        // Past the target and quiet for a few polls: a duplicate sent late would have shown.
        return n >= LINES && same >= 4;
      },
      240_000,
      500,
    ).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await detail()}`);
    });
    const records = await readTopic(agg.url, TOPIC);
    expect(records.length, await detail()).toBe(LINES);
    const docs = records.map((r) => JSON.parse(r.message) as Record<string, unknown>);
    // omelasticsearch's default template: message, fromhost, facility, priority, timereported, timegenerated.
    expect(Object.keys(docs[0]!).sort()).toEqual(['facility', 'fromhost', 'message', 'priority', 'timegenerated', 'timereported']);
    const seqs = docs.map((d) => Number(/^rsyslog line (\d{6}) /.exec(String(d.message))?.[1]));
    expect(seqs.filter((s) => !Number.isInteger(s))).toEqual([]);
    expect(duplicates(seqs)).toEqual([]);
    expect(new Set(seqs).size).toBe(LINES);
    // The JSON escaping rsyslog applied came back as the original text.
    expect(docs.find((d) => d.message === `rsyslog line 000007 "quoted" \\ back`)).toBeDefined();
    // No @timestamp and no host.name in this template: the host is the client address.
    expect(new Set(records.map((r) => r.host))).toEqual(new Set(['127.0.0.1']));
    expect(await readFile(join(work, 'es-errors.json'), 'utf8').catch(() => '')).toBe('');
  });

  it('rsyslog really sent POST /_bulk with its content type, Basic auth and "_type":"events" action lines', async () => {
    const first = proxy.captured().find((c) => c.length > 0);
    expect(first, 'rsyslog never connected').toBeDefined();
    const heads = requestHeads(first!);
    const bulk = heads.find((h) => h.line.startsWith('POST '));
    expect(bulk, first!.subarray(0, 600).toString('latin1')).toBeDefined();
    expect(bulk!.line).toBe('POST /_bulk');
    expect(bulk!.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(bulk!.headers.authorization).toBe(`Basic ${Buffer.from(`logship:${agg.token}`).toString('base64')}`);
    const body = first!.subarray(bulk!.bodyStart).toString('utf8');
    const [action, doc] = body.split('\n');
    // omelasticsearch 8.2302 writes its action line by hand, space after the first colon, and sends _type.
    expect(action).toBe(`{"index":{"_index": "${TOPIC}","_type":"events"}}`);
    expect(JSON.parse(doc!).message).toBe('rsyslog line 000000 "quoted" \\ back');
  });
});
