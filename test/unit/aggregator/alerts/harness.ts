/**
 * Shared by the in-process alert engine tests (engine.test.ts, parsed.test.ts):
 * a small HTTP receiver standing in for Alertmanager / a webhook / PagerDuty
 * that keeps every body it gets, and plain log lines appended straight to a
 * topic's storage with a chosen record time.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Aggregator } from '../../../../aggregator/index.js';
import { Registry } from 'prom-client';
import { AlertEngine, type AlertEngineOptions } from '../../../../aggregator/alerts/engine.js';
import type { AlertRule } from '../../../../aggregator/alerts/config.js';
import { silentLogger } from '../../../../lib/obs/logger.js';

export interface Received {
  path: string;
  body: any;
  at: number;
}

/** Starts a receiver on 127.0.0.1; its close is pushed onto `cleanups`. */
export async function receiver(cleanups: Array<() => Promise<void>>): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ path: req.url ?? '', body: JSON.parse(body || 'null'), at: Date.now() });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, server };
}

/** Appends `lines` as one plain batch of `host` (source `source`) to partition 0 of `topic`. */
export async function appendLines(agg: Aggregator, topic: string, host: string, lines: string[], timestamp = Date.now(), source = '/var/log/app.log'): Promise<void> {
  await agg.storage.withTopic(topic, true, async (t) => {
    const payload = Buffer.from(lines.map((l) => `${l}\n`).join(''));
    await t!.partitions[0]!.appendPlain([{ meta: { flags: 0, codec: 0, host, source, sourceOffset: 0, rawLength: payload.length }, payload, lines: lines.length, timestamp }]);
  });
}

/**
 * An engine fed by hand (apply()) with no sinks and no storage behind it: transport and group
 * calls throw, so a test sees at once if the engine reaches for them.
 */
export function offlineEngine(rules: AlertRule[], dataDir: string, extra: Partial<AlertEngineOptions> = {}): AlertEngine {
  const unused = async () => {
    throw new Error('not used');
  };
  return new AlertEngine({
    rules,
    sinks: [],
    createNotifier: () => {
      throw new Error('no sinks');
    },
    transport: { partitions: unused, committed: unused, commit: unused, fetch: unused },
    storage: { names: () => [] },
    groups: { commit: async () => {} } as never,
    dataDir,
    logger: silentLogger(),
    registry: new Registry(),
    baseUrl: () => 'http://127.0.0.1:9400',
    ...extra,
  });
}
