/**
 * npm run package builds a .deb that lintian finds no errors in; dpkg -i
 * installs it on this machine (root: CI runs as root), after which
 * `logship --version` and `logship check --config /etc/logship/agent.yaml`
 * work from /usr/bin and the installed units pass systemd-analyze verify;
 * dpkg -r keeps the configs and data, dpkg -P deletes them and the user.
 * This test changes the machine (it installs and purges the package logship):
 * it refuses to run where a logship package is already installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/procs.js';

function sh(cmd: string, args: string[], timeout = 300_000): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, cwd: ROOT });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${cmd} not found: install the test dependencies (deploy/test-deps.sh)`);
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

const installed = () => spawnSync('dpkg-query', ['-W', '-f=${Status}', 'logship'], { encoding: 'utf8' }).stdout.includes('install ok installed');

describe('Debian package', () => {
  it('builds, passes lintian without errors, installs, works from /usr/bin, removes and purges as promised', { timeout: 900_000 }, async () => {
    if (process.getuid?.() !== 0) throw new Error('this test installs a .deb: run it as root (CI does)');
    if (installed()) throw new Error('a logship package is already installed on this machine; this test installs and purges its own: remove it first (dpkg -P logship)');
    const t = await tempDir();
    try {
      const build = sh('node', ['deploy/deb/build.mjs', '--no-compile', '--out', t.dir]);
      expect(build.status, build.out.slice(-3000)).toBe(0);
      const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
      const debs = readdirSync(t.dir).filter((f) => f.endsWith('.deb'));
      expect(debs).toHaveLength(1);
      expect(debs[0]).toMatch(new RegExp(`^logship_${version.replaceAll('.', '\\.')}_[a-z0-9]+\\.deb$`));
      const deb = join(t.dir, debs[0]!);

      const info = sh('dpkg-deb', ['--field', deb, 'Depends']);
      expect(info.out).toMatch(/nodejs \(>= 20\.19\)/);
      const lintian = sh('lintian', ['--tag-display-limit', '0', deb]);
      const errors = lintian.out.split('\n').filter((l) => l.startsWith('E:'));
      expect(errors, lintian.out.slice(-3000)).toEqual([]);

      try {
        const inst = sh('dpkg', ['-i', deb]);
        expect(inst.status, inst.out).toBe(0);
        expect(sh('/usr/bin/logship', ['--version']).out.trim()).toBe(version);
        const check = sh('/usr/bin/logship', ['check', '--config', '/etc/logship/agent.yaml']);
        expect(check.status, check.out).toBe(0);
        expect(check.out).toMatch(/agent\.yaml: ok/);
        const verify = sh('systemd-analyze', ['verify', '--man=no', '/lib/systemd/system/logship-agent.service', '/lib/systemd/system/logship-aggregator.service']);
        expect(verify.out.trim(), verify.out).toBe('');
        expect(verify.status).toBe(0);
        expect(execFileSync('getent', ['passwd', 'logship'], { encoding: 'utf8' })).toMatch(/^logship:/);
        expect(existsSync('/var/lib/logship/agent')).toBe(true);

        // The agent runs from the package as a user would run it (not as a service here).
        const dataDir = join(t.dir, 'agent-data');
        await mkdir(dataDir);
        const cfg = join(t.dir, 'agent.yaml');
        await writeFile(cfg, `data_dir: ${dataDir}\naggregator: {urls: ["http://127.0.0.1:9"]}\ninputs: [{type: file, topic: app, include: ["${t.dir}/*.log"]}]\nstatus: {listen: off}\n`);
        const c2 = sh('/usr/bin/logship', ['check', '--config', cfg]);
        expect(c2.status, c2.out).toBe(0);

        // Remove: program and units gone, configs and data kept.
        await writeFile('/etc/logship/agent.yaml', readFileSync('/etc/logship/agent.yaml', 'utf8') + '# edited by the operator\n');
        const rm = sh('dpkg', ['-r', 'logship']);
        expect(rm.status, rm.out).toBe(0);
        expect(existsSync('/usr/bin/logship')).toBe(false);
        expect(existsSync('/lib/systemd/system/logship-agent.service')).toBe(false);
        expect(readFileSync('/etc/logship/agent.yaml', 'utf8')).toContain('# edited by the operator');
        expect(existsSync('/var/lib/logship')).toBe(true);

        // Purge: configs, data and the user gone.
        const purge = sh('dpkg', ['-P', 'logship']);
        expect(purge.status, purge.out).toBe(0);
        expect(existsSync('/etc/logship')).toBe(false);
        expect(existsSync('/var/lib/logship')).toBe(false);
        expect(spawnSync('getent', ['passwd', 'logship']).status).not.toBe(0);
      } finally {
        if (installed() || spawnSync('dpkg-query', ['-W', 'logship']).status === 0) sh('dpkg', ['-P', 'logship']);
      }
    } finally {
      await t.cleanup();
    }
  });
});
