/**
 * Chooses a partition from the record's origin (host + source), so every line
 * of one file lands in one partition and keeps its order. FNV-1a, 32 bit:
 * stable across versions and processes (changing it would reorder streams).
 */
export function partitionFor(host: string, source: string, partitions: number): number {
  let h = 0x811c9dc5;
  const s = host + '\u0000' + source;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

const TOPIC_RE = /^[A-Za-z0-9._-]{1,200}$/;

export function topicNameProblem(name: string): string | undefined {
  if (!TOPIC_RE.test(name)) return `topic name "${name.slice(0, 220)}" must be 1-200 characters of [A-Za-z0-9._-]`;
  if (name === '.' || name === '..') return `topic name "${name}" is not allowed`;
  return undefined;
}
