/** The storage contract suite against LocalStorage on real temp dirs. */
import { LocalStorage } from '../../../../aggregator/storage/local.js';
import { silentLogger } from '../../../../lib/obs/logger.js';
import { storageContract } from '../../../contract/storage.contract.js';

storageContract('local', ({ dir, settings }) => new LocalStorage({ dataDir: dir, settingsFor: () => settings, logger: silentLogger(), fsync: true }));
