/** The alertmanager sink's option table (the sink itself is not implemented yet). */
import { table } from '../../../lib/config/option-table.js';
import { sinkName, urls } from '../config-common.js';

export interface AlertmanagerSinkConfig {
  type: 'alertmanager';
  name: string;
  urls: string[];
}

export const alertmanagerOptions = table([sinkName, urls('Alertmanager base URLs; alerts go to every one (Alertmanager deduplicates)')]);
