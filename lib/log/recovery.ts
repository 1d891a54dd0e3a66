import * as path from 'node:path';
import type { Logger } from '../obs/logger.js';
import { isQuarantinedName, parseSegmentName } from './format.js';
import { FrameCursor, type FrameFault } from './frame-reader.js';
import type { FsSeam } from './io.js';
import { OffsetIndex } from './offset-index.js';
import { Segment } from './segment.js';
import { TimeIndex } from './time-index.js';
import type { RecoveryReport } from './types.js';

const SCAN_CHUNK = 1024 * 1024;

export interface RecoveryOptions {
  io: FsSeam;
  dir: string;
  indexIntervalBytes: number;
  /** 'tail': check each segment from its last index entry on; 'full': every frame of every segment. */
  verify: 'tail' | 'full';
  logger: Logger;
  now: number;
}

type Fault = { fault: FrameFault | 'offset'; position: number };

/**
 * Brings a log directory to a consistent state and returns its segments, the last one open for
 * writing. Bad data never stops the open: a torn or corrupt tail of the last segment is cut, a
 * sealed segment failing its check is moved aside (quarantined), indexes are repaired or
 * rebuilt. By default ('tail') each segment is checked from its last index entry to its end:
 * that covers everything a crash can tear, and costs about one index interval per segment. Rot
 * in the middle of a sealed segment is then caught by the crc check on read (CorruptError);
 * verify 'full' checks every frame at open instead.
 */
export async function recoverSegments(opts: RecoveryOptions): Promise<{ segments: Segment[]; report: RecoveryReport }> {
  const { io, dir, logger } = opts;
  await io.mkdir(dir);
  const names = await io.readdir(dir);
  const bases = new Set<number>();
  const indexFiles: { base: number; name: string }[] = [];
  for (const name of names) {
    const parsed = parseSegmentName(name);
    if (parsed?.ext === 'log') bases.add(parsed.base);
    else if (parsed) indexFiles.push({ base: parsed.base, name });
  }
  for (const f of indexFiles) if (!bases.has(f.base)) await io.unlink(path.join(dir, f.name));
  const old = names.filter(isQuarantinedName);
  if (old.length > 0) {
    logger.warn({ dir, files: old }, 'quarantined segment files from earlier runs are present; inspect and delete them');
  }

  const report: RecoveryReport = { segments: 0, truncatedBytes: 0, quarantined: [], rebuiltIndexes: 0 };
  const sorted = [...bases].sort((a, b) => a - b);
  const kept: Segment[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const seg = new Segment(io, dir, sorted[i]!, opts.now);
    const prev = kept.at(-1);
    if (prev && seg.base < prev.nextOffset) {
      await quarantine(seg, opts, report, `its base offset ${seg.base} overlaps the previous segment, which ends at ${prev.nextOffset}`);
      continue;
    }
    const isLast = i === sorted.length - 1;
    seg.offsetIndex = new OffsetIndex(await io.readFile(seg.indexPath));
    seg.timeIndex = new TimeIndex(await io.readFile(seg.timeIndexPath));
    await seg.openForWrite(false);
    const size = (await io.fstat(seg.fd)).size;
    const { fault, rebuilt } = await scan(seg, size, opts.indexIntervalBytes, opts.verify === 'full');
    if (fault && !isLast) {
      await quarantine(seg, opts, report, `${describe(fault.fault)} at byte ${fault.position}`);
      continue;
    }
    if (fault) {
      const cut = size - fault.position;
      await io.ftruncate(seg.fd, fault.position);
      report.truncatedBytes += cut;
      logger.warn(
        { file: seg.logPath, position: fault.position, bytes: cut, reason: describe(fault.fault) },
        'cut a torn or corrupt tail from the last segment (unacknowledged writes from before a crash)',
      );
    }
    if (rebuilt) report.rebuiltIndexes++;
    if (!isLast && seg.size === 0) {
      logger.warn({ file: seg.logPath }, 'removed an empty sealed segment');
      await seg.deleteFiles();
      continue;
    }
    if (!isLast) await seg.closeAll();
    // The file's birth time is not portable; its first batch's time bounds the segment's age, so
    // a restart loop cannot keep a segment from ever rolling (at worst it rolls once early).
    else seg.createdAt = seg.firstTimestamp === undefined ? opts.now : Math.min(seg.firstTimestamp, opts.now);
    seg.commit();
    kept.push(seg);
  }

  const last = kept.at(-1);
  if (!last) {
    const seg = new Segment(io, dir, 0, opts.now);
    await seg.openForWrite(true);
    await io.fsyncDir(dir);
    kept.push(seg);
  } else if (!last.writable) {
    await last.openForWrite(false);
  }
  const active = kept.at(-1)!;
  await active.persistIndexes().catch((err: unknown) => logger.warn({ err, file: active.indexPath }, 'could not write index'));
  report.segments = kept.length;
  return { segments: kept, report };
}

/**
 * Validates `seg` (open for writing, indexes loaded) and sets its bookkeeping. Resumes from the
 * last usable index entry when it can, otherwise rescans from byte 0 rebuilding both indexes.
 */
async function scan(seg: Segment, size: number, interval: number, full: boolean): Promise<{ fault?: Fault; rebuilt: boolean }> {
  const o = seg.offsetIndex!;
  const t = seg.timeIndex!;
  const before = full ? Buffer.concat([o.bytes(), t.bytes()]) : undefined;
  const k = validPrefix(o, t, size);
  o.truncate(k);
  t.truncate(k);
  if (k > 0 && !full) {
    const pos = o.positionAt(k - 1);
    const cur = new FrameCursor(seg.io, seg.fd, pos, size, SCAN_CHUNK);
    const at = await cur.next(true);
    const head = await new FrameCursor(seg.io, seg.fd, 0, size, 4096).next(false);
    if (at && 'frame' in at && at.frame.baseOffset === seg.base + o.relAt(k - 1) && head && 'frame' in head && head.frame.baseOffset === seg.base) {
      seg.firstTimestamp = head.frame.timestamp;
      seg.maxTimestamp = Math.max(t.timestampAt(k - 1), at.frame.timestamp);
      seg.size = pos + at.frame.size;
      seg.nextOffset = at.frame.baseOffset + at.frame.count;
      const fault = await walk(seg, cur, interval);
      return { fault, rebuilt: o.dirty || t.dirty };
    }
  }
  o.truncate(0);
  t.truncate(0);
  o.invalidateFile();
  t.invalidateFile();
  seg.restore({ size: 0, nextOffset: seg.base, firstTimestamp: undefined, maxTimestamp: undefined, offsetEntries: 0, timeEntries: 0 });
  const fault = await walk(seg, new FrameCursor(seg.io, seg.fd, 0, size, SCAN_CHUNK), interval);
  if (before?.equals(Buffer.concat([o.bytes(), t.bytes()]))) {
    o.markPersisted();
    t.markPersisted();
    return { fault, rebuilt: false };
  }
  return { fault, rebuilt: size > 0 };
}

async function walk(seg: Segment, cur: FrameCursor, interval: number): Promise<Fault | undefined> {
  for (;;) {
    const step = await cur.next(true);
    if (!step) return undefined;
    if ('fault' in step) return step;
    const f = step.frame;
    if (f.baseOffset !== seg.nextOffset) return { fault: 'offset', position: f.position };
    seg.noteFrame(f.position, f.size, f.baseOffset, f.count, f.timestamp, interval);
  }
}

/** Length of the longest prefix of entries that is well formed and agrees between both indexes. */
function validPrefix(o: OffsetIndex, t: TimeIndex, size: number): number {
  const n = Math.min(o.count, t.count);
  let prevRel = -1;
  let prevPos = -1;
  let prevTs = -Infinity;
  for (let k = 0; k < n; k++) {
    const rel = o.relAt(k);
    const pos = o.positionAt(k);
    const ts = t.timestampAt(k);
    if (rel <= prevRel || pos <= prevPos || pos >= size || t.relAt(k) !== rel || ts < prevTs) return k;
    prevRel = rel;
    prevPos = pos;
    prevTs = ts;
  }
  return n;
}

function describe(f: Fault['fault']): string {
  switch (f) {
    case 'magic':
      return 'no frame start (bad magic or version)';
    case 'length':
      return 'an impossible frame length';
    case 'torn':
      return 'a frame that runs past the end of the file';
    case 'crc':
      return 'a CRC-32C mismatch';
    case 'offset':
      return 'an offset discontinuity';
  }
}

async function quarantine(seg: Segment, opts: RecoveryOptions, report: RecoveryReport, reason: string): Promise<void> {
  const aside = `${seg.name}.corrupt-${opts.now}`;
  try {
    await seg.closeAll().catch(() => {});
    await opts.io.rename(seg.logPath, path.join(opts.dir, aside));
    await Promise.all([opts.io.unlink(seg.indexPath), opts.io.unlink(seg.timeIndexPath)]);
    await opts.io.fsyncDir(opts.dir);
    report.quarantined.push(aside);
    opts.logger.error(
      { file: seg.logPath, movedTo: aside, baseOffset: seg.base, reason },
      'a sealed segment failed its integrity check and was moved aside; its offsets are skipped by readers. ' +
        'Inspect the file, restore it from a replica or backup if you have one, then delete it',
    );
  } catch (err) {
    opts.logger.error(
      { err, file: seg.logPath, baseOffset: seg.base, reason },
      'a sealed segment failed its integrity check and could not be moved aside; it is skipped for now. ' +
        'Move or delete it by hand',
    );
  }
}
