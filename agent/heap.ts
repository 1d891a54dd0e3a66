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
 */
import { setFlagsFromString } from 'node:v8';

export function limitYoungGeneration(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const mentions = (s: string) => /semi[-_]space/.test(s);
  if (execArgv.some(mentions) || mentions(nodeOptions)) return false;
  setFlagsFromString('--semi-space-growth-factor=1');
  return true;
}

// Imported first by bin/logship.ts: applied before any other module loads, since a young
// generation once grown (module loading alone grows it) is not given back.
if (process.argv[2] === 'agent') limitYoungGeneration();
