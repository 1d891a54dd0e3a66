/** The webhook sink's option table (the sink itself is not implemented yet). */
import { t, table } from '../../../lib/config/option-table.js';
import { sinkName } from '../config-common.js';

export interface WebhookSinkConfig {
  type: 'webhook';
  name: string;
  url: string;
}

export const webhookOptions = table([sinkName, { key: 'url', type: t.url(), required: true, doc: 'POST target for alert notifications (JSON)' }]);
