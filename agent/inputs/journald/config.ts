/** The journald input's option table (house style 3) and its typed config; agent/config.ts puts it in the inputs union. */
import { t, table } from '../../../lib/config/option-table.js';
import { SEVERITY } from './record.js';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface JournaldInputConfig {
  type: 'journald';
  name: string;
  topic: string;
  units: string[];
  exclude_units: string[];
  identifiers: string[];
  priority: (typeof SEVERITY)[number];
  include_kernel: boolean;
  start_at: 'beginning' | 'end';
  current_boot_only: boolean;
  journal_directory?: string;
  journal_namespace?: string;
  max_message_bytes: number;
  journalctl: string;
}

export const journaldInputTable = table(
  [
    { key: 'name', type: t.name(), defaultFn: ({ index }) => `journald-${index ?? 0}`, defaultDoc: '"journald-<index>"', doc: 'input name, unique; the `source` of its records and the identity of its journal position' },
    { key: 'topic', type: t.topic(), required: true, doc: 'topic the journal entries go to' },
    { key: 'units', type: t.list(t.string()), default: [], doc: 'ship only entries whose _SYSTEMD_UNIT is one of these (e.g. nginx.service); empty: every unit' },
    { key: 'exclude_units', type: t.list(t.string()), default: [], doc: 'never ship entries whose _SYSTEMD_UNIT is one of these' },
    { key: 'identifiers', type: t.list(t.string()), default: [], doc: 'ship only entries whose SYSLOG_IDENTIFIER is one of these; empty: every identifier' },
    { key: 'priority', type: t.enum(SEVERITY), default: 'debug', doc: 'highest PRIORITY shipped (most verbose level): emerg alert crit err warning notice info debug; entries without PRIORITY are shipped' },
    { key: 'include_kernel', type: t.bool(), default: true, doc: 'ship kernel messages (_TRANSPORT=kernel); units, exclude_units and identifiers do not apply to them' },
    { key: 'start_at', type: t.enum(['beginning', 'end']), default: 'end', doc: 'where to start the first time (no stored cursor): the oldest entry kept, or after the newest' },
    {
      key: 'current_boot_only',
      type: t.bool(),
      default: false,
      doc: 'read only entries of the current boot (journalctl --boot); entries of an earlier boot not yet shipped when the host went down are then skipped',
    },
    { key: 'journal_directory', type: t.string(), optional: true, doc: 'read the journal files in this directory (journalctl --directory) instead of the system journal' },
    { key: 'journal_namespace', type: t.string(), optional: true, doc: 'read this journal namespace (journalctl --namespace); not with journal_directory' },
    { key: 'max_message_bytes', type: t.size({ min: 1 * KiB, max: 16 * MiB }), default: 1 * MiB, doc: 'a longer MESSAGE (and any longer field) is cut to this size; the record says its full length in message_truncated_bytes' },
    { key: 'journalctl', type: t.string(), default: 'journalctl', doc: 'the journalctl program run to read the journal (a path, or a name looked up in PATH)' },
  ],
  (v, ctx) => {
    if (ctx.has('journal_directory') && ctx.has('journal_namespace')) ctx.error('journal_namespace', 'set journal_directory or journal_namespace, not both');
  },
);
