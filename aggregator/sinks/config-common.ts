/** Option specs several sink tables share. */
import { t, type OptionSpec, type OptionTable } from '../../lib/config/option-table.js';

export const sinkName: OptionSpec = { key: 'name', type: t.name(), required: true, doc: 'sink name, unique; alerts refer to it' };
export const urls = (doc: string): OptionSpec => ({ key: 'urls', type: t.list(t.url(), { minItems: 1 }), required: true, doc });

/** Exactly one of `a` and `b` (or at most one, when `required` is false). */
export function oneOf(a: string, b: string, required: boolean): OptionTable['check'] {
  return (v, ctx) => {
    if (ctx.has(a) && ctx.has(b)) ctx.error(b, `set ${a} or ${b}, not both`);
    else if (required && !ctx.has(a) && !ctx.has(b)) ctx.error('', `set ${a} or ${b}`);
  };
}
