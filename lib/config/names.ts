/** Name rules shared by every component: topics, component names, label names. */

const TOPIC_RE = /^[A-Za-z0-9._-]{1,200}$/;

/** Topic names: 1-200 of [A-Za-z0-9._-], not "." or "..". */
export function isValidTopicName(name: string): boolean {
  return TOPIC_RE.test(name) && name !== '.' && name !== '..';
}

/** Why `name` is not a valid topic name, or undefined if it is. */
export function topicNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'topic name is empty';
  if (name.length > 200) return `topic name is ${name.length} characters long (at most 200)`;
  if (name === '.' || name === '..') return `"${name}" is not a valid topic name`;
  const bad = /[^A-Za-z0-9._-]/.exec(name);
  if (bad) return `invalid character ${JSON.stringify(bad[0])} in topic name "${name}" (allowed: A-Z a-z 0-9 . _ -)`;
  return undefined;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Names of inputs, sinks and tokens: they end up in metric labels and file names. */
export function componentNameProblem(name: string): string | undefined {
  if (NAME_RE.test(name)) return undefined;
  return `invalid name "${name}": 1-200 of A-Z a-z 0-9 . _ -, starting with a letter or digit`;
}

const LABEL_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Prometheus label names. */
export function labelNameProblem(name: string): string | undefined {
  if (!LABEL_RE.test(name)) return `invalid label name "${name}": [A-Za-z_][A-Za-z0-9_]*`;
  if (name.startsWith('__')) return `label name "${name}" is reserved (starts with __)`;
  return undefined;
}
