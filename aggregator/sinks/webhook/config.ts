/** The webhook sink's option table. */
import { t, table } from '../../../lib/config/option-table.js';
import { oneOf, sinkName } from '../config-common.js';
import { checkSecretFileKey } from '../../alerts/secrets.js';

export interface WebhookSinkConfig {
  type: 'webhook';
  name: string;
  url: string;
  bearer_token?: string;
  bearer_token_file?: string;
  tls?: { ca_file?: string; cert_file?: string; key_file?: string };
  timeout: number;
}

export const webhookOptions = table(
  [
    sinkName,
    { key: 'url', type: t.url(), required: true, doc: 'POST target for alert notifications (Alertmanager webhook payload, version "4")' },
    { key: 'bearer_token', type: t.string(), doc: 'sent as Authorization: Bearer; or bearer_token_file' },
    { key: 'bearer_token_file', type: t.string(), doc: 'file holding the bearer token' },
    {
      key: 'tls',
      type: t.object(
        table(
          [
            { key: 'ca_file', type: t.string(), doc: 'PEM CAs to verify the receiver (default: the system CAs)' },
            { key: 'cert_file', type: t.string(), doc: 'PEM client certificate' },
            { key: 'key_file', type: t.string(), doc: 'PEM client key' },
          ],
          (v, ctx) => {
            if (ctx.has('cert_file') !== ctx.has('key_file')) ctx.error(ctx.has('cert_file') ? 'cert_file' : 'key_file', 'cert_file and key_file go together');
          },
        ),
      ),
      optional: true,
      doc: 'TLS options for an https:// url',
    },
    { key: 'timeout', type: t.duration({ min: 100 }), default: 10_000, doc: 'per request' },
  ],
  (v, ctx) => {
    oneOf('bearer_token', 'bearer_token_file', false)!(v, ctx);
    checkSecretFileKey('bearer_token_file')(v, ctx);
  },
);
