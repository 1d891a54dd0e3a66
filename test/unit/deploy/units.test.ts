/**
 * The systemd units pass `systemd-analyze verify` (with ExecStart pointed at
 * a stand-in executable, since /usr/bin/logship exists only once installed)
 * and declare the notify protocol the programs speak (test/e2e/systemd-notify).
 */
import { spawnSync } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/procs.js';

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));
const UNITS = ['logship-agent.service', 'logship-aggregator.service'];

describe('deploy/*.service', () => {
  it('systemd-analyze verify passes on both units', async () => {
    const t = await tempDir();
    try {
      const stub = join(t.dir, 'logship');
      await writeFile(stub, '#!/bin/sh\nexit 0\n');
      await chmod(stub, 0o755);
      for (const u of UNITS) await writeFile(join(t.dir, u), (await readFile(join(DEPLOY, u), 'utf8')).replaceAll('/usr/bin/logship', stub));
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...UNITS.map((u) => `./${u}`)], { cwd: t.dir, encoding: 'utf8', timeout: 60_000 });
      if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('systemd-analyze not found: install systemd (apt-get install -y systemd)');
      expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
      expect(r.status).toBe(0);
    } finally {
      await t.cleanup();
    }
  });

  it('both units use Type=notify with the main process notifying, a watchdog and reload by SIGHUP', async () => {
    for (const u of UNITS) {
      const text = await readFile(join(DEPLOY, u), 'utf8');
      expect(text, u).toMatch(/^Type=notify$/m);
      expect(text, u).toMatch(/^NotifyAccess=main$/m);
      expect(text, u).toMatch(/^WatchdogSec=\d+s$/m);
      expect(text, u).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
      expect(text, u).toMatch(/^RestrictAddressFamilies=.*AF_UNIX/m);
    }
  });
});
