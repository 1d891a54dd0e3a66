/** The elasticsearch sink's option table. */
import { t, table } from '../../../lib/config/option-table.js';
import { oneOf, sinkName, urls } from '../config-common.js';

export interface ElasticsearchTlsConfig {
  ca_file?: string;
  cert_file?: string;
  key_file?: string;
  verify: boolean;
}

export interface ElasticsearchSinkConfig {
  type: 'elasticsearch';
  name: string;
  topics: string[];
  urls: string[];
  /** set unless `index` is; default "logs-{topic}-default" */
  data_stream?: string;
  index?: string;
  api_key?: string;
  api_key_file?: string;
  username?: string;
  username_file?: string;
  password?: string;
  password_file?: string;
  tls?: ElasticsearchTlsConfig;
  /** default: true for data streams, false for indices */
  manage_template: boolean;
  batch_max_bytes: number;
  batch_max_docs: number;
  gzip: boolean;
  /** adaptive concurrency bounds (bulk requests in flight for the whole sink) */
  min_concurrency: number;
  max_concurrency: number;
  request_timeout: number;
  dead_letter_topic?: string;
  /** a pipeline name for this sink's documents instead of the topic's; "none": no pipeline */
  pipeline?: string;
}

const tlsTable = table(
  [
    { key: 'ca_file', type: t.string(), doc: 'PEM CAs that sign the Elasticsearch certificate (default: the system CAs)' },
    { key: 'cert_file', type: t.string(), doc: 'PEM client certificate (with key_file), for a cluster that requires one' },
    { key: 'key_file', type: t.string(), doc: 'PEM private key of cert_file' },
    { key: 'verify', type: t.bool(), default: true, doc: 'verify the server certificate and host name; false only for tests' },
  ],
  (v, ctx) => {
    if (ctx.has('cert_file') !== ctx.has('key_file')) ctx.error(ctx.has('cert_file') ? 'cert_file' : 'key_file', 'cert_file and key_file go together: set both or neither');
    if (v.verify === false) ctx.warn('verify', 'the server certificate is not checked: anyone on the path can read the logs and the credentials');
  },
);

export const elasticsearchOptions = table(
  [
    sinkName,
    { key: 'topics', type: t.list(t.topic(), { minItems: 1 }), required: true, doc: 'topics to index' },
    urls('Elasticsearch or OpenSearch base URLs, tried in order (failover)'),
    {
      key: 'data_stream',
      type: t.string(),
      defaultDoc: '"logs-{topic}-default" unless index is set',
      doc: 'data stream name; `{topic}` becomes the topic, lower-cased, with `-` as `_`',
    },
    { key: 'index', type: t.string(), doc: 'index name instead of a data stream; `{topic}` (lower-cased) and date patterns like `{yyyy.MM.dd}` (the record time, UTC) are replaced' },
    { key: 'api_key', type: t.string(), doc: 'API key, sent as `Authorization: ApiKey`: the encoded key, or id:key; or username and password' },
    { key: 'api_key_file', type: t.string(), doc: 'file holding api_key (read at start)' },
    { key: 'username', type: t.string(), doc: 'basic auth user' },
    { key: 'username_file', type: t.string(), doc: 'file holding username' },
    { key: 'password', type: t.string({ allowEmpty: true }), doc: 'basic auth password' },
    { key: 'password_file', type: t.string(), doc: 'file holding password' },
    { key: 'tls', type: t.object(tlsTable), optional: true, doc: 'TLS for https:// urls' },
    { key: 'manage_template', type: t.bool(), defaultDoc: 'true for data streams, false for indices', doc: 'install an index template with ECS mappings at start (PUT _index_template, idempotent)' },
    { key: 'batch_max_bytes', type: t.size({ min: 1024, max: 100 * 1024 * 1024 }), default: 5 * 1024 * 1024, doc: 'largest uncompressed _bulk body' },
    { key: 'batch_max_docs', type: t.int({ min: 1, max: 100_000 }), default: 5000, doc: 'most documents in one _bulk request' },
    { key: 'gzip', type: t.bool(), default: true, doc: 'gzip request bodies (compressed on the thread pool)' },
    { key: 'min_concurrency', type: t.int({ min: 1, max: 256 }), default: 1, doc: 'bulk requests in flight, lower bound of the adaptive limit' },
    { key: 'max_concurrency', type: t.int({ min: 1, max: 256 }), default: 8, doc: 'bulk requests in flight, upper bound of the adaptive limit (AIMD on latency and 429s)' },
    { key: 'request_timeout', type: t.duration({ min: 1000 }), default: 60_000, doc: 'a _bulk request without an answer after this long is retried' },
    { key: 'dead_letter_topic', type: t.topic(), doc: 'records Elasticsearch permanently rejects go here (default: counted, logged and dropped)' },
    { key: 'pipeline', type: t.string(), defaultDoc: 'the topic\'s pipeline', doc: 'pipeline (pipelines:) whose fields go into the documents, instead of the topic\'s; "none": no pipeline' },
  ],
  (v, ctx) => {
    oneOf('data_stream', 'index', false)!(v, ctx);
    if (!ctx.has('data_stream') && !ctx.has('index')) v.data_stream = 'logs-{topic}-default';
    if (!ctx.has('manage_template')) v.manage_template = v.data_stream !== undefined;
    for (const k of ['api_key', 'username', 'password']) {
      if (ctx.has(k) && ctx.has(`${k}_file`)) ctx.error(`${k}_file`, `set ${k} or ${k}_file, not both`);
    }
    const has = (k: string) => ctx.has(k) || ctx.has(`${k}_file`);
    if (has('api_key') && (has('username') || has('password'))) ctx.error('api_key', 'set api_key or username and password, not both');
    if (has('username') !== has('password')) ctx.error(has('username') ? 'username' : 'password', 'username and password go together');
    if (typeof v.min_concurrency === 'number' && typeof v.max_concurrency === 'number' && v.min_concurrency > v.max_concurrency) {
      ctx.error('min_concurrency', `min_concurrency (${v.min_concurrency}) is above max_concurrency (${v.max_concurrency})`);
    }
    if (typeof v.dead_letter_topic === 'string' && Array.isArray(v.topics) && v.topics.includes(v.dead_letter_topic)) {
      ctx.error('dead_letter_topic', `"${v.dead_letter_topic}" is also one of this sink's topics: rejected documents would come back to it`);
    }
    for (const [i, u] of ((v.urls as string[] | undefined) ?? []).entries()) {
      if (/^[a-z]+:\/\/[^/]*@/i.test(u)) ctx.error(`urls[${i}]`, 'credentials in the URL are not used (nor logged): set api_key or username and password');
    }
    const target = (v.data_stream ?? v.index) as string | undefined;
    const fixed = typeof target === 'string' ? target.replace(/\{[^}]*\}/g, '') : '';
    if (fixed !== fixed.toLowerCase()) ctx.error(ctx.has('index') ? 'index' : 'data_stream', 'Elasticsearch names are lower case');
  },
);
