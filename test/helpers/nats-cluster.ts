/**
 * A real NATS JetStream cluster for tests: `nats-server -js` nodes (Debian's 2.9)
 * on free loopback ports, each with its own temp store dir, clustered by routes,
 * a monitoring port per node (readiness is read from /healthz and /jsz), and
 * kill -9 / restart of one node by PID with the same ports and store.
 *
 * Ready means: every running node answers /healthz and sees the same JetStream
 * meta leader (the meta group has quorum, so streams can be created). Every wait
 * is bounded. A missing binary fails with what to install; it never skips.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnLogship, waitFor, writeYaml, type Proc } from './procs.js';
import type { JetStreamStorageConfig } from '../../aggregator/storage/jetstream/config.js';

const BINARY = process.env.NATS_SERVER_BIN ?? 'nats-server';

export interface NatsNode {
  name: string;
  port: number;
  clusterPort: number;
  monitorPort: number;
  storeDir: string;
  /** nats://127.0.0.1:port */
  url: string;
  /** undefined while the node is down */
  pid: number | undefined;
  output: () => string;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** Client URLs of every node (what `storage.servers` takes). */
  urls: string[];
  dir: string;
  /** SIGKILL one node (by PID) and wait for it to exit. */
  kill(i: number): Promise<void>;
  /** Starts a killed node again with its ports and store dir. */
  restart(i: number): Promise<void>;
  /** Bounded wait until every running node agrees on a JetStream meta leader. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Kills every node (by PID) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Node count; default 3. 1 starts a single JetStream server (no cluster block). */
  size?: number;
  /** Client auth token every node requires. */
  token?: string;
  /** TLS for clients (PEM files); with ca_file the nodes require and verify client certificates. */
  tls?: { cert_file: string; key_file: string; ca_file?: string };
  /** Bound on the initial readiness wait; default 30 s. */
  readyTimeoutMs?: number;
}

/** Checks the binary is there and is 2.x; throws with what to install otherwise. */
export function natsServerVersion(): string {
  const r = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${BINARY} not found or not runnable (${r.error?.message ?? r.stderr}): apt-get install nats-server (deploy/test-deps.sh lists it)`);
  const v = /v?(\d+\.\d+\.\d+)/.exec(r.stdout)?.[1];
  if (!v || !v.startsWith('2.')) throw new Error(`${BINARY}: expected version 2.x, got ${r.stdout.trim()}`);
  return v;
}

/** A node exited while the cluster was starting; `output` is what it printed. */
class NodeExited extends Error {
  constructor(message: string, readonly output: string) {
    super(message);
  }
}

/**
 * Starts a cluster; when a node exits during start because one of its ports was taken between
 * freePort() and its bind (another test's server), starts again on fresh ports, at most 3 times.
 * Any other failure is thrown at once with the nodes' output.
 */
export async function startNatsCluster(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (!(err instanceof NodeExited) || !/address already in use/i.test(err.output) || attempt >= 3) throw err;
      console.error(`[nats-cluster] attempt ${attempt}: a port was taken, starting again on fresh ports\n${err.message}`);
    }
  }
}

async function startOnce(opts: NatsClusterOptions): Promise<NatsCluster> {
  natsServerVersion();
  const size = opts.size ?? 3;
  const dir = await mkdtemp(join(tmpdir(), 'logship-nats-'));
  const nodes: NatsNode[] = [];
  for (let i = 0; i < size; i++) {
    nodes.push({
      name: `n${i + 1}`,
      port: await freePort(),
      clusterPort: await freePort(),
      monitorPort: await freePort(),
      storeDir: join(dir, `n${i + 1}`),
      url: '',
      pid: undefined,
      output: () => '',
    });
  }
  for (const n of nodes) n.url = `${opts.tls ? 'tls' : 'nats'}://127.0.0.1:${n.port}`;
  const children = new Map<number, ChildProcess>();
  const exits = new Map<number, Promise<void>>();

  async function launch(i: number): Promise<void> {
    const n = nodes[i]!;
    await mkdir(n.storeDir, { recursive: true });
    const routes = nodes.filter((_, j) => j !== i).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`);
    const conf = [
      `server_name: ${n.name}`,
      `listen: 127.0.0.1:${n.port}`,
      `http: 127.0.0.1:${n.monitorPort}`,
      `jetstream { store_dir: ${JSON.stringify(n.storeDir)}, max_memory_store: 64MB, max_file_store: 4GB }`,
      opts.token ? `authorization { token: ${JSON.stringify(opts.token)} }` : '',
      opts.tls
        ? `tls { cert_file: ${JSON.stringify(opts.tls.cert_file)}, key_file: ${JSON.stringify(opts.tls.key_file)}${opts.tls.ca_file ? `, ca_file: ${JSON.stringify(opts.tls.ca_file)}, verify: true` : ''} }`
        : '',
      size > 1 ? `cluster { name: logship-test, listen: 127.0.0.1:${n.clusterPort}, routes: [${routes.join(', ')}] }` : '',
    ].join('\n');
    const confPath = join(dir, `${n.name}.conf`);
    await writeFile(confPath, conf);
    const child = spawn(BINARY, ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer) => {
      out += d.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    n.output = () => out;
    n.pid = child.pid;
    children.set(i, child);
    exits.set(i, new Promise((r) => child.once('exit', () => r())));
  }

  async function healthy(n: NatsNode): Promise<string | undefined> {
    const h = await fetch(`http://127.0.0.1:${n.monitorPort}/healthz`, { signal: AbortSignal.timeout(2000) });
    if (!h.ok) return undefined;
    if (size === 1) return 'single';
    const j = (await (await fetch(`http://127.0.0.1:${n.monitorPort}/jsz`, { signal: AbortSignal.timeout(2000) })).json()) as { meta_cluster?: { leader?: string } };
    return j.meta_cluster?.leader || undefined;
  }

  async function waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const up = nodes.filter((n) => n.pid !== undefined);
      const dead = nodes.findIndex((n, i) => n.pid !== undefined && children.get(i)?.exitCode != null);
      if (dead >= 0) {
        const n = nodes[dead]!;
        throw new NodeExited(`nats-server ${n.name} (ports ${n.port}/${n.clusterPort}/${n.monitorPort}) exited with code ${children.get(dead)!.exitCode} before the cluster was ready:\n${n.output().slice(-2000)}`, n.output());
      }
      const leaders = await Promise.all(up.map((n) => healthy(n).catch((e: Error) => (last = e.message, undefined))));
      if (leaders.every((l) => l !== undefined) && new Set(leaders).size === 1) return;
      last = `leaders seen: ${JSON.stringify(leaders)} ${last}`;
      if (Date.now() > deadline) {
        throw new Error(`NATS cluster not ready after ${timeoutMs} ms (${last})\n${up.map((n) => `--- ${n.name}\n${n.output().slice(-2000)}`).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  let stopped = false;
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url),
    dir,
    async kill(i) {
      const c = children.get(i);
      if (!c || nodes[i]!.pid === undefined) return;
      // A node that already exited (it failed to start, or crashed) has nothing left to kill;
      // its PID may not be ours any more, so it is not signalled.
      if (c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid!, 'SIGKILL');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      }
      await Promise.race([exits.get(i), new Promise((r) => setTimeout(r, 10_000))]);
      nodes[i]!.pid = undefined;
      children.delete(i);
    },
    async restart(i) {
      if (nodes[i]!.pid !== undefined) throw new Error(`node ${nodes[i]!.name} is running`);
      await launch(i);
    },
    waitReady,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (let i = 0; i < nodes.length; i++) await cluster.kill(i);
      await rm(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < size; i++) await launch(i);
  try {
    await waitReady(opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** A JetStream storage config for tests (replicas 3, the option table's defaults otherwise). */
export function jsConfig(servers: string[], prefix: string, extra: Partial<JetStreamStorageConfig> = {}): JetStreamStorageConfig {
  return { type: 'jetstream', servers, replicas: 3, stream_prefix: prefix, duplicate_window: 120_000, request_timeout: 4000, ...extra };
}

export interface JsAggregator {
  url: string;
  port: number;
  config: string;
  proc: Proc;
}

/**
 * A `logship aggregator` process on JetStream storage (stream_prefix "itest" unless given), two
 * partitions and retention_bytes 64 MiB per topic (JetStream reserves retention_bytes per stream
 * and replica against each server's store); resolves once /readyz answers 200.
 */
export async function startJsAggregator(dir: string, name: string, servers: string[], storage: Record<string, unknown> = {}, port?: number): Promise<JsAggregator> {
  port ??= await freePort();
  const config = await writeYaml(join(dir, `${name}.yaml`), {
    listen: `127.0.0.1:${port}`,
    data_dir: join(dir, name),
    topics: { default: { partitions: 2, retention_bytes: '64MiB' } },
    storage: { type: 'jetstream', servers, replicas: 3, stream_prefix: 'itest', ...storage },
  });
  const proc = spawnLogship(['aggregator', '--config', config]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => `${name} ready\n${proc.output()}`, async () => (await fetch(`${url}/readyz`)).ok, 60_000);
  return { url, port, config, proc };
}

/** Starts the aggregator of `a` again (same config and port). */
export async function restartJsAggregator(a: JsAggregator): Promise<JsAggregator> {
  const proc = spawnLogship(['aggregator', '--config', a.config]);
  await waitFor(() => `aggregator ready again\n${proc.output()}`, async () => (await fetch(`${a.url}/readyz`)).ok, 60_000);
  return { ...a, proc };
}
