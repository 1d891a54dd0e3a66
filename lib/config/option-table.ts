/**
 * Option tables (house style 3): one table per component, each option with
 * key, type, default, one doc line and an optional validator. The validator
 * (validate.ts) and the reference generator (gen-reference.ts) both read them.
 * Defaults are given already normalized (bytes, milliseconds).
 */

export type OptionType =
  | { kind: 'string'; allowEmpty?: boolean }
  | { kind: 'int'; min?: number; max?: number }
  | { kind: 'number'; min?: number; max?: number }
  | { kind: 'bool' }
  | { kind: 'size'; min?: number; max?: number }
  | { kind: 'duration'; min?: number; max?: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'url'; schemes: readonly string[] }
  | { kind: 'listen'; allowOff?: boolean }
  | { kind: 'regex' }
  | { kind: 'topic' }
  | { kind: 'name' }
  | { kind: 'list'; of: OptionType; minItems?: number }
  /** true, false, or a list of `of` (e.g. an allow-list that may also be "everything" or "nothing") */
  | { kind: 'boolOrList'; of: OptionType }
  | { kind: 'object'; table: OptionTable }
  /** string keys (checked by `keys`) to values of `of`; `special` keys have their own type */
  | { kind: 'map'; keys: 'topic' | 'label' | 'string'; of: OptionType; special?: Record<string, OptionType>; placeholder: string }
  /** an object whose table is chosen by the value of its `discriminator` key */
  | { kind: 'union'; discriminator: string; variants: Record<string, OptionTable> }
  /** an object whose table is chosen by which marker keys it has; the variant name is stored as `tag` */
  | { kind: 'shape'; tag: string; variants: Array<{ name: string; markers: readonly string[]; summary: string; table: OptionTable }> };

/** What a default function or a check can see. */
export interface DefaultContext {
  /** index of the enclosing list item, if any */
  index: number | undefined;
}

export interface OptionSpec {
  key: string;
  type: OptionType;
  /** one line for the reference */
  doc: string;
  required?: boolean;
  /** normalized default (bytes, ms); objects and maps default to their own defaults unless `optional` */
  default?: unknown;
  defaultFn?: (ctx: DefaultContext) => unknown;
  /** how the reference shows a computed default */
  defaultDoc?: string;
  /** absent object stays undefined instead of taking its nested defaults */
  optional?: boolean;
  /** extra check on the converted value; returns a message when invalid */
  validate?: (value: never) => string | { message: string; offset: number } | undefined;
}

export interface CheckContext {
  /** report a problem at `relPath` (relative to the checked object; '' for the object itself) */
  error(relPath: string, message: string): void;
  /** report something allowed but risky at `relPath`; `logship check` prints it, it does not fail */
  warn(relPath: string, message: string): void;
  /** whether `key` was written in the file (not defaulted) */
  has(key: string): boolean;
}

export interface OptionTable {
  options: readonly OptionSpec[];
  /** cross-field rules; may also fill in derived defaults by mutating `value` */
  check?: (value: Record<string, unknown>, ctx: CheckContext) => void;
}

export function table(options: OptionSpec[], check?: OptionTable['check']): OptionTable {
  return check ? { options, check } : { options };
}

/** Type constructors, so tables read like the reference. */
export const t = {
  string: (o: { allowEmpty?: boolean } = {}): OptionType => ({ kind: 'string', ...o }),
  int: (o: { min?: number; max?: number } = {}): OptionType => ({ kind: 'int', ...o }),
  number: (o: { min?: number; max?: number } = {}): OptionType => ({ kind: 'number', ...o }),
  bool: (): OptionType => ({ kind: 'bool' }),
  size: (o: { min?: number; max?: number } = {}): OptionType => ({ kind: 'size', ...o }),
  duration: (o: { min?: number; max?: number } = {}): OptionType => ({ kind: 'duration', ...o }),
  enum: (values: readonly string[]): OptionType => ({ kind: 'enum', values }),
  url: (schemes: readonly string[] = ['http', 'https']): OptionType => ({ kind: 'url', schemes }),
  listen: (o: { allowOff?: boolean } = {}): OptionType => ({ kind: 'listen', ...o }),
  regex: (): OptionType => ({ kind: 'regex' }),
  topic: (): OptionType => ({ kind: 'topic' }),
  name: (): OptionType => ({ kind: 'name' }),
  list: (of: OptionType, o: { minItems?: number } = {}): OptionType => ({ kind: 'list', of, ...o }),
  boolOrList: (of: OptionType): OptionType => ({ kind: 'boolOrList', of }),
  object: (tbl: OptionTable): OptionType => ({ kind: 'object', table: tbl }),
  union: (discriminator: string, variants: Record<string, OptionTable>): OptionType => ({ kind: 'union', discriminator, variants }),
};

/** A short type name for the reference and for "expected ..." messages. */
export function typeName(type: OptionType): string {
  switch (type.kind) {
    case 'string':
      return 'string';
    case 'int':
    case 'number':
    case 'size':
    case 'duration': {
      const base = type.kind === 'number' ? 'number' : type.kind;
      return base;
    }
    case 'bool':
      return 'bool';
    case 'enum':
      return type.values.map((v) => (v === '' ? "''" : v)).join(' | ');
    case 'url':
      return `url (${type.schemes.join(', ')})`;
    case 'listen':
      return type.allowOff ? 'host:port | off' : 'host:port';
    case 'regex':
      return 'regex';
    case 'topic':
      return 'topic';
    case 'name':
      return 'name';
    case 'list':
      return type.of.kind === 'object' || type.of.kind === 'union' || type.of.kind === 'shape' ? 'list of objects' : `list of ${typeName(type.of)}`;
    case 'boolOrList':
      return `bool | list of ${typeName(type.of)}`;
    case 'object':
      return 'object';
    case 'map':
      return 'map';
    case 'union':
      return `object (by ${type.discriminator})`;
    case 'shape':
      return 'object (by keys)';
  }
}
