import { join } from 'node:path';
import { FileReader, fields } from './read-file.js';
import type { Collector, MetricType, ScrapeContext } from './types.js';

/** node_exporter 1.5.0 `--collector.diskstats.device-exclude` default: ram, loop, floppy and partitions. */
export const DEFAULT_DISK_DEVICE_EXCLUDE = /^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$/;

/** Always 512, whatever the device's real sector size (the kernel reports 512-byte units). */
export const SECTOR_SIZE = 512;
const MS = 1.0 / 1000.0; // node_exporter multiplies by secondsPerTick, keep the same float rounding

interface DiskField {
  name: string;
  help: string;
  type: MetricType;
  factor: number;
}

/** In /proc/diskstats column order (after major, minor, name). */
export const DISK_FIELDS: readonly DiskField[] = [
  { name: 'node_disk_reads_completed_total', help: 'The total number of reads completed successfully.', type: 'counter', factor: 1 },
  { name: 'node_disk_reads_merged_total', help: 'The total number of reads merged.', type: 'counter', factor: 1 },
  { name: 'node_disk_read_bytes_total', help: 'The total number of bytes read successfully.', type: 'counter', factor: SECTOR_SIZE },
  { name: 'node_disk_read_time_seconds_total', help: 'The total number of seconds spent by all reads.', type: 'counter', factor: MS },
  { name: 'node_disk_writes_completed_total', help: 'The total number of writes completed successfully.', type: 'counter', factor: 1 },
  { name: 'node_disk_writes_merged_total', help: 'The number of writes merged.', type: 'counter', factor: 1 },
  { name: 'node_disk_written_bytes_total', help: 'The total number of bytes written successfully.', type: 'counter', factor: SECTOR_SIZE },
  { name: 'node_disk_write_time_seconds_total', help: 'This is the total number of seconds spent by all writes.', type: 'counter', factor: MS },
  { name: 'node_disk_io_now', help: 'The number of I/Os currently in progress.', type: 'gauge', factor: 1 },
  { name: 'node_disk_io_time_seconds_total', help: 'Total seconds spent doing I/Os.', type: 'counter', factor: MS },
  { name: 'node_disk_io_time_weighted_seconds_total', help: 'The weighted # of seconds spent doing I/Os.', type: 'counter', factor: MS },
  // kernel >= 4.18
  { name: 'node_disk_discards_completed_total', help: 'The total number of discards completed successfully.', type: 'counter', factor: 1 },
  { name: 'node_disk_discards_merged_total', help: 'The total number of discards merged.', type: 'counter', factor: 1 },
  { name: 'node_disk_discarded_sectors_total', help: 'The total number of sectors discarded successfully.', type: 'counter', factor: 1 },
  { name: 'node_disk_discard_time_seconds_total', help: 'This is the total number of seconds spent by all discards.', type: 'counter', factor: MS },
  // kernel >= 5.5
  { name: 'node_disk_flush_requests_total', help: 'The total number of flush requests completed successfully', type: 'counter', factor: 1 },
  { name: 'node_disk_flush_requests_time_seconds_total', help: 'This is the total number of seconds spent by all flush requests.', type: 'counter', factor: MS },
];

export interface DiskLine {
  major: string;
  minor: string;
  device: string;
  /** Raw counters as in the file (up to 17). */
  stats: number[];
}

/**
 * Parse /proc/diskstats. Lines with fewer than 14 fields (2.6 kernels'
 * 7-field partition lines) are dropped, as node_exporter (procfs) does.
 */
export function parseDiskstats(text: string): DiskLine[] {
  const out: DiskLine[] = [];
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const f = fields(text.slice(pos, end));
    pos = end + 1;
    if (f.length < 14) continue;
    const n = Math.min(f.length, 20) - 3;
    const stats = new Array<number>(n);
    for (let i = 0; i < n; i++) stats[i] = Number(f[i + 3]);
    out.push({ major: f[0]!, minor: f[1]!, device: f[2]!, stats });
  }
  return out;
}

/** `E:KEY=VALUE` properties of a udev database entry. */
export function parseUdevData(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('E:')) continue;
    const eq = line.indexOf('=');
    if (eq > 2) out.set(line.slice(2, eq), line.slice(eq + 1));
  }
  return out;
}

export interface DiskOptions {
  deviceExclude?: RegExp;
  /** Where udev keeps its database (`b<major>:<minor>` files); node_exporter's --path.udev.data. */
  udevDataPath: string;
}

/**
 * `diskstats` collector: node_disk_* per whole disk, node_disk_info, plus
 * node_disk_filesystem_info / node_disk_device_mapper_info / node_disk_ata_*
 * when udev has the data.
 */
export class DiskCollector implements Collector {
  readonly name = 'diskstats';
  readonly #exclude: RegExp;
  readonly #udevPath: string;
  #udevAvailable: boolean | undefined;
  readonly #udevReader = new FileReader(4096);

  constructor(opts: DiskOptions) {
    this.#exclude = opts.deviceExclude ?? DEFAULT_DISK_DEVICE_EXCLUDE;
    this.#udevPath = opts.udevDataPath;
  }

  describeSources(): string {
    return `diskstats (procfs) and ${this.#udevPath}`;
  }

  collect(ctx: ScrapeContext): void {
    const lines = parseDiskstats(ctx.readProc('diskstats'));
    // node_exporter checks the udev directory once, at start
    this.#udevAvailable ??= FileReader.isDir(this.#udevPath);
    for (const d of lines) {
      if (this.#exclude.test(d.device)) continue;
      const dev = d.device;
      const udev = this.#udev(d.major, d.minor);
      ctx.emit({
        name: 'node_disk_info',
        labels: {
          device: dev,
          major: d.major,
          minor: d.minor,
          path: udev.get('ID_PATH') ?? '',
          wwn: udev.get('ID_WWN') ?? '',
          model: udev.get('ID_MODEL') ?? '',
          serial: udev.get('SCSI_IDENT_SERIAL') || (udev.get('ID_SERIAL_SHORT') ?? ''),
          revision: udev.get('ID_REVISION') ?? '',
        },
        value: 1,
        help: 'Info of /sys/block/<block_device>.',
        type: 'gauge',
      });
      for (let i = 0; i < d.stats.length && i < DISK_FIELDS.length; i++) {
        const f = DISK_FIELDS[i]!;
        ctx.emit({ name: f.name, labels: { device: dev }, value: f.factor === 1 ? d.stats[i]! : d.stats[i]! * f.factor, help: f.help, type: f.type });
      }
      const fsType = udev.get('ID_FS_TYPE');
      if (fsType) {
        ctx.emit({
          name: 'node_disk_filesystem_info',
          labels: { device: dev, type: fsType, usage: udev.get('ID_FS_USAGE') ?? '', uuid: udev.get('ID_FS_UUID') ?? '', version: udev.get('ID_FS_VERSION') ?? '' },
          value: 1,
          help: 'Info about disk filesystem.',
          type: 'gauge',
        });
      }
      const dmName = udev.get('DM_NAME');
      if (dmName) {
        ctx.emit({
          name: 'node_disk_device_mapper_info',
          labels: { device: dev, name: dmName, uuid: udev.get('DM_UUID') ?? '', vg_name: udev.get('DM_VG_NAME') ?? '', lv_name: udev.get('DM_LV_NAME') ?? '', lv_layer: udev.get('DM_LV_LAYER') ?? '' },
          value: 1,
          help: 'Info about disk device mapper.',
          type: 'gauge',
        });
      }
      if (udev.get('ID_ATA')) {
        for (const [attr, name, help] of ATA) {
          const s = udev.get(attr);
          if (s === undefined) continue;
          const v = Number(s);
          if (s !== '' && Number.isFinite(v)) ctx.emit({ name, labels: { device: dev }, value: v, help, type: 'gauge' });
        }
      }
    }
  }

  #udev(major: string, minor: string): Map<string, string> {
    if (!this.#udevAvailable) return EMPTY;
    try {
      return parseUdevData(this.#udevReader.read(join(this.#udevPath, `b${major}:${minor}`)));
    } catch {
      return EMPTY;
    }
  }
}

const EMPTY: Map<string, string> = new Map();

const ATA: ReadonlyArray<[string, string, string]> = [
  ['ID_ATA_WRITE_CACHE', 'node_disk_ata_write_cache', 'ATA disk has a write cache.'],
  ['ID_ATA_WRITE_CACHE_ENABLED', 'node_disk_ata_write_cache_enabled', 'ATA disk has its write cache enabled.'],
  ['ID_ATA_ROTATION_RATE_RPM', 'node_disk_ata_rotation_rate_rpm', 'ATA disk rotation rate in RPMs (0 for SSDs).'],
];
