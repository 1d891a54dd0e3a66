/**
 * The option table of `storage: {type: jetstream, ...}` (house style 3): where
 * the NATS servers are, how to authenticate, and how streams are laid out.
 * aggregator/config.ts puts this table under the `storage` union.
 */
import { t, table } from '../../../lib/config/option-table.js';

const SECOND = 1000;

export interface JetStreamTlsConfig {
  ca_file?: string;
  cert_file?: string;
  key_file?: string;
}

export interface JetStreamStorageConfig {
  type: 'jetstream';
  servers: string[];
  replicas: number;
  token?: string;
  user?: string;
  password?: string;
  creds_file?: string;
  nkey_file?: string;
  tls?: JetStreamTlsConfig;
  stream_prefix: string;
  duplicate_window: number;
  request_timeout: number;
}

const tlsTable = table(
  [
    { key: 'ca_file', type: t.string(), doc: 'PEM CAs that sign the NATS servers\' certificates (default: the system CAs)' },
    { key: 'cert_file', type: t.string(), doc: 'PEM client certificate, for servers that verify clients' },
    { key: 'key_file', type: t.string(), doc: 'PEM private key of cert_file' },
  ],
  (_v, ctx) => {
    if (ctx.has('cert_file') !== ctx.has('key_file')) ctx.error(ctx.has('cert_file') ? 'cert_file' : 'key_file', 'cert_file and key_file go together: set both or neither');
  },
);

export const jetstreamTable = table(
  [
    { key: 'servers', type: t.list(t.url(['nats', 'tls']), { minItems: 1 }), required: true, doc: 'NATS server URLs (nats:// or tls://); the client reconnects to any of them' },
    { key: 'replicas', type: t.int({ min: 1, max: 5 }), default: 3, doc: 'replicas of every stream (3 survives one node down; needs that many JetStream nodes)' },
    { key: 'token', type: t.string(), doc: 'NATS auth token (never logged)' },
    { key: 'user', type: t.string(), doc: 'NATS user name (with password)' },
    { key: 'password', type: t.string(), doc: 'NATS password of user (never logged)' },
    { key: 'creds_file', type: t.string(), doc: 'NATS credentials file (JWT + seed), for operator/account setups' },
    { key: 'nkey_file', type: t.string(), doc: 'file holding an NKey user seed (SU...)' },
    { key: 'tls', type: t.object(tlsTable), optional: true, doc: 'TLS settings (tls:// servers, or servers that require TLS)' },
    {
      key: 'stream_prefix',
      type: t.string(),
      default: 'logship',
      validate: (v: string) => (/^[A-Za-z0-9-]{1,32}$/.test(v) ? undefined : 'stream_prefix must be 1-32 of [A-Za-z0-9-]'),
      doc: 'prefix of the stream and bucket names, so several logship installations can share one NATS account',
    },
    { key: 'duplicate_window', type: t.duration({ min: 100 }), default: 120 * SECOND, doc: 'JetStream duplicate window of new streams (Nats-Msg-Id); exactly-once does not depend on it' },
    { key: 'request_timeout', type: t.duration({ min: 100 }), default: 3 * SECOND, doc: 'one JetStream request (publish ack, info) fails after this long; ingest then answers 503' },
  ],
  (_v, ctx) => {
    const auth = ['token', 'user', 'creds_file', 'nkey_file'].filter((k) => ctx.has(k));
    if (auth.length > 1) ctx.error(auth[1]!, `set one of token, user/password, creds_file, nkey_file (got ${auth.join(' and ')})`);
    if (ctx.has('user') !== ctx.has('password')) ctx.error(ctx.has('user') ? 'user' : 'password', 'user and password go together');
  },
);
