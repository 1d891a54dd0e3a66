/** TLS with client certificates between agent and aggregator, on 127.0.0.1, with a CA made by the test (openssl). */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent as UndiciAgent, request } from 'undici';
import { freePort, killAll, spawnLogship, stop, tempDir, waitFor, writeYaml } from '../helpers/procs.js';

afterAll(killAll);

function makePki(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=logship test CA');
  for (const name of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    const ext = name === 'server' ? 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n';
    execFileSync('sh', ['-c', `printf '${ext}' > ${name}.ext`], { cwd: dir });
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
}

describe('TLS', () => {
  it('agent -> aggregator over https with a client certificate; clients without one are refused', { timeout: 90_000 }, async () => {
    const t = await tempDir();
    try {
      const pki = join(t.dir, 'pki');
      await mkdir(pki);
      makePki(pki);
      const logs = join(t.dir, 'logs');
      await mkdir(logs);
      await writeFile(join(t.dir, 'token'), 'tls-test-token-0123456789\n');
      const port = await freePort();
      const statusPort = await freePort();
      const aggConfig = await writeYaml(join(t.dir, 'aggregator.yaml'), {
        listen: `127.0.0.1:${port}`,
        data_dir: join(t.dir, 'agg'),
        tls: { cert_file: join(pki, 'server.pem'), key_file: join(pki, 'server.key'), client_ca_file: join(pki, 'ca.pem') },
        auth: { tokens: [{ name: 'fleet', token_file: join(t.dir, 'token') }] },
      });
      const agentConfig = await writeYaml(join(t.dir, 'agent.yaml'), {
        id: 'tls-host',
        data_dir: join(t.dir, 'agent'),
        aggregator: {
          urls: [`https://127.0.0.1:${port}`],
          token_file: join(t.dir, 'token'),
          tls: { ca_file: join(pki, 'ca.pem'), cert_file: join(pki, 'client.pem'), key_file: join(pki, 'client.key') },
        },
        inputs: [{ type: 'file', topic: 'secure', include: [join(logs, '*.log')], start_at: 'beginning' }],
        batch: { max_wait: '100ms' },
        status: { listen: `127.0.0.1:${statusPort}` },
      });
      const withCert = new UndiciAgent({
        connect: { ca: await readFile(join(pki, 'ca.pem')), cert: await readFile(join(pki, 'client.pem')), key: await readFile(join(pki, 'client.key')) },
      });
      const url = `https://127.0.0.1:${port}`;
      const agg = spawnLogship(['aggregator', '--config', aggConfig]);
      await waitFor(() => `aggregator ready\n${agg.output()}`, async () => (await request(`${url}/readyz`, { dispatcher: withCert })).statusCode === 200, 30_000);
      const agent = spawnLogship(['agent', '--config', agentConfig]);
      let s = '';
      for (let i = 0; i < 1000; i++) s += `secret line ${i}\n`;
      await appendFile(join(logs, 'a.log'), s);
      const count = async () => {
        const r = await request(`${url}/v1/topics`, { dispatcher: withCert, headers: { authorization: 'Bearer tls-test-token-0123456789' } });
        const body = (await r.body.json()) as { topics: Array<{ name: string; partitions: Array<{ next_offset: number; first_offset: number }> }> };
        return body.topics.find((x) => x.name === 'secure')?.partitions.reduce((a, p) => a + p.next_offset - p.first_offset, 0) ?? 0;
      };
      await waitFor(() => `1000 lines over TLS\n${agent.output().slice(-2000)}`, async () => (await count()) === 1000, 30_000);

      // No client certificate: the handshake is refused.
      const noCert = new UndiciAgent({ connect: { ca: await readFile(join(pki, 'ca.pem')) } });
      await expect(request(`${url}/readyz`, { dispatcher: noCert }).then((r) => r.body.text())).rejects.toThrow();
      // Certificate but no token: 401.
      const r = await request(`${url}/v1/topics`, { dispatcher: withCert });
      expect(r.statusCode).toBe(401);
      await r.body.text();
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
      await withCert.close();
      await noCert.close();
    } finally {
      await t.cleanup();
    }
  });
});
