/**
 * Label and annotation templates: `{{host}}`, `{{count}}`, `{{value}}`,
 * `{{labels.NAME}}` (a label of the alert: alertname, host, the group's labels
 * or the rule's own) and, in log-match rules, `{{field.PATH}}` (a parsed field
 * of the group's latest counted record, e.g. `{{field.url.original}}`; the
 * rule then runs its pipeline), spaces inside the braces allowed. Anything else between
 * `{{` and `}}` is a config error at `logship check`; text outside braces is
 * copied as is. Compiled once per rule; rendering is string concatenation.
 */

export interface TemplateVars {
  host: string;
  count: number;
  value: number | undefined;
  labels: Record<string, string>;
  /** `{{field.PATH}}` values by PATH (log-match rules on parsed fields) */
  fields?: Record<string, string>;
}

type Part = string | { v: 'host' | 'count' | 'value' } | { label: string } | { field: string };
export type Template = Part[];

const TOKEN = /\{\{\s*([^{}]*?)\s*\}\}/g;
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether a template may name `{{field.PATH}}`, and how a path is checked (pipelines' fieldProblem). */
export interface TemplateOptions {
  fieldProblem?: (path: string) => string | undefined;
}

function parse(text: string, o: TemplateOptions = {}): { parts: Template } | { problem: string } {
  const parts: Template = [];
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const lit = text.slice(last, m.index);
    if (lit.includes('{{')) return { problem: `unclosed "{{" in template "${short(text)}"` };
    if (lit) parts.push(lit);
    const name = m[1]!;
    if (name === 'host' || name === 'count' || name === 'value') parts.push({ v: name });
    else if (name.startsWith('labels.') && LABEL_NAME.test(name.slice(7))) parts.push({ label: name.slice(7) });
    else if (name.startsWith('field.') && o.fieldProblem) {
      const problem = o.fieldProblem(name.slice(6));
      if (problem) return { problem: `{{${short(name)}}}: ${problem}` };
      parts.push({ field: name.slice(6) });
    } else
      return {
        problem: `unknown template variable {{${short(name)}}}: use {{host}}, {{count}}, {{value}}, {{labels.NAME}}${o.fieldProblem ? ' or {{field.PATH}}' : ' (and, in log-match rules, {{field.PATH}})'}`,
      };
    last = m.index + m[0].length;
  }
  const tail = text.slice(last);
  if (tail.includes('{{')) return { problem: `unclosed "{{" in template "${short(text)}"` };
  if (tail) parts.push(tail);
  return { parts };
}

const short = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s);

/** Why `text` is not a valid template, or undefined. */
export function templateProblem(text: string, o?: TemplateOptions): string | undefined {
  const r = parse(text, o);
  return 'problem' in r ? r.problem : undefined;
}

/** A compiled template; throws on a template check would have refused. */
export function compileTemplate(text: string, o?: TemplateOptions): Template {
  const r = parse(text, o);
  if ('problem' in r) throw new Error(r.problem);
  return r.parts;
}

/** Numbers print as they read best: integers plainly, others to 4 significant digits. */
function num(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '';
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

export function render(t: Template, vars: TemplateVars): string {
  let out = '';
  for (const p of t) {
    if (typeof p === 'string') out += p;
    else if ('v' in p) out += p.v === 'host' ? vars.host : p.v === 'count' ? String(vars.count) : num(vars.value);
    else if ('label' in p) out += Object.hasOwn(vars.labels, p.label) ? vars.labels[p.label] : '';
    else out += vars.fields && Object.hasOwn(vars.fields, p.field) ? vars.fields[p.field] : '';
  }
  return out;
}

/** The `{{field.PATH}}` paths a template names. */
export function templateFields(t: Template): string[] {
  return t.flatMap((p) => (typeof p !== 'string' && 'field' in p ? [p.field] : []));
}
