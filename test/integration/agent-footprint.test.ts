/**
 * Issue 17: what the agent keeps resident. A real agent (real aggregator, files delivered, its
 * status listener asked for /healthz, /status and /metrics, its logger used) must not have loaded
 * node:crypto, nor made V8 load ICU's time-zone data (any Date#toISOString / toUTCString does,
 * e.g. pino's isoTime and node:http's Date header) or its collation data (localeCompare): each of
 * them keeps 0.6-3 MiB of node's pages resident for good (docs/agent-footprint.md). Nor, after
 * the first lines of 1,100 quiet files, V8's optimizing compiler (~2.9 MiB): the newline counter's
 * WebAssembly is not called for small cuts (agent/inputs/file/reader.ts). The probe
 * (test/helpers/footprint-probe.mjs) measures the last three by making the first such calls itself.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { killAll, makeStack, spawnLogship, stop, tempDir, topicCount, waitFor } from '../helpers/procs.js';
import { AGENT_NODE_ENV, AGENT_NODE_FLAGS } from '../../agent/heap-flags.js';

const PROBE = new URL('../helpers/footprint-probe.mjs', import.meta.url).href;

afterAll(killAll);

describe('agent footprint (issue 17)', () => {
  it('after delivering from 1,100 files and answering /healthz, /status and /metrics: no node:crypto, no ICU time-zone or collation data, no optimizing compiler', { timeout: 120_000 }, async () => {
    const t = await tempDir();
    try {
      const logs = join(t.dir, 'logs');
      await mkdir(logs);
      const FILES = 1_100;
      for (let i = 0; i < FILES; i++) await writeFile(join(logs, `app-${String(i).padStart(4, '0')}.log`), `line one of ${i}\nline two of ${i}\n`);
      const s = await makeStack(t.dir, [{ type: 'file', topic: 'fp', include: [join(logs, '*.log')], start_at: 'beginning' }]);
      const agg = await s.startAggregator();
      const probeDir = join(t.dir, 'probe');
      await mkdir(probeDir);
      // Started as shipped (the systemd unit's node flags and environment), with the probe preloaded.
      const agent = spawnLogship(['agent', '--config', s.agentConfig], { ...AGENT_NODE_ENV, LOGSHIP_PROBE_DIR: probeDir }, [...AGENT_NODE_FLAGS, `--import=${PROBE}`]);
      const base = `http://127.0.0.1:${s.statusPort}`;
      await waitFor(() => `agent status listener\n${agent.output()}`, async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok, 30_000);
      await waitFor(() => `${2 * FILES} lines delivered\n${agent.output()}`, async () => (await topicCount(s.aggUrl, 'fp')) >= 2 * FILES, 60_000, 250);
      const status = (await (await fetch(`${base}/status`)).json()) as { files: Array<{ path: string }>; aggregator: { last_success: string | null } };
      // Every file was read (the line count above); /status lists those held open (max_open_files, 1,024), in path order.
      const listed = status.files.map((f) => f.path);
      expect(listed.length).toBe(1_024);
      expect(listed).toEqual([...listed].sort());
      expect(status.aggregator.last_success).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const health = await fetch(`${base}/healthz`);
      expect(Math.abs(Date.parse(health.headers.get('date')!) - Date.now())).toBeLessThan(5_000);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('logship_agent_');
      // The agent has logged (start-up lines, on stdout as JSON with pino's "time" field).
      const firstLog = JSON.parse(agent.output().split('\n').find((l) => l.startsWith('{'))!) as { time: string };
      expect(firstLog.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

      await writeFile(join(probeDir, 'go'), '');
      await waitFor('the probe result', () => existsSync(join(probeDir, 'result.json')), 10_000);
      const r = JSON.parse(await readFile(join(probeDir, 'result.json'), 'utf8')) as { crypto: string[]; timeZoneKiB: number; collationKiB: number; optimizingCompilerKiB: number };
      expect(r.crypto, 'node:crypto loaded').toEqual([]);
      // ~950 KiB when the probe's call is the first (node 20.20, this machine); ~64 when something came before.
      expect(r.timeZoneKiB, 'resident KiB the first Date#toISOString added').toBeGreaterThan(400);
      expect(r.collationKiB, 'resident KiB the first localeCompare added').toBeGreaterThan(1000);
      // ~2,900 KiB when nothing had tiered up yet; ~64 when the agent's own calls had.
      expect(r.optimizingCompilerKiB, 'resident KiB 3,000 calls into a WebAssembly function added').toBeGreaterThan(1000);

      expect(await stop(agent)).toBe(0);
      await stop(agg);
    } finally {
      await t.cleanup();
    }
  });
});
