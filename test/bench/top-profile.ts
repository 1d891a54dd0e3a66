/**
 * Prints the functions with the most self time in a V8 .cpuprofile (as written
 * by `node --cpu-prof`). Self time is the sum of the sample intervals whose
 * top frame is the function; functions are merged by name, file and line.
 *
 *   node dist/test/bench/top-profile.js <file.cpuprofile | dir> [count=15]
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; parent?: number; children?: number[] }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface TopEntry {
  name: string;
  where: string;
  selfMs: number;
  /** share of the busy time (everything but "(idle)") */
  pct: number;
  /** the direct callers' share of this function's self time, biggest first */
  callers: Array<{ name: string; where: string; selfMs: number }>;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  busyMs: number;
  top: TopEntry[];
}

function shortUrl(url: string): string {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const i = u.indexOf('/dist/');
  if (i >= 0) return u.slice(i + 6);
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 14);
  return u;
}

export async function summarize(file: string, count = 15): Promise<ProfileSummary> {
  const prof = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const label = (id: number | undefined): { name: string; where: string } => {
    const cf = id === undefined ? undefined : byId.get(id)?.callFrame;
    if (!cf) return { name: '(root)', where: '' };
    return { name: cf.functionName || '(anonymous)', where: cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '' };
  };
  const self = new Map<string, { name: string; where: string; us: number; callers: Map<string, { name: string; where: string; us: number }> }>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the interval after it to sample i.
    const us = prof.timeDeltas[i + 1] ?? 0;
    const node = byId.get(prof.samples[i]!);
    if (!node) continue;
    const { name, where } = label(node.id);
    total += us;
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    const key = `${name}\u0000${where}`;
    let e = self.get(key);
    if (!e) self.set(key, (e = { name, where, us: 0, callers: new Map() }));
    e.us += us;
    const caller = label(parentOf.get(node.id));
    const ck = `${caller.name}\u0000${caller.where}`;
    const c = e.callers.get(ck);
    if (c) c.us += us;
    else e.callers.set(ck, { ...caller, us });
  }
  const busy = total - idle;
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map((e) => ({
      name: e.name,
      where: e.where,
      selfMs: Math.round(e.us / 1000),
      pct: busy > 0 ? Math.round((1000 * e.us) / busy) / 10 : 0,
      callers: [...e.callers.values()]
        .sort((a, b) => b.us - a.us)
        .slice(0, 4)
        .map((c) => ({ name: c.name, where: c.where, selfMs: Math.round(c.us / 1000) })),
    }));
  return { file, totalMs: Math.round(total / 1000), busyMs: Math.round(busy / 1000), top };
}

/** The top entries, and for the first `withCallers` of them their main direct callers. */
export function formatSummary(s: ProfileSummary, label = basename(s.file), withCallers = 3): string {
  const lines = [`${label}: ${(s.busyMs / 1000).toFixed(2)} s busy of ${(s.totalMs / 1000).toFixed(2)} s sampled (this thread)`];
  lines.push('   self ms  busy %  function (file:line)');
  s.top.forEach((e, i) => {
    lines.push(`${String(e.selfMs).padStart(10)}  ${e.pct.toFixed(1).padStart(6)}  ${e.name}${e.where ? ` (${e.where})` : ''}`);
    if (i < withCallers && e.name.charAt(0) !== '(') {
      for (const c of e.callers) lines.push(`${''.padStart(20)}  <- ${c.selfMs} ms from ${c.name}${c.where ? ` (${c.where})` : ''}`);
    }
  });
  return lines.join('\n');
}

/** Every .cpuprofile in dir, biggest (busiest thread first is likely the main thread) first. */
export async function profilesIn(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.cpuprofile'));
  const withSize = await Promise.all(names.map(async (n) => ({ p: join(dir, n), size: (await stat(join(dir, n))).size })));
  return withSize.sort((a, b) => b.size - a.size).map((x) => x.p);
}

/** Summaries of every profile in dir, each also printed through `print`. */
export async function summarizeDir(dir: string, label: string, print: (s: string) => void, count = 15): Promise<ProfileSummary[]> {
  const out: ProfileSummary[] = [];
  for (const f of await profilesIn(dir)) {
    const s = await summarize(f, count);
    out.push(s);
    print(`profile of the ${label}, ${formatSummary(s)}`);
  }
  return out;
}

async function main(): Promise<void> {
  const target = process.argv[2];
  const count = Number(process.argv[3] ?? 15);
  if (!target) {
    process.stderr.write('usage: node dist/test/bench/top-profile.js <file.cpuprofile | dir> [count=15]\n');
    process.exitCode = 2;
    return;
  }
  const files = (await stat(target)).isDirectory() ? await profilesIn(target) : [target];
  for (const f of files) process.stdout.write(formatSummary(await summarize(f, count)) + '\n\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
