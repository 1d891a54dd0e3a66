/**
 * Stable identities: the group key (rule + group values) used as PagerDuty's
 * dedup_key and as the state's key, and Alertmanager's label-set fingerprint
 * (FNV-1a 64 over the sorted labels, as Prometheus' model.LabelSet does), so
 * webhook payloads carry the fingerprint Alertmanager itself would show.
 */
import { createHash } from 'node:crypto';

/**
 * "logship/<rule>/<v1>/<v2>..." in group_by order; a SHA-256 form when longer than PagerDuty's 255.
 * "%" and "/" inside a value are written %25 and %2F, so values that hold slashes (a URL path, a
 * file name) cannot make two groups one key; a host name has neither, so its key reads as before.
 */
export function groupKey(rule: string, groupBy: readonly string[], group: Record<string, string>): string {
  const key = ['logship', rule, ...groupBy.map((g) => escapePart(group[g] ?? ''))].join('/');
  if (key.length <= 255) return key;
  return `logship/${createHash('sha256').update(key).digest('hex')}`;
}

function escapePart(v: string): string {
  return v.includes('/') || v.includes('%') ? v.replaceAll('%', '%25').replaceAll('/', '%2F') : v;
}

const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

export function fingerprint(labels: Record<string, string>): string {
  let h = OFFSET;
  const add = (b: number) => {
    h ^= BigInt(b);
    h = (h * PRIME) & MASK;
  };
  for (const name of Object.keys(labels).sort()) {
    for (const b of Buffer.from(name, 'utf8')) add(b);
    add(0xff);
    for (const b of Buffer.from(labels[name]!, 'utf8')) add(b);
    add(0xff);
  }
  return h.toString(16).padStart(16, '0');
}
