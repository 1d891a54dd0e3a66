/**
 * Which stream a newly opened file is. A stream is content identified by its
 * fingerprint (the CRC of its first bytes); device+inode only break ties. The
 * decision is pure: it reads nothing but the file head it is given, and says
 * what the caller (FileInput) should do; FileInput keeps the bookkeeping.
 * docs/tailing.md has the decision table.
 */
import type { Logger } from '../../../lib/obs/logger.js';
import { resumeOffset, type StreamRegistry, type StreamState } from './streams.js';
import type { Tailer } from './tailer.js';

export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
}

export type Resolution =
  /** read this stream from resumeOffset(stream) (a new stream, or a known one found again) */
  | { kind: 'stream'; stream: StreamState }
  /** a copy of a stream being read from another open file right now (copytruncate in progress): wait */
  | { kind: 'copy'; of: Tailer }
  /** a copy of content already read from the original, ending before the position reached: nothing to read */
  | { kind: 'consumed'; original: StreamState };

export interface ResolveInput {
  path: string;
  st: FileIdentity;
  /** the file's first bytes (up to FINGERPRINT_MAX) */
  head: Buffer;
  topic: string;
  registry: StreamRegistry;
  /** open tailers: a stream they read cannot be taken by another file */
  open: Iterable<Tailer>;
  /** the stream this path had when it was parked (closed to stay under max_open_files) */
  hint?: StreamState;
}

/** Finds the best known stream for a file, or says why it has none (see Resolution). Never mutates. */
export function matchStream(i: ResolveInput): { best?: StreamState; copyOf?: Tailer } {
  const owners = new Map<StreamState, Tailer>();
  for (const t of i.open) owners.set(t.stream, t);
  let best: StreamState | undefined;
  let copyOf: Tailer | undefined;
  const cands = i.registry.candidates(i.head);
  if (i.hint && cands.includes(i.hint)) cands.unshift(i.hint);
  const { st } = i;
  const sameIno = (x: StreamState) => x.dev === st.dev && x.ino === st.ino;
  for (const s of cands) {
    if (s.topic !== i.topic) continue;
    const owner = owners.get(s);
    if (owner) {
      if (owner.dev !== st.dev || owner.ino !== st.ino) copyOf ??= owner;
      continue;
    }
    if (s === i.hint) {
      best = s;
      break;
    }
    // Prefer the same inode, then the longer fingerprint (the more specific match), then the stream
    // seen last: two streams can share a file's first KiB and inode (rewritten in place with the same
    // head), and the older one is content that is gone.
    if (!best || (sameIno(s) && !sameIno(best)) || s.fpLen > best.fpLen) best = s;
    else if (sameIno(s) === sameIno(best) && s.fpLen === best.fpLen && s.lastSeen > best.lastSeen) best = s;
  }
  if (!best && !copyOf) {
    // No content to go by: a stream that never got a fingerprint (see StreamRegistry.unidentified)
    // is this file if it has its inode and does not reach past its end.
    for (const s of i.registry.unidentified(st.dev, st.ino)) {
      if (s.topic === i.topic && !owners.has(s) && resumeOffset(s) <= st.size) return { best: s };
    }
  }
  return best ? { best } : copyOf ? { copyOf } : {};
}

export interface ResolveEffects {
  logger: Logger;
  onRotation: () => void;
  onTruncation: () => void;
  /** a new stream for a file no known stream matches, starting at `offset` */
  newStream: (offset: number) => StreamState;
  /** a file first seen at start with start_at: end starts at its end */
  startAtEnd: boolean;
}

/**
 * Resolves a file to a stream and applies what that implies to the stream
 * (its new path/inode; a reset to 0 when the same file is now shorter than
 * what was read from it) and to the counters (rotation, truncation).
 */
export function resolveStream(i: ResolveInput, fx: ResolveEffects): Resolution {
  const { best, copyOf } = matchStream(i);
  const { st, path } = i;
  if (!best) {
    if (copyOf) return { kind: 'copy', of: copyOf };
    return { kind: 'stream', stream: fx.newStream(fx.startAtEnd ? st.size : 0) };
  }
  const at = resumeOffset(best);
  if (at > st.size) {
    if (best.dev !== st.dev || best.ino !== st.ino) {
      // Another file than the one the stream was read from, starting with the same bytes and
      // ending before the position already reached: a copy (copytruncate) of content that was
      // read from the original, including lines written after the copy was taken. Everything
      // in it is already buffered; reading it from 0 would repeat the whole copy.
      fx.logger.info({ path, size: st.size, read_up_to: at, original: best.path }, 'file is a copy of content already read from the original (copytruncate); nothing new in it');
      return { kind: 'consumed', original: best };
    }
    // The same file, now shorter than what was read from it: truncated in place while it was
    // not open here (agent down, or the file was parked).
    fx.logger.info({ path, offset: at, size: st.size }, 'file is shorter than its stored position: truncated; reading from the start');
    fx.onTruncation();
    best.offset = 0;
    best.read = 0;
  }
  if (best.path !== path) fx.onRotation();
  best.path = path;
  best.dev = st.dev;
  best.ino = st.ino;
  return { kind: 'stream', stream: best };
}
