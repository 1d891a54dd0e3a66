/**
 * Pipelines: parsing, enrichment and routing applied when records are read
 * (schema on read). Compile a config once, then turn StoredRecords into
 * documents:
 *
 *   const set = new PipelineSet(config.pipelines, (pipeline, step) => metric.inc({ pipeline, step }));
 *   const { doc, dropped, routes } = set.parse(topic, record);
 *
 * docs/pipelines.md is the user's reference (steps, pattern language,
 * presets and their ECS fields, conditions, migration from Logstash).
 */
export { Pipeline, PipelineSet, PipelineCompileError, routedTo, stepLabel, type ParseResult, type JsonParseResult, type FailureListener } from './pipeline.js';
export { ExtraFields, quote as jsonString } from './writer.js';
export { baseDocument } from './document.js';
export type { PipelineConfig, StepConfig } from './types.js';
