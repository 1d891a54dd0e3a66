/** The elasticsearch sink's option table (the sink itself is not implemented yet). */
import { t, table } from '../../../lib/config/option-table.js';
import { oneOf, sinkName, urls } from '../config-common.js';

export interface ElasticsearchSinkConfig {
  type: 'elasticsearch';
  name: string;
  topics: string[];
  urls: string[];
  /** set unless `index` is; default "logs-{topic}-default" */
  data_stream?: string;
  index?: string;
  api_key?: string;
  username?: string;
  password?: string;
  dead_letter_topic?: string;
}

export const elasticsearchOptions = table(
  [
    sinkName,
    { key: 'topics', type: t.list(t.topic(), { minItems: 1 }), required: true, doc: 'topics to index' },
    urls('Elasticsearch or OpenSearch base URLs, tried in order'),
    { key: 'data_stream', type: t.string(), defaultDoc: '"logs-{topic}-default" unless index is set', doc: 'data stream name; `{topic}` is replaced' },
    { key: 'index', type: t.string(), doc: 'index name instead of a data stream; `{topic}` and date patterns like `{yyyy.MM.dd}` are replaced' },
    { key: 'api_key', type: t.string(), doc: 'API key (sent as ApiKey); or username and password' },
    { key: 'username', type: t.string(), doc: 'basic auth user' },
    { key: 'password', type: t.string({ allowEmpty: true }), doc: 'basic auth password' },
    { key: 'dead_letter_topic', type: t.topic(), doc: 'records Elasticsearch permanently rejects go here (default: counted, logged and dropped)' },
  ],
  (v, ctx) => {
    oneOf('data_stream', 'index', false)!(v, ctx);
    if (!ctx.has('data_stream') && !ctx.has('index')) v.data_stream = 'logs-{topic}-default';
    if (ctx.has('api_key') && (ctx.has('username') || ctx.has('password'))) ctx.error('api_key', 'set api_key or username and password, not both');
    if (ctx.has('username') !== ctx.has('password')) ctx.error(ctx.has('username') ? 'username' : 'password', 'username and password go together');
  },
);
