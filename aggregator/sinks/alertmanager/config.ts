/** The alertmanager sink's option table. */
import { t, table } from '../../../lib/config/option-table.js';
import { sinkName, urls } from '../config-common.js';

export interface AlertmanagerSinkConfig {
  type: 'alertmanager';
  name: string;
  urls: string[];
  resend_interval: number;
  timeout: number;
}

export const alertmanagerOptions = table([
  sinkName,
  urls('Alertmanager base URLs; alerts go to every one (an HA cluster deduplicates)'),
  { key: 'resend_interval', type: t.duration({ min: 1000 }), default: 60_000, doc: 'resend firing alerts this often, each with endsAt = now + 4 x resend_interval' },
  { key: 'timeout', type: t.duration({ min: 100 }), default: 10_000, doc: 'per request' },
]);
