/**
 * What the binary framing between an ingest process and the writer costs per batch
 * (aggregator/ingest/frames.ts), measured in this one process over a real unix socket:
 * encode a checked request (one zstd batch) as a STORE frame and write it; on the other end
 * cut and decode it, answer an ACKS frame; cut and decode that. CPU of both ends together
 * (process.cpuUsage), so it includes the four socket syscalls' share; 64 requests in flight.
 */
import { createServer, connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODEC_ZSTD, type WireRequest } from '../../lib/protocol/batches.js';
import { FrameReader, KIND_STORE, decodeAcks, decodeStore, encodeAcks, encodeStore } from '../../aggregator/ingest/frames.js';
import { nginxBatches } from './gen-nginx.js';
import { crc32c } from '../../lib/log/crc32c.js';

export interface IpcCost {
  /** CPU microseconds per batch, both ends */
  usPerBatch: number;
  /** bytes of one STORE frame */
  frameBytes: number;
  batches: number;
}

export async function measureIngestIpc(linesPer: number, total = 20_000): Promise<IpcCost> {
  const p = nginxBatches(7, 1, linesPer)[0]!;
  const wire: WireRequest = {
    producer: 'bench-ipc/0123456789',
    epoch: 1,
    host: 'bench-host-0',
    batches: [{ topic: 'many', source: '/var/log/nginx/access.log', seq: 1, sourceOffset: 0, lines: linesPer, timestamp: Date.now(), codec: CODEC_ZSTD, flags: 0, rawLength: p.rawLength, payload: p.payload, crc: crc32c(p.payload) }],
  };
  const dir = await mkdtemp(join(tmpdir(), 'logship-ipc-bench-'));
  const path = join(dir, 's.sock');
  const server = createServer((s) => {
    const r = new FrameReader((kind, id, c) => {
      if (kind !== KIND_STORE) throw new Error('kind');
      const { wire: w } = decodeStore(c);
      s.write(encodeAcks(id, w.batches.map((_, i) => ({ partition: 1, offset: 1000 + i, duplicate: false }))));
    });
    s.on('data', (d: Buffer) => r.push(d));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const sock = connect(path);
  await new Promise<void>((resolve) => sock.once('connect', resolve));
  let done = 0;
  let sent = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const send = () => {
    const frame = encodeStore(++sent, wire, '');
    sock.cork();
    for (const b of frame) sock.write(b);
    sock.uncork();
  };
  const reader = new FrameReader((_kind, _id, c) => {
    decodeAcks(c);
    if (++done === total) finish();
    else if (sent < total) send();
  });
  sock.on('data', (d: Buffer) => reader.push(d));
  const frameBytes = encodeStore(0, wire, '').reduce((s, b) => s + b.length, 0);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < 64 && sent < total; i++) send();
  await finished;
  const cpu = process.cpuUsage(cpu0);
  sock.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
  return { usPerBatch: (cpu.user + cpu.system) / total, frameBytes, batches: total };
}
