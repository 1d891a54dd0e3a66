import { fields } from './read-file.js';
import type { Collector, ScrapeContext } from './types.js';

/** /proc/net/dev columns, receive then transmit, with node_exporter's names. */
export const NETDEV_COLUMNS = [
  'receive_bytes', 'receive_packets', 'receive_errs', 'receive_drop', 'receive_fifo', 'receive_frame', 'receive_compressed', 'receive_multicast',
  'transmit_bytes', 'transmit_packets', 'transmit_errs', 'transmit_drop', 'transmit_fifo', 'transmit_colls', 'transmit_carrier', 'transmit_compressed',
] as const;

const NAMES = NETDEV_COLUMNS.map((k) => `node_network_${k}_total`);
const HELPS = NETDEV_COLUMNS.map((k) => `Network device statistic ${k}.`);

/**
 * node_exporter 1.5.0 upstream default: no device excluded
 * (`--collector.netdev.device-exclude` empty). Debian's package patches the
 * default to `^lo$` — see DEBIAN_NETDEV_DEVICE_EXCLUDE.
 */
export const DEFAULT_NETDEV_DEVICE_EXCLUDE: RegExp | undefined = undefined;
export const DEBIAN_NETDEV_DEVICE_EXCLUDE = /^lo$/;

/** Parse /proc/net/dev: device -> 16 counters in NETDEV_COLUMNS order. */
export function parseNetDev(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end);
    pos = end + 1;
    const colon = line.lastIndexOf(':');
    if (colon < 0) continue; // the two header lines have '|' but no ':'
    const dev = line.slice(0, colon).trim();
    // old kernels print "eth0:1234" with no space once the counter is wide
    const f = fields(line.slice(colon + 1));
    if (dev === '' || f.length < 16) continue;
    const v = new Array<number>(16);
    for (let i = 0; i < 16; i++) v[i] = Number(f[i]);
    out.set(dev, v);
  }
  return out;
}

export interface NetworkOptions {
  deviceExclude?: RegExp;
  deviceInclude?: RegExp;
}

/**
 * `netdev` collector: node_network_{receive,transmit}_<col>_total{device}
 * from /proc/net/dev, plus node_network_receive_nohandler_total from sysfs
 * (node_exporter 1.5.0 gets it via netlink; /proc/net/dev has no column).
 */
export class NetworkCollector implements Collector {
  readonly name = 'netdev';
  readonly #exclude: RegExp | undefined;
  readonly #include: RegExp | undefined;

  constructor(opts: NetworkOptions = {}) {
    this.#exclude = opts.deviceExclude ?? DEFAULT_NETDEV_DEVICE_EXCLUDE;
    this.#include = opts.deviceInclude;
  }

  describeSources(): string {
    return 'net/dev (procfs) and class/net/*/statistics/rx_nohandler (sysfs)';
  }

  collect(ctx: ScrapeContext): void {
    const devs = parseNetDev(ctx.readProc('net/dev'));
    for (const [device, v] of devs) {
      if (this.#exclude?.test(device)) continue;
      if (this.#include && !this.#include.test(device)) continue;
      const labels = { device };
      for (let i = 0; i < 16; i++) {
        ctx.emit({ name: NAMES[i]!, labels, value: v[i]!, help: HELPS[i]!, type: 'counter' });
      }
      let nohandler: number | undefined;
      try {
        nohandler = Number(ctx.readSys(`class/net/${device}/statistics/rx_nohandler`).trim());
      } catch {
        nohandler = undefined; // kernel < 4.6 or device not visible in this sysfs
      }
      if (nohandler !== undefined && Number.isFinite(nohandler)) {
        ctx.emit({ name: 'node_network_receive_nohandler_total', labels, value: nohandler, help: 'Network device statistic receive_nohandler.', type: 'counter' });
      }
    }
  }
}
