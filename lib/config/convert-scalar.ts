/**
 * Conversion of one scalar (after ${VAR} substitution) to an option type's
 * normalized value. Pure: returns the value or a message; the validator
 * places the message at the scalar's position.
 */

import { parseListen } from './listen.js';
import { suggestion } from './did-you-mean.js';
import { componentNameProblem, topicNameProblem } from './names.js';
import { typeName, type OptionType } from './option-table.js';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.js';

export type Converted = { ok: true; value: unknown } | { ok: false; message: string };

const err = (message: string): Converted => ({ ok: false, message });

function describe(v: unknown): string {
  if (typeof v === 'string') return `a string "${v}"`;
  if (typeof v === 'number') return `a number ${v}`;
  if (typeof v === 'boolean') return `a boolean ${v}`;
  return `a value ${String(v)}`;
}

/**
 * @param value the YAML value (string after substitution, number, boolean)
 * @param text its text where text is wanted: a plain scalar YAML read as a number or boolean keeps its source
 * @param fromEnv whether a ${VAR} was substituted: then numbers and booleans may come as strings
 */
export function convertScalar(type: OptionType, value: unknown, text: string | undefined, fromEnv: boolean): Converted {
  const ok = (v: unknown): Converted => ({ ok: true, value: v });
  switch (type.kind) {
    case 'string':
      if (text === undefined) return err(`expected a string, got ${describe(value)}`);
      if (text === '' && !type.allowEmpty) return err('must not be empty');
      return ok(text);
    case 'int':
    case 'number': {
      let n: number | undefined = typeof value === 'number' ? value : undefined;
      if (typeof value === 'string' && fromEnv && /^[-+]?\d+(\.\d+)?$/.test(value.trim())) n = Number(value);
      if (n === undefined || !Number.isFinite(n)) return err(`expected ${type.kind === 'int' ? 'an integer' : 'a number'}, got ${describe(value)}`);
      if (type.kind === 'int' && !Number.isSafeInteger(n)) return err(`expected an integer, got ${n}`);
      if (type.min !== undefined && n < type.min) return err(`must be at least ${type.min}, got ${n}`);
      if (type.max !== undefined && n > type.max) return err(`must be at most ${type.max}, got ${n}`);
      return ok(n);
    }
    case 'bool':
      if (typeof value === 'boolean') return ok(value);
      if (fromEnv && (value === 'true' || value === 'false')) return ok(value === 'true');
      return err(`expected true or false, got ${describe(value)}`);
    case 'size':
    case 'duration': {
      const isSize = type.kind === 'size';
      if (typeof value !== 'string' && typeof value !== 'number') return err(`expected a ${type.kind}, got ${describe(value)}`);
      const r = isSize ? parseSize(value) : parseDuration(value);
      if (!r.ok) return err(r.message);
      const fmt = isSize ? formatSize : formatDuration;
      if (type.min !== undefined && r.value < type.min) return err(`must be at least ${fmt(type.min)}, got ${fmt(r.value)}`);
      if (type.max !== undefined && r.value > type.max) return err(`must be at most ${fmt(type.max)}, got ${fmt(r.value)}`);
      return ok(r.value);
    }
    default:
      break;
  }
  if (text === undefined) return err(`expected ${typeName(type)}, got ${describe(value)}`);
  switch (type.kind) {
    case 'enum':
      if (type.values.includes(text)) return ok(text);
      return err(`must be one of ${type.values.map((v) => JSON.stringify(v)).join(', ')}, got "${text}"${suggestion(text, type.values)}`);
    case 'url': {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        return err(`invalid URL "${text}" (expected ${type.schemes.map((s) => `${s}://`).join(' or ')}...)`);
      }
      const scheme = url.protocol.slice(0, -1);
      if (!type.schemes.includes(scheme)) return err(`URL scheme must be ${type.schemes.join(' or ')}, got "${scheme}"`);
      return ok(text);
    }
    case 'listen': {
      if (type.allowOff && (text === '' || text === 'off')) return ok('');
      const r = parseListen(text);
      return r.ok ? ok(text) : err(r.message);
    }
    case 'regex':
      if (text === '') return err('empty pattern (it would match everything)');
      try {
        new RegExp(text);
      } catch (e) {
        return err(`invalid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
      }
      return ok(text);
    case 'topic': {
      const problem = topicNameProblem(text);
      return problem ? err(problem) : ok(text);
    }
    case 'name': {
      const problem = componentNameProblem(text);
      return problem ? err(problem) : ok(text);
    }
    default:
      return err(`unsupported option type ${(type as OptionType).kind}`);
  }
}
