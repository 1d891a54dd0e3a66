/**
 * The storage contract suite (storage.contract.ts, unchanged) against
 * JetStream storage on a real three-node nats-server cluster, streams with
 * three replicas. Each test's directory name becomes its stream prefix, so
 * tests never see each other's topics, and a restart (the same directory)
 * reaches the same streams and buckets.
 */
import { afterAll, beforeAll } from 'vitest';
import { basename } from 'node:path';
import pino from 'pino';
import { storageContract } from './storage.contract.js';
import { jsConfig, startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { JetStreamStorage } from '../../aggregator/storage/jetstream/index.js';

let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3 });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

storageContract('jetstream (3-node cluster, R3)', ({ dir, settings }) => {
  const prefix = `lsc-${basename(dir).replace(/[^A-Za-z0-9]/g, '').slice(-12)}`;
  return new JetStreamStorage({ config: jsConfig(cluster.urls, prefix), settingsFor: () => settings, logger: pino({ level: 'silent' }) });
});
