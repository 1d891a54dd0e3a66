/**
 * key=value (logfmt) scanning: one linear pass, no regex. Values may be
 * double-quoted with \" and \\ escapes; a bare key is true; at most 256
 * pairs per line, keys up to 128 characters.
 */

const MAX_PAIRS = 256;

export function parseKv(s: string, separator = '=', delimiter = ' '): Array<[string, string | boolean]> {
  const out: Array<[string, string | boolean]> = [];
  let i = 0;
  const n = s.length;
  while (i < n && out.length < MAX_PAIRS) {
    while (i < n && (s[i] === delimiter || s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= n) break;
    const ks = i;
    while (i < n && s[i] !== separator && s[i] !== delimiter && s[i] !== ' ' && s[i] !== '\t') i++;
    const key = s.slice(ks, i);
    if (i >= n || s[i] !== separator) {
      if (key.length > 0 && key.length <= 128 && /^[A-Za-z_@][\w.@-]*$/.test(key)) out.push([key, true]);
      continue;
    }
    i++; // separator
    let value: string;
    if (s[i] === '"') {
      i++;
      let v = '';
      while (i < n && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < n) {
          v += s[i + 1];
          i += 2;
        } else v += s[i++];
      }
      i++;
      value = v;
    } else {
      const vs = i;
      while (i < n && s[i] !== delimiter && s[i] !== ' ' && s[i] !== '\t') i++;
      value = s.slice(vs, i);
    }
    if (key.length > 0 && key.length <= 128) out.push([key, value]);
  }
  return out;
}
