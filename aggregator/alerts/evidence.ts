/**
 * A group's latest matched lines (the evidence of an alert: PagerDuty's
 * custom_details, the generatorURL), at most EVIDENCE_MAX, oldest first.
 *
 * Kept in place, a ring of EVIDENCE_MAX slots of plain fields, so counting a
 * match allocates nothing; list() builds the Evidence objects when a notice,
 * a snapshot or a view reads them. Saved as the list (the state file layout
 * is unchanged).
 */
import { EVIDENCE_MAX, type Evidence } from './types.js';

export class EvidenceRing {
  #topic: string[] = new Array<string>(EVIDENCE_MAX).fill('');
  #source: string[] = new Array<string>(EVIDENCE_MAX).fill('');
  #partition = new Float64Array(EVIDENCE_MAX);
  #offset = new Float64Array(EVIDENCE_MAX);
  #sourceOffset = new Float64Array(EVIDENCE_MAX);
  /** lines ever added (the slot of the next one: added % EVIDENCE_MAX) */
  #added = 0;

  static from(list: readonly Evidence[]): EvidenceRing {
    const r = new EvidenceRing();
    for (const e of list) r.add(e.topic, e.partition, e.offset, e.source, e.source_offset);
    return r;
  }

  get length(): number {
    return this.#added < EVIDENCE_MAX ? this.#added : EVIDENCE_MAX;
  }

  add(topic: string, partition: number, offset: number, source: string, sourceOffset: number): void {
    const i = this.#added++ % EVIDENCE_MAX;
    if (this.#added === 2 * EVIDENCE_MAX) this.#added = EVIDENCE_MAX; // same slots, same length
    this.#topic[i] = topic;
    this.#partition[i] = partition;
    this.#offset[i] = offset;
    this.#source[i] = source;
    this.#sourceOffset[i] = sourceOffset;
  }

  /** The lines kept, oldest first (new objects). */
  list(): Evidence[] {
    const n = this.length;
    const out: Evidence[] = [];
    for (let k = this.#added - n; k < this.#added; k++) {
      const i = k % EVIDENCE_MAX;
      out.push({ topic: this.#topic[i]!, partition: this.#partition[i]!, offset: this.#offset[i]!, source: this.#source[i]!, source_offset: this.#sourceOffset[i]! });
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
