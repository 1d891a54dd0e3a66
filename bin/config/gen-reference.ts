/**
 * Renders docs/config-reference.md from the option tables (house style 3).
 * A unit test keeps the committed file equal to renderReference().
 *
 * Regenerate: npm run build && node dist/bin/config/gen-reference.js [OUT]
 * (OUT defaults to docs/config-reference.md under the working directory).
 */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { agentOptions } from '../../agent/config.js';
import { aggregatorOptions } from '../../aggregator/config.js';
import { typeName, type OptionSpec, type OptionTable, type OptionType } from '../../lib/config/option-table.js';
import { formatDuration, formatSize } from '../../lib/config/units.js';

interface Row {
  key: string;
  type: string;
  def: string;
  doc: string;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => `\`${s}\``;

function range(type: OptionType): string {
  if (!('min' in type || 'max' in type)) return '';
  const fmt = type.kind === 'size' ? formatSize : type.kind === 'duration' ? formatDuration : String;
  const min = 'min' in type ? type.min : undefined;
  const max = 'max' in type ? type.max : undefined;
  if (min !== undefined && max !== undefined) return ` ${fmt(min)}..${fmt(max)}`;
  if (min !== undefined) return ` >= ${fmt(min)}`;
  if (max !== undefined) return ` <= ${fmt(max)}`;
  return '';
}

function docType(type: OptionType): string {
  if (type.kind === 'list' && type.minItems) return `${typeName(type)}, at least ${type.minItems}`;
  if (type.kind === 'map') return `map: ${type.placeholder} to ${docType(type.of)}`;
  if (type.kind === 'list') return `list of ${type.of.kind === 'object' || type.of.kind === 'union' || type.of.kind === 'shape' ? 'objects' : docType(type.of)}`;
  return typeName(type) + range(type);
}

function formatValue(value: unknown, type: OptionType): string {
  if (type.kind === 'size' && typeof value === 'number') return code(formatSize(value));
  if (type.kind === 'duration' && typeof value === 'number') return code(formatDuration(value));
  if (value === '') return code("''");
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return code(String(value));
  if (Array.isArray(value) && value.length === 0) return code('[]');
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return code('{}');
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return code(`{${Object.entries(value).map(([k, v]) => `${k}: ${String(v)}`).join(', ')}}`);
  }
  return code(JSON.stringify(value));
}

function defaultOf(spec: OptionSpec): string {
  if (spec.required) return '**required**';
  if (spec.defaultDoc) return spec.defaultDoc.startsWith('"') ? code(spec.defaultDoc.replace(/^"(.*)"(.*)$/, '$1')) + spec.defaultDoc.replace(/^"(.*)"/, '') : spec.defaultDoc;
  if (spec.default !== undefined) return formatValue(spec.default, spec.type);
  const k = spec.type.kind;
  if ((k === 'object' || k === 'map') && !spec.optional) return 'see below';
  return '—';
}

function rowsOf(tbl: OptionTable, prefix: string, rows: Row[], inherit?: string): void {
  for (const spec of tbl.options) {
    const key = prefix === '' ? spec.key : `${prefix}.${spec.key}`;
    const def = inherit && spec.default === undefined && !spec.required ? code(`${inherit}.${spec.key}`) : defaultOf(spec);
    rows.push({ key: code(key), type: docType(spec.type), def, doc: spec.doc });
    nested(spec.type, key, rows);
  }
}

function nested(type: OptionType, key: string, rows: Row[]): void {
  switch (type.kind) {
    case 'object':
      rowsOf(type.table, key, rows);
      break;
    case 'map':
      for (const [name, sub] of Object.entries(type.special ?? {})) {
        if (sub.kind === 'object') rowsOf(sub.table, `${key}.${name}`, rows);
      }
      if (type.of.kind === 'object') {
        const inherit = type.special?.default ? `${key}.default` : undefined;
        rowsOf(type.of.table, `${key}.${type.placeholder}`, rows, inherit);
      }
      break;
    case 'list':
      nested(type.of, `${key}[]`, rows);
      break;
    case 'union': {
      const base = key.endsWith('[]') ? key.slice(0, -2) : key;
      for (const [name, tbl] of Object.entries(type.variants)) {
        const variantKey = key.endsWith('[]') ? `${base}[${type.discriminator}=${name}]` : `${base}(${type.discriminator}=${name})`;
        rows.push({ key: code(`${variantKey}.${type.discriminator}`), type: code(name), def: '**required**', doc: `selects the keys of a ${name} ${base.split('.').pop()!.replace(/s$/, '')}` });
        rowsOf(tbl, variantKey, rows);
      }
      break;
    }
    case 'shape': {
      const base = key.endsWith('[]') ? key.slice(0, -2) : key;
      for (const v of type.variants) rowsOf(v.table, `${base}[${v.name}]`, rows);
      break;
    }
    default:
      break;
  }
}

function renderTable(tbl: OptionTable): string {
  const rows: Row[] = [];
  rowsOf(tbl, '', rows);
  const lines = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${cell(r.key)} | ${cell(r.type)} | ${cell(r.def)} | ${cell(r.doc)} |`);
  return lines.join('\n');
}

const INTRO = `# logship configuration reference

<!-- Generated by bin/config/gen-reference.ts from the option tables in
agent/config.ts and aggregator/config.ts; do not edit by hand. Regenerate with
\`npm run build && node dist/bin/config/gen-reference.js\`. A unit test fails
when this file and the tables disagree. -->

Configuration files are YAML. \`logship check --config FILE\` validates any of
them: it exits 0 with a one-line summary, or exits 2 listing every problem, one
a line, as \`FILE:LINE:COL: key.path: message\`, for example

    agent.yaml:7:5: inputs[0].multline: unknown key (did you mean "multiline"?)

Every problem in a file is reported at once, not just the first. Problems with a
value point at the value; unknown keys at the key; a missing required key at
its parent (the parent's key, the list item, or the top of the file).

## Rules for every file

- **Unknown keys are errors**, with a "did you mean" when a known key is within
  two edits or starts with what was typed (or the reverse).
- **Environment variables.** \`\${VAR}\` and \`\${VAR:-default}\` are replaced inside
  any scalar value before it is converted, so \`max_bytes: \${BUF:-2GiB}\` works.
  The default is used when the variable is unset or empty. An unset variable
  without a default is an error at its position. \`$\${\` is a literal \`\${\`.
  Keys are never substituted. Inside flow collections (\`[...]\`, \`{...}\`) quote
  a value holding \`\${...}\`, since YAML does not allow \`{\` in a plain scalar there.
  A substituted value may be a number or \`true\`/\`false\` where one is expected.
- **Sizes** are bytes: a plain integer, or a number (decimals allowed if the
  result is whole) with a unit: \`B\`, \`KiB\` \`MiB\` \`GiB\` \`TiB\` (powers of 1024),
  \`KB\` \`MB\` \`GB\` \`TB\` (powers of 1000). Units are case-insensitive; a space
  before the unit is allowed. Examples: \`512KiB\`, \`64MiB\`, \`2GiB\`, \`10MB\`, \`4096\`.
- **Durations** are milliseconds: \`500ms\`, \`10s\`, \`5m\`, \`2h\`, \`7d\`, or compound
  \`1h30m\`; decimals allowed if the result is a whole millisecond (\`1.5s\`). A
  bare number is an error (seconds or milliseconds?), except \`0\`.
- **Topic names**: 1-200 characters of \`A-Z a-z 0-9 . _ -\`, not \`.\` or \`..\`;
  checked everywhere a topic appears (inputs, topic overrides, sinks, alerts).
- **Names** of inputs, sinks and tokens: 1-200 characters of \`A-Z a-z 0-9 . _ -\`,
  starting with a letter or digit, unique within their list.
- **Listen addresses** are \`host:port\`: an IPv4 address, a host name, or an
  IPv6 address in brackets (\`[::1]:9400\`); port 0-65535 (0: any free port).
- **URLs** must be absolute with the scheme shown in the type column.
- **Regexes** are JavaScript regular expression sources, compiled without flags.
- An empty value (\`key:\` or \`key: ~\`) counts as not set, so the default applies;
  for a required key it is an error.
- Relative paths are relative to the working directory of the process.
- YAML anchors and aliases work; merge keys (\`<<\`) are not supported.

In the tables, \`a.b\` is key \`b\` inside mapping \`a\`; \`a[]\` is an item of list
\`a\`; \`inputs[type=file]\` is an item of \`inputs\` whose \`type\` is \`file\`;
\`alerts[match]\` is an alert rule of the log-match kind; \`storage(type=jetstream)\`
is the \`storage\` mapping when its \`type\` is \`jetstream\`; \`TOPIC\`, \`LABEL\` and
\`NAME\` stand for keys you choose.`;

const AGENT = `## Agent: \`logship agent --config FILE\`

One per host, under systemd. Tails files and samples host metrics into a disk
buffer and forwards it to the aggregator. Example: \`config/agent.example.yaml\`.`;

const AGGREGATOR = `## Aggregator: \`logship aggregator --config FILE\`

Receives batches, stores topics, feeds sinks and alert rules. Every key has a
default, so an empty file is a valid aggregator config listening on
127.0.0.1:9400. Example: \`config/aggregator.example.yaml\`.

With no \`auth.tokens\` the aggregator refuses to start unless \`listen\` is a
loopback address (127.0.0.0/8, \`::1\`, \`localhost\`); \`logship check\` accepts such a
file, since whether it is safe depends on where it runs.

\`topics.default\` applies to every topic; a named entry such as
\`app: {partitions: 8}\` overrides only the keys it sets. A topic named \`default\`
cannot have its own entry.

Alert rules come in three kinds, told apart by their keys: a **match** rule has
\`topic\`/\`match\`/\`threshold\`/\`window\`; a **metric** rule has \`metric\` with
exactly one of \`above\`/\`below\`; an **absent** rule has \`absent_for\`. Every name
in an alert's \`sinks\` must be a configured alertmanager, pagerduty or webhook
sink.`;

const START = `## All-in-one: \`logship start [--config FILE] [--data-dir DIR]\`

One file with two sections, \`aggregator:\` and \`agent:\`, each taking exactly the
keys of the tables above (\`npm start\` uses \`config/logship.yaml\`). Defaults
differ in three places:

| key | default |
|---|---|
| \`aggregator.data_dir\` | \`<data dir>/aggregator\` |
| \`agent.data_dir\` | \`<data dir>/agent\` |
| \`agent.aggregator.urls\` | \`[http://<aggregator.listen>]\` (\`https\` when \`aggregator.tls\` is set; \`0.0.0.0\` and \`[::]\` become loopback), so the whole \`agent.aggregator\` section may be omitted |

The data dir is \`--data-dir\`, else \`$LOGSHIP_DATA_DIR\`, else \`./data\`, made
absolute. Two cross-checks apply: \`agent.aggregator.max_request_bytes\` must not
exceed \`aggregator.limits.max_body_bytes\`, nor \`agent.batch.max_bytes\`
\`aggregator.limits.max_decompressed_batch_bytes\`.

\`logship check\` tells the kind of a file by its shape: top-level \`agent:\` and
\`aggregator:\` sections make an all-in-one file; a top-level \`inputs\` an agent
file; anything else an aggregator file.`;

/** The whole reference document. */
export function renderReference(): string {
  return [INTRO, AGENT, renderTable(agentOptions), AGGREGATOR, renderTable(aggregatorOptions), START].join('\n\n') + '\n';
}

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? 'docs/config-reference.md');
  await writeFile(out, renderReference());
  process.stdout.write(`wrote ${out}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  });
}
