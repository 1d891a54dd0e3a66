#!/usr/bin/env node
/**
 * npm run package: builds logship_<version>_<arch>.deb with dpkg-deb.
 *
 * Layout of the package:
 *   /usr/lib/logship/            compiled JS (dist/, without the tests), package.json,
 *                                production node_modules (native addons built or fetched
 *                                for this machine's architecture by npm ci)
 *   /usr/bin/logship             wrapper: exec node /usr/lib/logship/dist/bin/logship.js (agent: with
 *                                its node flags, agent/heap-flags.ts; deploy/deb/wrapper.mjs)
 *   /lib/systemd/system/         logship-agent.service, logship-aggregator.service
 *   /usr/lib/sysusers.d/, /usr/lib/tmpfiles.d/   the logship user and directories
 *   /etc/logship/                agent.yaml, aggregator.yaml (conffiles, from config/*.example.yaml)
 *   /usr/share/doc/logship/      copyright, changelog.Debian.gz, README.md
 * Maintainer scripts: deploy/deb/{postinst,prerm,postrm}. Remove keeps /etc/logship
 * and /var/lib/logship; purge deletes both and the user.
 *
 * Usage: node deploy/deb/build.mjs [--out DIR] [--no-compile]
 *   --out DIR      where the .deb goes (default: the repository root)
 *   --no-compile   use dist/ as it is (the tests: npm test has just built it)
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packagedUnit, wrapperScript } from './wrapper.mjs';
import { tmpdir } from 'node:os';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HERE = join(ROOT, 'deploy/deb');
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const outDir = outAt >= 0 && args[outAt + 1] ? resolve(args[outAt + 1]) : ROOT;
const compile = !args.includes('--no-compile');

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const version = pkg.version;
const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
const step = (what) => process.stderr.write(`package: ${what}\n`);
const run = (cmd, argv, opts = {}) => execFileSync(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });

const stage = join(tmpdir(), `logship-deb-${process.pid}`);
rmSync(stage, { recursive: true, force: true });
try {
  if (compile) {
    step('compiling (tsc)');
    run('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT });
  }

  const lib = join(stage, 'usr/lib/logship');
  mkdirSync(lib, { recursive: true });
  step('copying compiled JS (without tests)');
  for (const d of ['bin', 'agent', 'aggregator', 'lib']) cpSync(join(ROOT, 'dist', d), join(lib, 'dist', d), { recursive: true, filter: (p) => !p.endsWith('.map') });
  // bin/logship.js reads ../../package.json for --version
  const slim = { name: pkg.name, version, description: pkg.description, type: pkg.type, license: pkg.license, engines: pkg.engines, dependencies: pkg.dependencies, allowScripts: pkg.allowScripts };
  writeFileSync(join(lib, 'package.json'), JSON.stringify(slim, null, 2) + '\n');
  cpSync(join(ROOT, 'package-lock.json'), join(lib, 'package-lock.json'));
  cpSync(join(ROOT, 'config'), join(lib, 'config'), { recursive: true });
  // The checkout's node_modules (npm ci: native addons built for this machine) minus the dev
  // dependencies: no network, and the same bytes the tests ran against. Build on the target
  // architecture (or in a container of it).
  step('production dependencies (node_modules without dev dependencies)');
  if (!existsSync(join(ROOT, 'node_modules'))) throw new Error('no node_modules: run npm ci first');
  cpSync(join(ROOT, 'node_modules'), join(lib, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  run('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: lib });
  rmSync(join(lib, 'package-lock.json'));
  rmSync(join(lib, 'node_modules/.package-lock.json'), { force: true });
  pruneNodeModules(join(lib, 'node_modules'));

  step('wrapper, units, sysusers, tmpfiles, configs, docs');
  const bin = join(stage, 'usr/bin');
  mkdirSync(bin, { recursive: true });
  const { AGENT_NODE_FLAGS, AGENT_NODE_ENV } = await import(pathToFileURL(join(ROOT, 'dist/agent/heap-flags.js')).href);
  const { AGGREGATOR_NODE_FLAGS } = await import(pathToFileURL(join(ROOT, 'dist/aggregator/heap-flags.js')).href);
  writeFileSync(join(bin, 'logship'), wrapperScript(AGENT_NODE_FLAGS, undefined, AGENT_NODE_ENV, AGGREGATOR_NODE_FLAGS));
  chmodSync(join(bin, 'logship'), 0o755);
  const units = join(stage, 'lib/systemd/system');
  mkdirSync(units, { recursive: true });
  for (const u of ['logship-agent.service', 'logship-aggregator.service']) {
    writeFileSync(join(units, u), packagedUnit(readFileSync(join(ROOT, 'deploy', u), 'utf8')));
  }
  mkdirSync(join(stage, 'usr/lib/sysusers.d'), { recursive: true });
  cpSync(join(ROOT, 'deploy/logship.sysusers.conf'), join(stage, 'usr/lib/sysusers.d/logship.conf'));
  mkdirSync(join(stage, 'usr/lib/tmpfiles.d'), { recursive: true });
  cpSync(join(ROOT, 'deploy/logship.tmpfiles.conf'), join(stage, 'usr/lib/tmpfiles.d/logship.conf'));
  const etc = join(stage, 'etc/logship');
  mkdirSync(etc, { recursive: true });
  cpSync(join(ROOT, 'config/agent.example.yaml'), join(etc, 'agent.yaml'));
  cpSync(join(ROOT, 'config/aggregator.example.yaml'), join(etc, 'aggregator.yaml'));
  const doc = join(stage, 'usr/share/doc/logship');
  mkdirSync(doc, { recursive: true });
  cpSync(join(ROOT, 'README.md'), join(doc, 'README.md'));
  writeFileSync(join(doc, 'copyright'), copyright());
  writeFileSync(join(doc, 'changelog.gz'), gzipSync(Buffer.from(changelog()), { level: 9 }));

  step('control files');
  const deb = join(stage, 'DEBIAN');
  mkdirSync(deb, { recursive: true });
  const installedKb = Math.ceil(duBytes(stage) / 1024);
  writeFileSync(join(deb, 'control'), control(installedKb));
  writeFileSync(join(deb, 'conffiles'), '/etc/logship/agent.yaml\n/etc/logship/aggregator.yaml\n');
  for (const s of ['postinst', 'prerm', 'postrm']) {
    cpSync(join(HERE, s), join(deb, s));
    chmodSync(join(deb, s), 0o755);
  }
  // Normal permissions whatever the umask of the build machine; shared objects are not executables.
  run('chmod', ['-R', 'u+rwX,go+rX,go-w', stage]);
  for (const f of listFiles(join(stage, 'usr/lib/logship/node_modules'))) {
    if (f.endsWith('.node')) {
      run('strip', ['--strip-unneeded', f]);
      chmodSync(f, 0o644);
    } else if (statSync(f).mode & 0o111 && !isScript(f)) {
      chmodSync(f, 0o644);
    }
  }
  chmodSync(join(lib, 'dist/bin/logship.js'), 0o755);

  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `logship_${version}_${arch}.deb`);
  step(`dpkg-deb --build -> ${out}`);
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, out]);
  process.stdout.write(out + '\n');
} finally {
  rmSync(stage, { recursive: true, force: true });
}

function control(installedKb) {
  return [
    'Package: logship',
    `Version: ${version}`,
    `Architecture: ${arch}`,
    'Maintainer: logship maintainers <maintainers@logship.invalid>',
    `Installed-Size: ${installedKb}`,
    'Depends: nodejs (>= 20.19), adduser, libc6 (>= 2.31), libstdc++6, libgcc-s1',
    'Section: admin',
    'Priority: optional',
    'Homepage: https://logship.invalid/',
    'Description: log shipper and aggregator: no line lost, none repeated',
    ' logship agent tails log files and journald, scrapes host metrics, buffers',
    ' durably on disk and forwards to logship aggregator, which keeps',
    ' partitioned, retained, replayable logs and feeds Elasticsearch and',
    ' alerting (Alertmanager, PagerDuty, webhooks).',
    '',
  ].join('\n');
}

function copyright() {
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: logship',
    '',
    'Files: *',
    'Copyright: logship maintainers',
    'License: Apache-2.0',
    '',
    'Files: usr/lib/logship/node_modules/*',
    'Copyright: the authors of each module (see its package.json and license file)',
    'License: various free licenses (MIT, ISC, Apache-2.0, BSD), as each module states',
    '',
    'License: Apache-2.0',
    ' On Debian systems, the complete text of the Apache License, Version 2.0',
    ' can be found in /usr/share/common-licenses/Apache-2.0.',
    '',
  ].join('\n');
}

function changelog() {
  const date = execFileSync('date', ['-R'], { encoding: 'utf8' }).trim();
  return `logship (${version}) unstable; urgency=medium\n\n  * Release ${version}; see /usr/share/doc/logship/README.md (Changelog).\n\n -- logship maintainers <maintainers@logship.invalid>  ${date}\n`;
}

function duBytes(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += statSync(join(e.parentPath ?? e.path, e.name)).size;
  }
  return n;
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name));
}

function isScript(f) {
  try {
    return readFileSync(f).subarray(0, 2).toString('latin1') === '#!';
  } catch {
    return false;
  }
}

/** Build leftovers and files with no use at run time (lintian flags several of them). */
function pruneNodeModules(dir) {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath ?? e.path, e.name);
    if (!existsSync(p)) continue;
    if (e.isDirectory() && (e.name === 'obj.target' || e.name === '.deps') && p.includes('/build/')) rmSync(p, { recursive: true, force: true });
    else if (e.isFile() && (e.name.endsWith('.map') || e.name.endsWith('.a') || e.name.endsWith('.o') || e.name === 'Makefile' || e.name.endsWith('.mk') || e.name === 'config.gypi' || e.name === 'index.html' || e.name.startsWith('.'))) {
      if (p.includes('/build/') || e.name.endsWith('.map') || e.name === 'index.html' || e.name.startsWith('.')) rmSync(p, { force: true });
    }
  }
}
