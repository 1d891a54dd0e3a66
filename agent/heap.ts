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
import { setFlagsFromString } from 'node:v8';

export function limitYoungGeneration(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const mentions = (re: RegExp) => execArgv.some((s) => re.test(s)) || re.test(nodeOptions);
  if (!mentions(/memory[-_]reducer/)) setFlagsFromString('--no-memory-reducer');
  if (mentions(/semi[-_]space/)) return false;
  setFlagsFromString('--semi-space-growth-factor=1');
  return true;
}

// Imported first by bin/logship.ts: applied before any other module loads, since a young
// generation once grown (module loading alone grows it) is not given back.
if (process.argv[2] === 'agent') limitYoungGeneration();
