/**
 * Debian's nginx as a private instance for tests: its own prefix under `dir` (conf, pid, temp
 * paths, logs/), daemon off and master_process off (one process as the current user), on the
 * 127.0.0.1 ports the caller's `http` block listens on. Installed by deploy/test-deps.sh
 * (deploy/test-deps.d/nginx.sh). Stop it with stop(), and kill what is left in an afterAll with
 * killNginx().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from './procs.js';

export const NGINX = '/usr/sbin/nginx';

const running = new Set<ChildProcess>();

export interface Nginx {
  child: ChildProcess;
  /** where access and error logs go: `<dir>/logs` */
  logs: string;
  stop(): void;
}

/**
 * Writes the conf (the caller's `http` directives inside `http { }`, after the temp paths) and
 * starts nginx; resolves once `readyUrl` answers 2xx.
 */
export async function startNginx(dir: string, o: { http: string; readyUrl: string | string[]; errorLevel?: string }): Promise<Nginx> {
  const probe = spawnSync(NGINX, ['-v']);
  if (probe.error) throw new Error(`nginx not found at ${NGINX}: run deploy/test-deps.sh (installs nginx-light)`);
  const logs = join(dir, 'logs');
  const tmp = join(dir, 'tmp');
  await mkdir(logs, { recursive: true });
  await mkdir(tmp, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `daemon off;
master_process off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(logs, 'error.log')} ${o.errorLevel ?? 'warn'};
events { worker_connections 512; }
http {
  client_body_temp_path ${tmp};
  proxy_temp_path ${tmp};
  fastcgi_temp_path ${tmp};
  uwsgi_temp_path ${tmp};
  scgi_temp_path ${tmp};
${o.http}
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-c', conf, '-e', join(logs, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const urls = Array.isArray(o.readyUrl) ? o.readyUrl : [o.readyUrl];
  await waitFor(
    () => `nginx (${urls.join(', ')}): ${out}`,
    async () => {
      for (const u of urls) if (!(await fetch(u).catch(() => undefined))?.ok) return false;
      return true;
    },
    30_000,
  );
  const stop = () => {
    if (child.pid && child.exitCode === null) child.kill('SIGKILL');
  };
  return { child, logs, stop };
}

/** Kills every nginx this module started that is still running (for afterAll). */
export function killNginx(): void {
  for (const c of running) if (c.pid && c.exitCode === null) c.kill('SIGKILL');
}
