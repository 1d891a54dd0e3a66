/**
 * zstd-levels (issue 17): what `compression.level` costs per GiB on each side
 * of the file -> aggregator path, measured in this one process so the levels
 * are compared under the same machine load. The same generated nginx lines
 * (cut into 1 MiB batches at a newline, like the agent's default batch.max_bytes)
 * are compressed at each level with the agent's call (one reused CCtx, one
 * native call per batch), then checked with the aggregator's own ingest check
 * (lib/protocol/payload.ts payloadProblem: inflate into the reused buffer,
 * count the lines, compare with the header), which is what its payload
 * workers spend their time on. The compressed bytes are also written once to a
 * new file in the scratch directory, in 1 MiB writes with an fdatasync every
 * 4 MiB (like a buffer or segment append): the path writes them twice (the
 * agent's disk buffer, the aggregator's store), and on some VMs the kernel's
 * copy into new page-cache pages costs more CPU per byte than zstd does.
 * Levels run in interleaved rounds; the table gives each level's median CPU s
 * per GiB of raw lines for compression, the check and one write, the bytes it
 * puts on the wire, and the change against the first level (compress + check
 * + two writes).
 *
 *   npm run bench -- zstd-levels                      # levels 1,-1,-3, 256 MiB, 3 rounds
 *   BENCH_LEVELS=1,-1,-3,-5 BENCH_LEVELS_MIB=128 BENCH_LEVELS_ROUNDS=5 npm run bench -- zstd-levels
 *
 * CPU here is this process's (process.cpuUsage): only the main thread works
 * during a timed pass. It leaves out the agent's and the aggregator's other
 * costs (reads, CRC, buffer file, HTTP, store), which do not depend on the
 * level except through the compressed size; file-to-aggregator with
 * BENCH_AGENT_CONFIG='{"compression":{"level":-1}}' measures the whole path.
 */
import { closeSync, fdatasyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import binding from 'zstd-napi/binding.js';
import { payloadProblem } from '../../lib/protocol/payload.js';
import { CODEC_ZSTD } from '../../lib/protocol/codes.js';
import { makeRng, nginxLine } from './gen-nginx.js';
import { envNumber, GiB, info, log, MiB, scratch, type BenchOptions, type Row, type Scenario, type ScenarioResult } from './harness.js';

export const zstdLevels: Scenario = {
  name: 'zstd-levels',
  title: 'compression.level: agent zstd and aggregator check CPU per GiB, bytes on the wire (one process, interleaved)',
  run,
};

interface Batch {
  raw: Buffer;
  lines: number;
}

function makeBatches(totalBytes: number): Batch[] {
  const rng = makeRng(42);
  const out: Batch[] = [];
  let sec = 1_760_000_000;
  let done = 0;
  while (done < totalBytes) {
    const parts: string[] = [];
    let size = 0;
    for (;;) {
      if (rng() < 0.02) sec++;
      const line = nginxLine(rng, sec) + '\n';
      if (size + line.length > MiB) break;
      parts.push(line);
      size += line.length;
    }
    out.push({ raw: Buffer.from(parts.join('')), lines: parts.length });
    done += size;
  }
  return out;
}

/** CPU seconds of writing `payloads` to a new file (1 MiB writes, fdatasync every 4 MiB), the file removed after. */
function writeCost(path: string, payloads: Buffer[]): number {
  const c0 = cpuSeconds();
  const fd = openSync(path, 'w');
  try {
    let since = 0;
    for (const p of payloads) {
      writeSync(fd, p);
      since += p.length;
      if (since >= 4 * MiB) {
        fdatasyncSync(fd);
        since = 0;
      }
    }
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const spent = cpuSeconds() - c0;
  unlinkSync(path);
  return spent;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function run(_o: BenchOptions): Promise<ScenarioResult> {
  const levels = (process.env.BENCH_LEVELS ?? '1,-1,-3').split(',').map((s) => Number(s.trim()));
  for (const l of levels) if (!Number.isInteger(l) || l === 0 || l < -7 || l > 19) throw new Error(`BENCH_LEVELS: ${l} is not a compression.level (1..19 or -1..-7)`);
  const mibs = envNumber('BENCH_LEVELS_MIB', 256);
  const rounds = envNumber('BENCH_LEVELS_ROUNDS', 3);
  log(`generating ${mibs} MiB of nginx lines in 1 MiB batches (not timed)`);
  const batches = makeBatches(mibs * MiB);
  const rawBytes = batches.reduce((a, b) => a + b.raw.length, 0);
  const scratchOut = Buffer.allocUnsafe(binding.compressBound(MiB));
  const cctxs = new Map<number, InstanceType<typeof binding.CCtx>>();
  for (const l of levels) {
    const c = new binding.CCtx();
    c.setParameter(binding.CParameter.compressionLevel, l);
    cctxs.set(l, c);
  }
  const perLevel = new Map<number, { comp: number[]; check: number[]; write: number[]; bytes: number }>(levels.map((l) => [l, { comp: [], check: [], write: [], bytes: 0 }]));
  const tmp = await scratch('zlv');
  const t0 = performance.now();
  try {
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round, so no level always runs first (warm-up) or last.
      const order = levels.map((_, i) => levels[(i + r) % levels.length]!);
      for (const l of order) {
        const cctx = cctxs.get(l)!;
        const m = perLevel.get(l)!;
        // Compress every batch, keeping exact-size copies for the check (as the agent sends them).
        const payloads: Buffer[] = [];
        const c0 = cpuSeconds();
        for (const b of batches) {
          const n = cctx.compress2(scratchOut, b.raw);
          payloads.push(Buffer.from(scratchOut.subarray(0, n)));
        }
        m.comp.push((cpuSeconds() - c0) / (rawBytes / GiB));
        m.bytes = payloads.reduce((a, p) => a + p.length, 0);
        const k0 = cpuSeconds();
        for (let i = 0; i < batches.length; i++) {
          const p = payloadProblem(payloads[i]!, { codec: CODEC_ZSTD, flags: 0, rawLength: batches[i]!.raw.length, lines: batches[i]!.lines }, 64 * MiB);
          if (p) throw new Error(`level ${l}: the aggregator's check refused batch ${i}: ${p}`);
        }
        m.check.push((cpuSeconds() - k0) / (rawBytes / GiB));
        m.write.push(writeCost(join(tmp.dir, `level${l}.bin`), payloads) / (rawBytes / GiB));
        log(`round ${r + 1}/${rounds} level ${l}: compress ${m.comp.at(-1)!.toFixed(2)}, check ${m.check.at(-1)!.toFixed(2)}, one write ${m.write.at(-1)!.toFixed(2)} CPU s/GiB, ${((m.bytes / MiB) * (GiB / rawBytes)).toFixed(1)} MiB/GiB`);
      }
    }
  } finally {
    await tmp.cleanup();
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const base = perLevel.get(levels[0]!)!;
  const baseTotal = median(base.comp) + median(base.check) + 2 * median(base.write);
  const rows: Row[] = [info('data', `${(rawBytes / MiB).toFixed(1)} MiB in ${batches.length} batches, ${rounds} interleaved rounds`)];
  const raw: Record<string, unknown> = { rawBytes, batches: batches.length, rounds, levels: {} };
  for (const l of levels) {
    const m = perLevel.get(l)!;
    const comp = median(m.comp);
    const check = median(m.check);
    const write = median(m.write);
    const wire = (m.bytes / MiB) * (GiB / rawBytes);
    rows.push(
      info(`level ${l}: agent zstd`, comp, 'CPU s/GiB', 2),
      info(`level ${l}: aggregator check (inflate + count)`, check, 'CPU s/GiB', 2),
      info(`level ${l}: both`, comp + check, 'CPU s/GiB', 2),
      info(`level ${l}: one write of the compressed bytes (new file, fdatasync)`, write, 'CPU s/GiB', 2),
      info(`level ${l}: on the wire`, wire, 'MiB per GiB', 1),
      info(`level ${l}: ratio`, rawBytes / m.bytes, 'x', 2),
    );
    if (l !== levels[0]) rows.push(info(`level ${l}: both + two writes, against level ${levels[0]}`, comp + check + 2 * write - baseTotal, 'CPU s/GiB', 2));
    (raw.levels as Record<string, unknown>)[String(l)] = { compress: m.comp, check: m.check, write: m.write, bytes: m.bytes };
  }
  return {
    scenario: zstdLevels.name,
    seconds: (performance.now() - t0) / 1000,
    rows,
    notes: ['CPU of this process only, per GiB of raw lines; the whole path (reads, CRC, buffer file, HTTP, store) is file-to-aggregator with BENCH_AGENT_CONFIG'],
    raw,
  };
}
