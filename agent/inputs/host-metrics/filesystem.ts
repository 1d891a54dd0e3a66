import { statfs, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Collector, ScrapeContext } from './types.js';

/** node_exporter 1.5.0 upstream `--collector.filesystem.mount-points-exclude` default. */
export const DEFAULT_MOUNT_POINTS_EXCLUDE = /^\/(dev|proc|run\/credentials\/.+|sys|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/;
/** node_exporter 1.5.0 `--collector.filesystem.fs-types-exclude` default (same upstream and in Debian). */
export const DEFAULT_FS_TYPES_EXCLUDE =
  /^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$/;
/** Debian's prometheus-node-exporter 1.5.0 patches the mount-point default to also drop /run, /mnt and /media. */
export const DEBIAN_MOUNT_POINTS_EXCLUDE = /^\/(dev|proc|run|sys|mnt|media|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/;

export interface MountEntry {
  device: string;
  mountpoint: string;
  fstype: string;
  options: string;
}

/**
 * Parse /proc/<pid>/mounts. The mount point's `\040` (space) and `\011`
 * (tab) escapes are decoded as node_exporter does; a rootfs prefix is
 * stripped (`/host/boot` -> `/boot` when rootfs is `/host`).
 */
export function parseMounts(text: string, rootfs = '/'): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const p = line.split(' ').filter((s) => s !== '');
    if (p.length < 4) throw new Error(`malformed mount point information: ${JSON.stringify(line)}`);
    const mp = p[1]!.replaceAll('\\040', ' ').replaceAll('\\011', '\t');
    out.push({ device: p[0]!, mountpoint: stripRootfs(mp, rootfs), fstype: p[2]!, options: p[3]! });
  }
  return out;
}

function stripRootfs(path: string, rootfs: string): string {
  if (rootfs === '/' || rootfs === '') return path;
  const r = rootfs.endsWith('/') ? rootfs.slice(0, -1) : rootfs;
  if (path !== r && !path.startsWith(r + '/')) return path;
  const s = path.slice(r.length);
  return s === '' ? '/' : s;
}

export interface StatfsResult {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

export type StatfsFn = (path: string) => Promise<StatfsResult>;
export type StatfsSyncFn = (path: string) => StatfsResult;

/**
 * File systems whose statfs(2) can block for a long time (dead server):
 * statfs'd off the event loop with the mount timeout. Everything else is
 * statfs'd synchronously, which costs a few microseconds instead of a
 * thread-pool round trip.
 */
export const NETWORK_FS_TYPES = /^(nfs4?|cifs|smb3?|smbfs|ncpfs|ceph|glusterfs|lustre|gpfs|afs|9p|virtiofs|fuse(\..*|blk)?|davfs|sshfs|beegfs|ocfs2|gfs2|orangefs|pvfs2|coda)$/;

const defaultStatfs: StatfsFn = (path) =>
  new Promise((resolve, reject) => statfs(path, (err, s) => (err ? reject(err) : resolve(s))));

export interface FilesystemOptions {
  mountPointsExclude?: RegExp;
  fsTypesExclude?: RegExp;
  /** node_exporter's --collector.filesystem.mount-timeout (5 s). */
  mountTimeoutMs?: number;
  /** For tests: statfs of network file systems (async, with the mount timeout). */
  statfs?: StatfsFn;
  /** For tests: statfs of local file systems. Defaults to `statfs` when that is given, else fs.statfsSync. */
  statfsSync?: StatfsSyncFn;
}

const LABEL_HELP = {
  size: 'Filesystem size in bytes.',
  free: 'Filesystem free space in bytes.',
  avail: 'Filesystem space available to non-root users in bytes.',
  files: 'Filesystem total file nodes.',
  filesFree: 'Filesystem total free file nodes.',
  ro: 'Filesystem read-only status.',
  err: 'Whether an error occurred while getting statistics for the given device.',
};

/**
 * `filesystem` collector: statfs(2) of every mount in /proc/1/mounts
 * (fallback /proc/self/mounts) not excluded by the mount-point and fs-type
 * regexes. A statfs that fails, or hangs longer than the mount timeout
 * (dead NFS), yields node_filesystem_device_error=1 and no size series; a
 * hung mount is not statfs'd again until the stuck call returns.
 */
export class FilesystemCollector implements Collector {
  readonly name = 'filesystem';
  readonly #mpExclude: RegExp;
  readonly #fsExclude: RegExp;
  readonly #timeout: number;
  readonly #statfs: StatfsFn;
  readonly #statfsSync: StatfsSyncFn | undefined;
  readonly #stuck = new Set<string>();
  #cache: { text: string; rootfs: string; mounts: Array<MountEntry & { labels: Record<string, string> }> } | undefined;

  constructor(opts: FilesystemOptions = {}) {
    this.#mpExclude = opts.mountPointsExclude ?? DEFAULT_MOUNT_POINTS_EXCLUDE;
    this.#fsExclude = opts.fsTypesExclude ?? DEFAULT_FS_TYPES_EXCLUDE;
    this.#timeout = opts.mountTimeoutMs ?? 5000;
    this.#statfs = opts.statfs ?? defaultStatfs;
    this.#statfsSync = opts.statfsSync ?? (opts.statfs ? undefined : (p: string) => statfsSync(p));
  }

  describeSources(): string {
    return '1/mounts or self/mounts (procfs) and statfs(2) under rootfs';
  }

  async collect(ctx: ScrapeContext): Promise<void> {
    let text: string;
    try {
      text = ctx.readProc('1/mounts');
    } catch {
      text = ctx.readProc('self/mounts');
    }
    const mounts = this.#selected(text, ctx.rootfs);
    const results: Array<StatfsResult | undefined> = new Array(mounts.length);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < mounts.length; i++) {
      const m = mounts[i]!;
      const path = join(ctx.rootfs, m.mountpoint);
      if (this.#statfsSync !== undefined && !NETWORK_FS_TYPES.test(m.fstype)) {
        try {
          results[i] = this.#statfsSync(path);
        } catch {
          results[i] = undefined;
        }
      } else {
        pending.push(this.#stat(path).then((r) => void (results[i] = r)));
      }
    }
    if (pending.length > 0) await Promise.all(pending);
    for (let i = 0; i < mounts.length; i++) {
      const m = mounts[i]!;
      const s = results[i];
      const labels = { ...m.labels };
      ctx.emit({ name: 'node_filesystem_device_error', labels, value: s ? 0 : 1, help: LABEL_HELP.err, type: 'gauge' });
      if (!s) continue;
      const ro = m.options.split(',').includes('ro') ? 1 : 0;
      ctx.emit({ name: 'node_filesystem_size_bytes', labels, value: s.blocks * s.bsize, help: LABEL_HELP.size, type: 'gauge' });
      ctx.emit({ name: 'node_filesystem_free_bytes', labels, value: s.bfree * s.bsize, help: LABEL_HELP.free, type: 'gauge' });
      ctx.emit({ name: 'node_filesystem_avail_bytes', labels, value: s.bavail * s.bsize, help: LABEL_HELP.avail, type: 'gauge' });
      ctx.emit({ name: 'node_filesystem_files', labels, value: s.files, help: LABEL_HELP.files, type: 'gauge' });
      ctx.emit({ name: 'node_filesystem_files_free', labels, value: s.ffree, help: LABEL_HELP.filesFree, type: 'gauge' });
      ctx.emit({ name: 'node_filesystem_readonly', labels, value: ro, help: LABEL_HELP.ro, type: 'gauge' });
    }
  }

  /** Mounts to report; the mount table rarely changes, so the last result is reused while the text is identical. */
  #selected(text: string, rootfs: string): Array<MountEntry & { labels: Record<string, string> }> {
    if (this.#cache !== undefined && this.#cache.text === text && this.#cache.rootfs === rootfs) return this.#cache.mounts;
    const seen = new Set<string>();
    const mounts: Array<MountEntry & { labels: Record<string, string> }> = [];
    for (const m of parseMounts(text, rootfs)) {
      if (this.#mpExclude.test(m.mountpoint) || this.#fsExclude.test(m.fstype)) continue;
      const key = `${m.device}\0${m.mountpoint}\0${m.fstype}`;
      if (seen.has(key)) continue; // same mount listed twice (bind/propagation): one series, as node_exporter
      seen.add(key);
      mounts.push({ ...m, labels: { device: m.device, fstype: m.fstype, mountpoint: m.mountpoint } });
    }
    this.#cache = { text, rootfs, mounts };
    return mounts;
  }

  /** statfs with node_exporter's stuck-mount handling; undefined = device error. */
  async #stat(path: string): Promise<StatfsResult | undefined> {
    if (this.#stuck.has(path)) return undefined;
    const call = this.#statfs(path).then(
      (s) => s,
      () => undefined,
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#timeout);
      timer.unref?.();
    });
    const r = await Promise.race([call, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.#stuck.add(path);
      void call.then(() => this.#stuck.delete(path));
      return undefined;
    }
    return r;
  }
}
