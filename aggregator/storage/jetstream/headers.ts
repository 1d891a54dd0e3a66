/**
 * How one stored batch is one JetStream message (this file owns the format).
 *
 * Streams: one per topic-partition, `<prefix>_<topic token>_P<partition>`
 * (topicToken: `_` is written `__` and `.` is written `_d`, so the name is
 * reversible and holds no character JetStream refuses), subject = the stream
 * name, file storage, discard old.
 *
 * Message data: the batch payload exactly as the agent sent it (compressed or
 * not; the codec is in the meta). Headers:
 *
 *   Logship-Offset   decimal: offset of the batch's first record
 *   Logship-Count    decimal: records in the batch (>= 1)
 *   Logship-Ts       decimal ms: the batch's timestamp
 *   Logship-Max-Ts   decimal ms: the largest Logship-Ts of this and every earlier
 *                    message of the stream (monotonic: offsetForTimestamp
 *                    searches it like a time index)
 *   Logship-Meta     base64 of the StoredMeta encoding (stored-meta.ts):
 *                    producer, epoch and sequence live here
 *   Nats-Msg-Id      `<producer>:<epoch>:<seq>` for producer batches, a random
 *                    id for plain ones (JetStream's duplicate window)
 *
 * Offsets: message sequence s holds records Logship-Offset .. + Count - 1,
 * and Logship-Offset(s + 1) = Logship-Offset(s) + Count(s) (dense). Every
 * append says Nats-Expected-Last-Sequence, so only a writer that has seen the
 * stream's tail can add to it: the offsets and the producer state folded from
 * these headers are the same on every aggregator.
 *
 * Everything read back is untrusted: parseHeaders checks every field.
 */
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { CorruptError } from '../../../lib/errors.js';

export const H_OFFSET = 'Logship-Offset';
export const H_COUNT = 'Logship-Count';
export const H_TS = 'Logship-Ts';
export const H_MAX_TS = 'Logship-Max-Ts';
export const H_META = 'Logship-Meta';
export const H_MSG_ID = 'Nats-Msg-Id';

export interface BatchHeaders {
  offset: number;
  count: number;
  timestamp: number;
  maxTs: number;
  meta: Buffer;
  msgId: string;
}

export function topicToken(topic: string): string {
  return topic.replace(/_/g, '__').replace(/\./g, '_d');
}

export function tokenTopic(token: string): string {
  return token.replace(/_(_|d)/g, (_m, c: string) => (c === '_' ? '_' : '.'));
}

export function streamName(prefix: string, topic: string, partition: number): string {
  return `${prefix}_${topicToken(topic)}_P${partition}`;
}

export function buildHeaders(h: BatchHeaders): MsgHdrs {
  const m = natsHeaders();
  m.set(H_OFFSET, String(h.offset));
  m.set(H_COUNT, String(h.count));
  m.set(H_TS, String(h.timestamp));
  m.set(H_MAX_TS, String(h.maxTs));
  m.set(H_META, h.meta.toString('base64'));
  return m;
}

function num(h: MsgHdrs | undefined, key: string, where: string, min = 0): number {
  const v = h?.get(key) ?? '';
  if (!/^-?\d{1,16}$/.test(v)) throw new CorruptError(`${where}: header ${key} is ${JSON.stringify(v.slice(0, 40))}, not an integer`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new CorruptError(`${where}: header ${key} = ${n} is out of range`);
  return n;
}

/** The batch fields of a stored message; CorruptError (naming stream and sequence) if any is missing or malformed. */
export function parseHeaders(h: MsgHdrs | undefined, where: string): BatchHeaders {
  const meta = h?.get(H_META) ?? '';
  if (!meta || meta.length > 1 << 20 || !/^[A-Za-z0-9+/]+=*$/.test(meta)) throw new CorruptError(`${where}: header ${H_META} is missing or not base64`);
  return {
    offset: num(h, H_OFFSET, where),
    count: num(h, H_COUNT, where, 1),
    timestamp: num(h, H_TS, where, Number.MIN_SAFE_INTEGER),
    maxTs: num(h, H_MAX_TS, where, Number.MIN_SAFE_INTEGER),
    meta: Buffer.from(meta, 'base64'),
    msgId: h?.get(H_MSG_ID) ?? '',
  };
}
