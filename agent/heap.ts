/**
 * V8 heap settings the agent applies to its own process. The agent runs on
 * every host beside the applications it serves, so its resident memory is
 * what the host pays. Left alone, V8 grows the young generation up to 16 MiB
 * per semi-space (32 MiB resident) as soon as allocation is busy, and keeps it.
 * The agent's hot path allocates few, short-lived JS objects (a batch is one
 * Buffer, its bytes outside the heap), so a 1 MiB semi-space costs it little
 * CPU and saves ~30 MiB.
 *
 * The semi-space maximum itself is fixed when the process starts, but the
 * growth factor is read at each growth, so it can be set from inside. A user
 * who sets either flag (NODE_OPTIONS or node's own arguments) keeps theirs.
 *
 * V8's memory reducer is off too: on an idle agent it ran a garbage collection
 * about every second on the helper threads of the main isolate and of each
 * zstd worker, which was most of an idle agent's CPU (measured with 1,000 idle
 * files: ~0.4 % of a core of 0.7). The agent's heap is small and its young
 * generation bounded, so there is little for it to give back; ordinary
 * collections still run as allocation needs them.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export function limitYoungGeneration(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const mentions = (re: RegExp) => execArgv.some((s) => re.test(s)) || re.test(nodeOptions);
  if (!mentions(/memory[-_]reducer/)) setFlagsFromString('--no-memory-reducer');
  if (mentions(/semi[-_]space/)) return false;
  setFlagsFromString('--semi-space-growth-factor=1');
  return true;
}

/**
 * The compiler and old-generation flags of agent/heap-flags.ts (`--no-opt`, `--optimize-for-size`)
 * for an agent started without them (`node dist/bin/logship.js agent`, the integration tests): V8
 * reads both as it runs, so they can be set from inside, unlike the semi-space maximum. A user who
 * names either flag on node's command line keeps theirs. Returns the flags it set.
 */
export function agentCompilerFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const mentions = (re: RegExp) => execArgv.some((s) => re.test(s)) || re.test(nodeOptions);
  const set: string[] = [];
  if (!mentions(/--(no-)?(opt|turbofan)\b(?!-)/)) set.push('--no-opt');
  if (!mentions(/optimize[-_]for[-_]size/)) set.push('--optimize-for-size');
  for (const f of set) setFlagsFromString(f);
  return set;
}

// Imported first by bin/logship.ts: applied before any other module loads, since a young
// generation once grown (module loading alone grows it) is not given back.
if (process.argv[2] === 'agent') {
  limitYoungGeneration();
  agentCompilerFlags();
}

/** How long after the quiet collection its second, plain one runs (QuietCollector). */
const SECOND_GC_DELAY_MS = 1_000;

/**
 * One full garbage collection each time the agent turns quiet. With the memory
 * reducer off (agent/heap-flags.ts), nothing else collects the old generation
 * of an agent that allocates little: what start-up left behind (config parsing,
 * module loading, the first scan of many files) and the Buffers promoted while
 * it was busy would stay resident for good (4-5 MiB of garbage measured with
 * 1,000 idle files). This collects (and compacts) once per busy -> quiet change,
 * and only when the heap grew since the last time, so a trickle of lines costs
 * nothing; one collection of the agent's ~15 MiB heap takes a few milliseconds.
 * A plain full collection follows a second later (see tick()).
 */
export class QuietCollector {
  #quietMs: number;
  #minGrowth: number;
  #gc: (() => void) | undefined;
  #activity = NaN;
  #quietSince = 0;
  #collectedFor = NaN;
  #usedAfter = 0;
  #onQuiet: (() => number) | undefined;
  collections = 0;

  /**
   * @param opts.quietMs how long without activity counts as quiet @param opts.minGrowth heap growth (bytes) worth a collection
   * @param opts.onQuiet called once per busy -> quiet change, before the decision: returns bytes outside the heap it let go
   *   of (the agent's unused payload slabs), which only a collection frees; any makes it collect
   */
  constructor(opts: { quietMs?: number; minGrowth?: number; onQuiet?: () => number } = {}) {
    this.#quietMs = opts.quietMs ?? 5_000;
    this.#minGrowth = opts.minGrowth ?? 1 << 20;
    this.#onQuiet = opts.onQuiet;
  }

  /** Called periodically with a counter that moves while the agent works (appends); true when it collected. */
  tick(activity: number, now: number): boolean {
    if (activity !== this.#activity) {
      this.#activity = activity;
      this.#quietSince = now;
      return false;
    }
    if (now - this.#quietSince < this.#quietMs || this.#collectedFor === activity) return false;
    this.#collectedFor = activity;
    const external = this.#onQuiet?.() ?? 0;
    if (external === 0 && getHeapStatistics().used_heap_size - this.#usedAfter < this.#minGrowth) return false;
    this.#gc ??= fullGc();
    this.#gc();
    this.#usedAfter = getHeapStatistics().used_heap_size;
    this.collections++;
    // A second, plain collection a second later gives back what the first left committed (pages V8
    // pools after a compaction until its background sweeping and unmapping are done; run at once,
    // it changed nothing). Measured (idle-cost, 1,000 files, 2026-12-03 02:50 UTC, quiet): committed
    // heap 11.5-11.7 -> 10.5 MiB, anonymous RSS 18.5-18.6 -> 17.7 MiB, RSS at the end 61.5-61.7 -> 60.7 MiB.
    const plain = exposedGc();
    setTimeout(() => {
      plain();
      this.#usedAfter = getHeapStatistics().used_heap_size;
    }, SECOND_GC_DELAY_MS).unref();
    return true;
  }
}

/**
 * One full garbage collection for every `every` bytes of batch payload memory
 * that only a collection frees: payloads outside the agent's payload slabs
 * (agent/buffer/payload-slabs.ts: one too large for a slab, or taken when
 * every slab was in use), slabs given up, and batches read back from the
 * buffer's files (the drain after an outage). Such a Buffer's bytes are outside
 * the V8 heap; it lives until it is acknowledged, long enough to be promoted to
 * the old generation, so only a full collection frees it, and V8 starts one for
 * external memory only after tens of MiB have piled up.
 *
 * Before the slabs every compressed payload counted: at 8 MiB (~50-60 MiB of
 * lines at zstd level 1) about 18 collections per GiB, measured at about 0.5
 * agent CPU s/GiB (main thread and V8's helper threads) for 8-10 MiB less peak
 * RSS. With the slabs, a full-speed agent reading live files feeds it next to
 * nothing (V8's helper threads 0.20-0.28 CPU s/GiB instead of 0.72-0.82,
 * docs/agent-footprint.md). Nothing when the agent is idle. The collection runs
 * on the next turn of the event loop, not inside the caller.
 */
export class PayloadCollector {
  #every: number;
  #since = 0;
  #pending = false;
  #gc: (() => void) | undefined;
  collections = 0;

  /** @param every payload bytes between collections (default: payloadGcEvery()) */
  constructor(every = payloadGcEvery(), gc?: () => void) {
    this.#every = every;
    this.#gc = gc;
  }

  add(bytes: number): void {
    this.#since += bytes;
    if (this.#since < this.#every || this.#pending) return;
    this.#pending = true;
    setImmediate(() => {
      this.#pending = false;
      this.#since = 0;
      (this.#gc ??= exposedGc())();
      this.collections++;
    });
  }
}

/** PayloadCollector's default: 8 MiB of payload (outside the slabs) between full collections. */
export const PAYLOAD_GC_EVERY = 8 << 20;

/**
 * Bytes of payload between the PayloadCollector's collections: PAYLOAD_GC_EVERY, or
 * LOGSHIP_AGENT_PAYLOAD_GC_MIB (a diagnostic override for measuring the collector's cost:
 * MiB, > 0; 0 turns the collector off). A value that is not a number >= 0 is refused
 * with an error naming the variable.
 */
export function payloadGcEvery(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.LOGSHIP_AGENT_PAYLOAD_GC_MIB;
  if (v === undefined || v.trim() === '') return PAYLOAD_GC_EVERY;
  const mib = Number(v);
  if (!Number.isFinite(mib) || mib < 0) throw new Error(`LOGSHIP_AGENT_PAYLOAD_GC_MIB: must be a number of MiB >= 0 (0 turns the payload collector off), got ${JSON.stringify(v)}`);
  return mib === 0 ? Infinity : Math.max(1, Math.round(mib * (1 << 20)));
}

let plainGc: (() => void) | undefined;

/**
 * V8's gc() without exposing it to the program (--expose-gc applies to contexts created after it is
 * set). The context it comes from is made once per process and shared by every collector.
 */
function exposedGc(): () => void {
  if (plainGc) return plainGc;
  const g = (globalThis as { gc?: () => void }).gc;
  plainGc = typeof g === 'function' ? g : (setFlagsFromString('--expose-gc'), runInNewContext('gc') as () => void);
  return plainGc;
}

/**
 * V8's gc() without exposing it to the program (--expose-gc applies to contexts created after it is
 * set), compacting: a plain full GC frees the objects but keeps every page that still holds one live
 * object, so a fragmented old space stayed resident (measured: 87 -> 11 MiB used, 90 -> 82 MiB committed;
 * compacting, 13.7 MiB committed).
 */
function fullGc(): () => void {
  const gc = exposedGc();
  return () => {
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}
