/**
 * Parse captured / hand-written /proc and /sys trees of several kernels and
 * check exact values. Formats covered:
 *  - linux-2.6.18-rhel5: /proc/stat with 8 cpu columns (no guest), diskstats
 *    with 14 fields for disks and 7 for partitions, net/dev with a counter
 *    glued to the colon ("eth0:4294967295").
 *  - linux-2.6.32-centos6: /proc/stat with 9 columns (guest, no guest_nice),
 *    meminfo without MemAvailable and with a stray blank line, diskstats 14
 *    fields, the "rootfs /" mount.
 *  - linux-4.19-baremetal: 10 columns with guest time, diskstats 18 fields
 *    (discards), udev data, thermal throttle counters, docker/snap/NFS mounts.
 *  - linux-6.18-kvm-capture: captured from the dev VM; diskstats 20 fields
 *    (discards + flush).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProcStatCpus } from '../../../../../agent/inputs/host-metrics/cpu.js';
import { parseDiskstats } from '../../../../../agent/inputs/host-metrics/disk.js';
import { DEBIAN_MOUNT_POINTS_EXCLUDE, parseMounts } from '../../../../../agent/inputs/host-metrics/filesystem.js';
import { parseMeminfo } from '../../../../../agent/inputs/host-metrics/memory.js';
import { parseNetDev } from '../../../../../agent/inputs/host-metrics/network.js';
import { parseProcStatMisc } from '../../../../../agent/inputs/host-metrics/stat.js';
import { DEBIAN_NETDEV_DEVICE_EXCLUDE } from '../../../../../agent/inputs/host-metrics/index.js';
import { fakeStatfs, find, fixture, labelValues, makeInput, names, st, val } from './helpers.js';

const MODES = ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user'];

describe('linux-4.19-baremetal', () => {
  const fx = fixture('linux-4.19-baremetal');
  const statfs = fakeStatfs(fx.rootfs, {
    '/': st(4096, 60_000_000, 20_000_000, 17_000_000, 15_000_000, 14_000_000),
    '/run': st(4096, 819491, 818000, 818000, 4096995, 4096000),
    '/run/lock': st(4096, 1280, 1279, 1279, 4096995, 4096990),
    '/boot/efi': st(512, 1048576, 1000000, 1000000, 0, 0),
    '/mnt/backup disk': st(4096, 100, 50, 40, 64, 60),
    '/srv/nfs': Object.assign(new Error('EIO: i/o error, statfs'), { code: 'EIO' }),
    '/run/user/1000': st(4096, 819490, 819490, 819490, 4096995, 4096980),
    '/srv/bind': st(4096, 60_000_000, 20_000_000, 17_000_000, 15_000_000, 14_000_000),
  });
  const scrape = async (extra = {}) => (await makeInput('linux-4.19-baremetal', { filesystem: { statfs }, ...extra }).scrape()).metrics;

  it('cpu: 8 modes per cpu in seconds (USER_HZ=100), guest time separate and not subtracted', async () => {
    const m = await scrape();
    expect(labelValues(m, 'node_cpu_seconds_total', 'cpu')).toEqual(['0', '1', '2', '3']);
    expect(labelValues(m, 'node_cpu_seconds_total', 'mode')).toEqual(MODES);
    expect(find(m, 'node_cpu_seconds_total')).toHaveLength(32);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'user' })).toBe(12501.23);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'nice' })).toBe(15);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'system' })).toBe(3600.12);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'idle' })).toBe(779600.11);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'iowait' })).toBe(401.23);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'softirq' })).toBe(600.11);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '3', mode: 'steal' })).toBe(0);
    expect(val(m, 'node_cpu_guest_seconds_total', { cpu: '0', mode: 'user' })).toBe(522.02);
    expect(val(m, 'node_cpu_guest_seconds_total', { cpu: '0', mode: 'nice' })).toBe(0);
    expect(find(m, 'node_cpu_guest_seconds_total')).toHaveLength(8);
    // first scrape: since boot, over all CPUs (sums of the per-cpu columns)
    const busy = 4705356 + 5826 + 1412334 + 161236 + 0 + 94127 + 0;
    expect(val(m, 'node_cpu_utilization')).toBeCloseTo(busy / (busy + 312418529), 9);
    expect(find(m, 'node_cpu_utilization')[0]!.labels).toEqual({});
  });

  it('cpu: thermal throttle counters per core and per package, HT siblings counted once', async () => {
    const m = await scrape();
    expect(find(m, 'node_cpu_core_throttles_total').map((x) => [x.labels, x.value])).toEqual([
      [{ core: '0', package: '0' }, 5],
      [{ core: '0', package: '1' }, 0],
    ]);
    expect(find(m, 'node_cpu_package_throttles_total').map((x) => [x.labels, x.value])).toEqual([
      [{ package: '0' }, 17],
      [{ package: '1' }, 3],
    ]);
  });

  it('meminfo: kB*1024 with _bytes, (anon) -> _anon, unit-less HugePages_* keep their bare name', async () => {
    const m = await scrape();
    const mem = m.filter((x) => x.name.startsWith('node_memory_'));
    expect(mem).toHaveLength(51); // one per line of the file
    expect(val(m, 'node_memory_MemTotal_bytes')).toBe(32779640 * 1024);
    expect(val(m, 'node_memory_MemAvailable_bytes')).toBe(25081444 * 1024);
    expect(val(m, 'node_memory_Active_anon_bytes')).toBe(5521481728);
    expect(val(m, 'node_memory_Inactive_file_bytes')).toBe(12825505792);
    expect(val(m, 'node_memory_VmallocTotal_bytes')).toBe(35184372087808);
    expect(val(m, 'node_memory_HugePages_Total')).toBe(16);
    expect(val(m, 'node_memory_HugePages_Free')).toBe(12);
    expect(val(m, 'node_memory_HugePages_Rsvd')).toBe(2);
    expect(val(m, 'node_memory_Hugepagesize_bytes')).toBe(2097152);
    expect(names(m).has('node_memory_HugePages_Total_bytes')).toBe(false);
    expect(mem.every((x) => x.type === 'gauge' && Object.keys(x.labels).length === 0)).toBe(true);
  });

  it('loadavg, stat, time', async () => {
    const m = await scrape();
    expect([val(m, 'node_load1'), val(m, 'node_load5'), val(m, 'node_load15')]).toEqual([1.73, 1.24, 0.98]);
    expect(val(m, 'node_boot_time_seconds')).toBe(1546300800);
    expect(val(m, 'node_context_switches_total')).toBe(2468810732);
    expect(val(m, 'node_intr_total')).toBe(1146537582);
    expect(val(m, 'node_forks_total')).toBe(8254871);
    expect(val(m, 'node_procs_running')).toBe(3);
    expect(val(m, 'node_procs_blocked')).toBe(1);
    expect(val(m, 'node_time_seconds')).toBe(1_700_000_000);
    expect(val(m, 'logship_host_uptime_seconds')).toBe(2592000.15);
  });

  it('diskstats (18 fields): partitions, loop excluded; discards present, flush absent; sectors x 512; ms -> s', async () => {
    const m = await scrape();
    expect(labelValues(m, 'node_disk_reads_completed_total', 'device')).toEqual(['dm-0', 'md0', 'nvme0n1', 'sda', 'sr0']);
    expect(labelValues(m, 'node_disk_info', 'device')).toEqual(['dm-0', 'md0', 'nvme0n1', 'sda', 'sr0']);
    const nv = { device: 'nvme0n1' };
    expect(val(m, 'node_disk_reads_completed_total', nv)).toBe(1128337);
    expect(val(m, 'node_disk_reads_merged_total', nv)).toBe(2211);
    expect(val(m, 'node_disk_read_bytes_total', nv)).toBe(79542238 * 512);
    expect(val(m, 'node_disk_read_time_seconds_total', nv)).toBeCloseTo(303.472, 9);
    expect(val(m, 'node_disk_writes_completed_total', nv)).toBe(2917566);
    expect(val(m, 'node_disk_writes_merged_total', nv)).toBe(1380549);
    expect(val(m, 'node_disk_written_bytes_total', nv)).toBe(193018592 * 512);
    expect(val(m, 'node_disk_write_time_seconds_total', nv)).toBeCloseTo(1969.288, 9);
    expect(val(m, 'node_disk_io_now', nv)).toBe(0);
    expect(val(m, 'node_disk_io_now', { device: 'dm-0' })).toBe(2);
    expect(val(m, 'node_disk_io_time_seconds_total', nv)).toBeCloseTo(1150.112, 9);
    expect(val(m, 'node_disk_io_time_weighted_seconds_total', nv)).toBeCloseTo(2275.768, 9);
    expect(val(m, 'node_disk_discards_completed_total', nv)).toBe(108);
    expect(val(m, 'node_disk_discards_merged_total', nv)).toBe(0);
    expect(val(m, 'node_disk_discarded_sectors_total', nv)).toBe(26210640); // sectors, not bytes
    expect(val(m, 'node_disk_discard_time_seconds_total', nv)).toBeCloseTo(0.093, 9);
    expect(names(m).has('node_disk_flush_requests_total')).toBe(false);
    expect(find(m, 'node_disk_io_now')[0]!.type).toBe('gauge');
    expect(find(m, 'node_disk_read_bytes_total')[0]!.type).toBe('counter');
  });

  it('diskstats: node_disk_info and the udev-derived series', async () => {
    const m = await scrape();
    expect(find(m, 'node_disk_info', { device: 'sda' })[0]!.labels).toEqual({
      device: 'sda', major: '8', minor: '0', path: 'pci-0000:00:17.0-ata-1', wwn: '0x5002538e40a1b2c3',
      model: 'Samsung_SSD_860_EVO_500GB', serial: 'S3Z1NB0K123456A', revision: 'RVT04B6Q',
    });
    // SCSI_IDENT_SERIAL wins over ID_SERIAL_SHORT
    expect(find(m, 'node_disk_info', { device: 'nvme0n1' })[0]!.labels.serial).toBe('S4EWNX0R123456Z');
    expect(find(m, 'node_disk_info', { device: 'md0' })[0]!.labels).toEqual({ device: 'md0', major: '9', minor: '0', path: '', wwn: '', model: '', serial: '', revision: '' });
    expect(val(m, 'node_disk_ata_write_cache', { device: 'sda' })).toBe(1);
    expect(val(m, 'node_disk_ata_write_cache_enabled', { device: 'sda' })).toBe(1);
    expect(val(m, 'node_disk_ata_rotation_rate_rpm', { device: 'sda' })).toBe(0);
    expect(find(m, 'node_disk_filesystem_info')[0]!.labels).toEqual({ device: 'dm-0', type: 'ext4', usage: 'filesystem', uuid: '2f0e1c3a-7b6d-4e5f-8a9b-0c1d2e3f4a5b', version: '1.0' });
    expect(find(m, 'node_disk_device_mapper_info')[0]!.labels).toEqual({
      device: 'dm-0', name: 'vg0-root', uuid: 'LVM-q3Hm8fJ0vQ2o1sT4wX5yZ6aB7cD8eF9gH0iJ1kL2mN3oP4qR5sT6uV7wX8yZ9aB0', vg_name: 'vg0', lv_name: 'root', lv_layer: '',
    });
  });

  it('netdev: every device (upstream default), 16 /proc/net/dev columns + nohandler from sysfs', async () => {
    const m = await scrape();
    expect(labelValues(m, 'node_network_receive_bytes_total', 'device')).toEqual(['docker0', 'enp3s0', 'lo', 'veth1a2b3c4']);
    const e = { device: 'enp3s0' };
    expect(val(m, 'node_network_receive_bytes_total', e)).toBe(48210394821);
    expect(val(m, 'node_network_receive_packets_total', e)).toBe(41203341);
    expect(val(m, 'node_network_receive_drop_total', e)).toBe(218);
    expect(val(m, 'node_network_receive_multicast_total', e)).toBe(203311);
    expect(val(m, 'node_network_transmit_bytes_total', e)).toBe(9182734012);
    expect(val(m, 'node_network_transmit_packets_total', e)).toBe(20318839);
    expect(val(m, 'node_network_receive_nohandler_total', e)).toBe(1377);
    expect(find(m, 'node_network_receive_nohandler_total', { device: 'veth1a2b3c4' })).toHaveLength(0);
    expect(m.filter((x) => x.name.startsWith('node_network_') && x.labels.device === 'enp3s0')).toHaveLength(17);
    const deb = (await scrape({ netdev: { deviceExclude: DEBIAN_NETDEV_DEVICE_EXCLUDE } }));
    expect(labelValues(deb, 'node_network_receive_bytes_total', 'device')).toEqual(['docker0', 'enp3s0', 'veth1a2b3c4']);
  });

  it('filesystem: upstream default exclusions keep tmpfs under /run, drop /dev, /sys, /proc, overlay, squashfs, /run/credentials', async () => {
    const m = await scrape();
    expect(labelValues(m, 'node_filesystem_device_error', 'mountpoint')).toEqual(['/', '/boot/efi', '/mnt/backup disk', '/run', '/run/lock', '/run/user/1000', '/srv/bind', '/srv/nfs']);
    const root = { device: '/dev/mapper/vg0-root', fstype: 'ext4', mountpoint: '/' };
    expect(find(m, 'node_filesystem_size_bytes', { mountpoint: '/' })).toHaveLength(1); // listed twice in mounts, one series
    expect(find(m, 'node_filesystem_size_bytes', { mountpoint: '/' })[0]!.labels).toEqual(root);
    expect(val(m, 'node_filesystem_size_bytes', root)).toBe(60_000_000 * 4096);
    expect(val(m, 'node_filesystem_free_bytes', root)).toBe(20_000_000 * 4096);
    expect(val(m, 'node_filesystem_avail_bytes', root)).toBe(17_000_000 * 4096);
    expect(val(m, 'node_filesystem_files', root)).toBe(15_000_000);
    expect(val(m, 'node_filesystem_files_free', root)).toBe(14_000_000);
    expect(val(m, 'node_filesystem_readonly', root)).toBe(0);
    expect(val(m, 'node_filesystem_device_error', root)).toBe(0);
    expect(val(m, 'node_filesystem_readonly', { mountpoint: '/mnt/backup disk' })).toBe(1);
    expect(val(m, 'node_filesystem_size_bytes', { mountpoint: '/boot/efi', fstype: 'vfat', device: '/dev/nvme0n1p1' })).toBe(512 * 1048576);
    // same device at a second mount point: its own series
    expect(val(m, 'node_filesystem_size_bytes', { device: '/dev/mapper/vg0-root', mountpoint: '/srv/bind' })).toBe(60_000_000 * 4096);
    // statfs failing: device_error=1 and no other series for that mount
    expect(val(m, 'node_filesystem_device_error', { mountpoint: '/srv/nfs', device: 'nas:/export', fstype: 'nfs4' })).toBe(1);
    expect(m.filter((x) => x.labels.mountpoint === '/srv/nfs')).toHaveLength(1);
  });

  it("filesystem: Debian's patched default also drops /run, /mnt, /media", async () => {
    const m = await scrape({ filesystem: { statfs, mountPointsExclude: DEBIAN_MOUNT_POINTS_EXCLUDE } });
    expect(labelValues(m, 'node_filesystem_device_error', 'mountpoint')).toEqual(['/', '/boot/efi', '/srv/bind', '/srv/nfs']);
  });
});

describe('linux-2.6.32-centos6', () => {
  const fx = fixture('linux-2.6.32-centos6');
  const statfs = fakeStatfs(fx.rootfs, { '/': st(4096, 5_000_000, 4_000_000, 3_700_000, 1_310_720, 1_250_000) });

  it('stat with 9 cpu columns (no guest_nice): guest nice = 0; old meminfo with a blank line', async () => {
    const { metrics: m } = await makeInput('linux-2.6.32-centos6', { filesystem: { statfs } }).scrape();
    expect(val(m, 'node_cpu_seconds_total', { cpu: '1', mode: 'idle' })).toBe(113138.45);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'irq' })).toBe(1.27);
    expect(val(m, 'node_cpu_guest_seconds_total', { cpu: '0', mode: 'user' })).toBe(0);
    expect(val(m, 'node_cpu_guest_seconds_total', { cpu: '0', mode: 'nice' })).toBe(0);
    expect(val(m, 'node_memory_MemTotal_bytes')).toBe(1922196 * 1024);
    expect(find(m, 'node_memory_MemAvailable_bytes')).toHaveLength(0); // kernel < 3.14
    expect(val(m, 'node_memory_Inactive_anon_bytes')).toBe(62376 * 1024);
    expect(val(m, 'node_memory_HardwareCorrupted_bytes')).toBe(0);
    expect(val(m, 'node_memory_HugePages_Surp')).toBe(0);
    expect(m.filter((x) => x.name.startsWith('node_memory_'))).toHaveLength(42);
    expect(val(m, 'node_boot_time_seconds')).toBe(1062191376);
    expect(val(m, 'node_intr_total')).toBe(114930548);
    expect(val(m, 'logship_host_uptime_seconds')).toBe(113127.42);
    expect([val(m, 'node_load1'), val(m, 'node_load5'), val(m, 'node_load15')]).toEqual([0, 0.01, 0.05]);
  });

  it('diskstats 14 fields: 11 metrics per disk; xvd partitions, loop, ram dropped', async () => {
    const { metrics: m } = await makeInput('linux-2.6.32-centos6', { filesystem: { statfs } }).scrape();
    expect(labelValues(m, 'node_disk_info', 'device')).toEqual(['xvda', 'xvdb']);
    expect(m.filter((x) => x.name.startsWith('node_disk_') && x.name !== 'node_disk_info' && x.labels.device === 'xvda')).toHaveLength(11);
    expect(names(m).has('node_disk_discards_completed_total')).toBe(false);
    expect(val(m, 'node_disk_written_bytes_total', { device: 'xvda' })).toBe(1114402 * 512);
    expect(val(m, 'node_disk_io_time_weighted_seconds_total', { device: 'xvdb' })).toBeCloseTo(0.212, 9);
  });

  it('mounts: "rootfs /" and "/dev/xvda1 /" are two series (as node_exporter), usbfs under /proc dropped', async () => {
    const { metrics: m } = await makeInput('linux-2.6.32-centos6', { filesystem: { statfs } }).scrape();
    expect(find(m, 'node_filesystem_size_bytes').map((x) => x.labels)).toEqual([
      { device: 'rootfs', fstype: 'rootfs', mountpoint: '/' },
      { device: '/dev/xvda1', fstype: 'ext4', mountpoint: '/' },
    ]);
    expect(val(m, 'node_network_receive_bytes_total', { device: 'eth0' })).toBe(12345678901);
    expect(val(m, 'node_network_receive_drop_total', { device: 'eth0' })).toBe(12);
    // no sysfs in this fixture: nohandler simply absent, the collector does not fail
    expect(names(m).has('node_network_receive_nohandler_total')).toBe(false);
    expect(val(m, 'logship_host_metrics_collector_errors_total', { collector: 'netdev' })).toBe(0);
    expect(val(m, 'logship_host_metrics_collector_errors_total', { collector: 'cpu' })).toBe(0);
  });
});

describe('linux-2.6.18-rhel5 (parsers)', () => {
  const dir = fixture('linux-2.6.18-rhel5').procRoot;

  it('stat with 8 columns: steal present, guest columns absent -> 0', () => {
    const cpus = parseProcStatCpus(readFileSync(join(dir, 'stat'), 'latin1'));
    expect([...cpus.keys()]).toEqual(['0', '1']);
    expect([...cpus.get('0')!]).toEqual([52.1, 0.01, 24.1, 39198.7, 67.22, 3.31, 11.01, 0, 0, 0]);
    const misc = parseProcStatMisc(readFileSync(join(dir, 'stat'), 'latin1'));
    expect(misc).toEqual({ btime: 1199145600, ctxt: 3716283, intr: 8110213, processes: 24811, procsRunning: 1, procsBlocked: 0 });
  });

  it('diskstats: 7-field partition lines are skipped, 14-field lines give 11 counters', () => {
    const d = parseDiskstats(readFileSync(join(dir, 'diskstats'), 'latin1'));
    expect(d.map((x) => x.device)).toEqual(['ram0', 'ram1', 'hda', 'sda', 'dm-0', 'dm-1', 'fd0', 'md0']);
    expect(d.find((x) => x.device === 'sda')).toEqual({
      major: '8', minor: '0', device: 'sda', stats: [112316, 10434, 3463934, 783264, 401569, 1063447, 11729192, 19346240, 0, 1086088, 20129508],
    });
  });

  it('collector: hda, sda, dm-*, md0 kept; ram, fd dropped', async () => {
    const { metrics: m } = await makeInput('linux-2.6.18-rhel5', { collectors: ['diskstats', 'netdev', 'cpu'] }).scrape();
    expect(labelValues(m, 'node_disk_info', 'device')).toEqual(['dm-0', 'dm-1', 'hda', 'md0', 'sda']);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '1', mode: 'softirq' })).toBe(1.02);
    expect(val(m, 'node_cpu_guest_seconds_total', { cpu: '1', mode: 'user' })).toBe(0);
  });

  it('net/dev: counter glued to the colon ("eth0:4294967295")', () => {
    const n = parseNetDev(readFileSync(join(dir, 'net/dev'), 'latin1'));
    expect([...n.keys()]).toEqual(['lo', 'eth0', 'sit0']);
    expect(n.get('eth0')).toEqual([4294967295, 38220155, 3, 7, 0, 1, 0, 312, 2345678901, 24587762, 0, 2, 0, 5, 4, 0]);
  });
});

describe('linux-6.18-kvm-capture (captured on the dev VM)', () => {
  const fx = fixture('linux-6.18-kvm-capture');
  const statfs = fakeStatfs(fx.rootfs, { '/': st(4096, 66053021, 60259693, 20804401, 16777216, 16366263) });

  it('diskstats 20 fields: discard and flush series; zram kept, loop dropped', async () => {
    const { metrics: m } = await makeInput('linux-6.18-kvm-capture', { filesystem: { statfs } }).scrape();
    expect(labelValues(m, 'node_disk_info', 'device')).toEqual(['vda', 'zram0']);
    const v = { device: 'vda' };
    expect(m.filter((x) => x.name.startsWith('node_disk_') && x.name !== 'node_disk_info' && x.labels.device === 'vda')).toHaveLength(17);
    expect(val(m, 'node_disk_reads_completed_total', v)).toBe(75290);
    expect(val(m, 'node_disk_read_bytes_total', v)).toBe(2781818 * 512);
    expect(val(m, 'node_disk_io_now', v)).toBe(0);
    expect(val(m, 'node_disk_discards_completed_total', v)).toBe(3813);
    expect(val(m, 'node_disk_discarded_sectors_total', v)).toBe(93904);
    expect(val(m, 'node_disk_discard_time_seconds_total', v)).toBeCloseTo(1.418, 9);
    expect(val(m, 'node_disk_flush_requests_total', v)).toBe(883);
    expect(val(m, 'node_disk_flush_requests_time_seconds_total', v)).toBeCloseTo(0.02, 9);
  });

  it('stat 10 columns, meminfo of a 6.x kernel, mounts with cgroup v1 and duplicated lines', async () => {
    const { metrics: m } = await makeInput('linux-6.18-kvm-capture', { filesystem: { statfs } }).scrape();
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'user' })).toBe(76.78);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '1', mode: 'steal' })).toBe(17.61);
    expect(val(m, 'node_memory_MemTotal_bytes')).toBe(24684096 * 1024);
    expect(m.filter((x) => x.name.startsWith('node_memory_'))).toHaveLength(54);
    expect(val(m, 'node_boot_time_seconds')).toBe(1795313260);
    expect(find(m, 'node_filesystem_size_bytes').map((x) => x.labels)).toEqual([{ device: '/dev/vda', fstype: 'ext4', mountpoint: '/' }]);
    expect(val(m, 'node_filesystem_avail_bytes')).toBe(20804401 * 4096);
    expect(labelValues(m, 'node_network_receive_bytes_total', 'device')).toEqual(['eth0', 'ifb0', 'ifb1', 'lo']);
    expect(val(m, 'node_network_receive_bytes_total', { device: 'eth0' })).toBe(180033366);
  });
});

describe('parsers: edge cases', () => {
  it('meminfo: names with parentheses, unit-less, blank and malformed lines', () => {
    const m = parseMeminfo('Active(anon):  10 kB\n\nHugePages_Total:   3\nweird line with many parts\nInactive(file):  2 kB\n');
    expect([...m]).toEqual([['Active_anon_bytes', 10240], ['HugePages_Total', 3], ['Inactive_file_bytes', 2048]]);
  });

  it('mounts: \\040 and \\011 escapes decoded; rootfs prefix stripped', () => {
    const m = parseMounts('/dev/sdb1 /host/media/my\\040disk\\011x ext4 rw 0 0\n/dev/sda1 /host ext4 ro 0 0\n', '/host');
    expect(m).toEqual([
      { device: '/dev/sdb1', mountpoint: '/media/my disk\tx', fstype: 'ext4', options: 'rw' },
      { device: '/dev/sda1', mountpoint: '/', fstype: 'ext4', options: 'ro' },
    ]);
    expect(() => parseMounts('bad line\n')).toThrow(/malformed mount point/);
  });
});
