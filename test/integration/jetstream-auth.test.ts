/**
 * JetStream credentials (issue 15): a nats-server that requires a token. The
 * aggregator with the token stores and reads; with a wrong token it refuses
 * to start, says which servers it tried, and never prints either token.
 * And TLS: a nats-server that requires client certificates (a CA made here
 * with openssl): the aggregator with `tls` stores; without a client
 * certificate it refuses to start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchesBody, freePort, killAll, plainBatch, postBatches, spawnLogship, tempDir, topicCount, waitFor, writeYaml } from '../helpers/procs.js';
import { startJsAggregator, startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';

const TOKEN = 's3cret-nats-token-0123456789';

describe('JetStream storage: credentials', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let server: NatsCluster;

  beforeAll(async () => {
    tmp = await tempDir('logship-js-auth-');
    server = await startNatsCluster({ size: 1, token: TOKEN });
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('the right token stores; a wrong one refuses to start without printing a token', async () => {
    const agg = await startJsAggregator(tmp.dir, 'agg-ok', server.urls, { replicas: 1, token: TOKEN });
    const r = await postBatches(agg.url, batchesBody({ producer: 'auth/1', epoch: 1, host: 'h', batches: [plainBatch({ topic: 'auth', source: '/a.log', seq: 0, lines: ['one', 'two'] })] }));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(await topicCount(agg.url, 'auth')).toBe(2);
    expect(agg.proc.output()).not.toContain(TOKEN);

    const wrong = 'wrong-token-9876543210-abcdef';
    const port = await freePort();
    const config = await writeYaml(join(tmp.dir, 'agg-bad.yaml'), {
      listen: `127.0.0.1:${port}`,
      data_dir: join(tmp.dir, 'agg-bad'),
      storage: { type: 'jetstream', servers: server.urls, replicas: 1, stream_prefix: 'itest', token: wrong },
    });
    const bad = spawnLogship(['aggregator', '--config', config]);
    const code = await Promise.race([bad.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 60_000))]);
    expect(code, bad.output()).not.toBe(0);
    expect(code).not.toBe('still running');
    await waitFor('the reason in the output', () => bad.output().includes('cannot connect to') && bad.output().includes(server.urls[0]!), 5000);
    expect(bad.output()).not.toContain(wrong);
    expect(bad.output()).not.toContain(TOKEN);
  });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in dir. */
async function makePki(dir: string): Promise<void> {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=logship nats test CA');
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    await writeFile(join(dir, `${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
}

describe('JetStream storage: TLS', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let server: NatsCluster;

  beforeAll(async () => {
    tmp = await tempDir('logship-js-tls-');
    await makePki(tmp.dir);
    const f = (n: string) => join(tmp.dir, n);
    server = await startNatsCluster({ size: 1, tls: { cert_file: f('server.pem'), key_file: f('server.key'), ca_file: f('ca.pem') } });
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('with the CA and a client certificate it stores; without a client certificate it refuses to start', async () => {
    const f = (n: string) => join(tmp.dir, n);
    expect(server.urls[0]).toMatch(/^tls:\/\//);
    const agg = await startJsAggregator(tmp.dir, 'agg-tls', server.urls, { replicas: 1, tls: { ca_file: f('ca.pem'), cert_file: f('client.pem'), key_file: f('client.key') } });
    const r = await postBatches(agg.url, batchesBody({ producer: 'tls/1', epoch: 1, host: 'h', batches: [plainBatch({ topic: 'tls', source: '/t.log', seq: 0, lines: ['secure'] })] }));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(await topicCount(agg.url, 'tls')).toBe(1);

    const port = await freePort();
    const config = await writeYaml(join(tmp.dir, 'agg-nocert.yaml'), {
      listen: `127.0.0.1:${port}`,
      data_dir: join(tmp.dir, 'agg-nocert'),
      storage: { type: 'jetstream', servers: server.urls, replicas: 1, stream_prefix: 'itest', tls: { ca_file: f('ca.pem') } },
    });
    const bad = spawnLogship(['aggregator', '--config', config]);
    const code = await Promise.race([bad.exited, new Promise<string>((res) => setTimeout(() => res('still running'), 60_000))]);
    expect(code, bad.output()).not.toBe(0);
    expect(code).not.toBe('still running');
    expect(bad.output()).toContain('cannot connect to');
  });
});
