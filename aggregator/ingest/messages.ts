/** Control messages on the cluster IPC channel between the writer and an ingest process (rare: JSON is fine here). */

import type { AggregatorConfig } from '../config.js';

export type ToWorker =
  /** first message: what to serve and where the writer's sockets are */
  | { t: 'config'; config: AggregatorConfig; dataPath: string; relayPath: string; index: number; level: string }
  /** finish in-flight requests, then exit 0 */
  | { t: 'stop' }
  /** answer with this process's metrics as JSON */
  | { t: 'metrics'; n: number };

export type FromWorker = { t: 'hello' } | { t: 'metrics'; n: number; json: object[] };

/**
 * On a relayed request (ingest process -> writer, private socket only): the client connection's
 * remote address|port|local address|port. Dropped from what clients send; the writer puts these
 * back on the request's socket.
 */
export const PEER_HEADER = 'x-logship-relay-peer';
