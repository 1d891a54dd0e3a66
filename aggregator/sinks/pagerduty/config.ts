/** The pagerduty sink's option table (the sink itself is not implemented yet). */
import { t, table } from '../../../lib/config/option-table.js';
import { oneOf, sinkName } from '../config-common.js';
import { checkSecretFileKey } from '../../alerts/secrets.js';

export interface PagerDutySinkConfig {
  type: 'pagerduty';
  name: string;
  routing_key?: string;
  routing_key_file?: string;
  url: string;
}

export const pagerdutyOptions = table(
  [
    sinkName,
    { key: 'routing_key', type: t.string(), doc: 'Events API v2 integration key; or routing_key_file' },
    { key: 'routing_key_file', type: t.string(), doc: 'file holding the integration key' },
    { key: 'url', type: t.url(), default: 'https://events.pagerduty.com/v2/enqueue', doc: 'Events API v2 endpoint' },
  ],
  (v, ctx) => {
    oneOf('routing_key', 'routing_key_file', true)!(v, ctx);
    checkSecretFileKey('routing_key_file')(v, ctx);
  },
);
