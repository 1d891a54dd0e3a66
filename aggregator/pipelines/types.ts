/** The validated config of a pipeline and its steps (see config.ts for the option tables). */

interface StepCommon {
  /** label for metrics and errors; default "<index>-<type>" */
  name?: string;
  /** run the step only when this condition holds */
  if?: string;
}

export const PRESETS = [
  'nginx_access',
  'nginx_error',
  'apache_access',
  'apache_error',
  'syslog_rfc3164',
  'syslog_rfc5424',
  'syslog',
  'logfmt',
  'java_stacktrace',
  'python_traceback',
] as const;
export type PresetName = (typeof PRESETS)[number];

export type StepConfig = StepCommon &
  (
    | { type: 'json'; field: string; target: string; levels: boolean }
    | { type: 'regex'; field: string; pattern: string }
    | { type: 'pattern'; field: string; pattern?: string[]; preset?: PresetName; definitions: Record<string, string> }
    | { type: 'timestamp'; field: string; formats: string[]; timezone: string; target: string; remove: boolean }
    | { type: 'kv'; field: string; target: string; separator: string; delimiter: string }
    | { type: 'set'; field: string; value: string; override: boolean }
    | { type: 'rename'; fields: Record<string, string> }
    | { type: 'copy'; fields: Record<string, string> }
    | { type: 'remove'; fields: string[] }
    | { type: 'drop' }
    | { type: 'sample'; rate: number }
    | { type: 'route'; sinks: string[] }
  );

export type StepType = StepConfig['type'];

export interface PipelineConfig {
  /** topics whose records this pipeline parses */
  topics: string[];
  steps: StepConfig[];
}
