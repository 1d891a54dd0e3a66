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
