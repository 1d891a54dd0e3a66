/**
 * A group's latest matched lines (the evidence of an alert: PagerDuty's
 * custom_details, the generatorURL), at most EVIDENCE_MAX, oldest first.
 *
 * Kept in place, a ring of EVIDENCE_MAX slots in one array (per slot: topic,
 * partition, offset, source, source_offset), so counting a match allocates
 * nothing and touches few cache lines (a delivery visits hundreds of groups:
 * each one's evidence is written while the others' are out of the cache);
 * list() builds the Evidence objects when a notice, a snapshot or a view
 * reads them. Saved as the list (the state file layout is unchanged).
 */
import { EVIDENCE_MAX, type Evidence } from './types.js';

/** fields per slot */
const F = 5;

export class EvidenceRing {
  /** slot i: [i * F] topic, [+1] partition, [+2] offset, [+3] source, [+4] source_offset */
  #slots: Array<string | number> = new Array<string | number>(EVIDENCE_MAX * F).fill(0);
  /** lines kept (at most EVIDENCE_MAX) */
  #len = 0;
  /** the slot of the next line (the oldest kept once full) */
  #next = 0;

  static from(list: readonly Evidence[]): EvidenceRing {
    const r = new EvidenceRing();
    for (const e of list) r.add(e.topic, e.partition, e.offset, e.source, e.source_offset);
    return r;
  }

  get length(): number {
    return this.#len;
  }

  add(topic: string, partition: number, offset: number, source: string, sourceOffset: number): void {
    const i = this.#next;
    this.#next = i + 1 === EVIDENCE_MAX ? 0 : i + 1;
    if (this.#len < EVIDENCE_MAX) this.#len++;
    const s = this.#slots;
    const at = i * F;
    s[at] = topic;
    s[at + 1] = partition;
    s[at + 2] = offset;
    s[at + 3] = source;
    s[at + 4] = sourceOffset;
  }

  /** The lines kept, oldest first (new objects). */
  list(): Evidence[] {
    const n = this.#len;
    const s = this.#slots;
    const out: Evidence[] = [];
    let i = this.#next - n;
    if (i < 0) i += EVIDENCE_MAX;
    for (let k = 0; k < n; k++) {
      const at = i * F;
      out.push({ topic: s[at] as string, partition: s[at + 1] as number, offset: s[at + 2] as number, source: s[at + 3] as string, source_offset: s[at + 4] as number });
      i = i + 1 === EVIDENCE_MAX ? 0 : i + 1;
    }
    return out;
  }

  clone(): EvidenceRing {
    return EvidenceRing.from(this.list());
  }

  /** JSON: the list (as the state file holds it). */
  toJSON(): Evidence[] {
    return this.list();
  }
}
