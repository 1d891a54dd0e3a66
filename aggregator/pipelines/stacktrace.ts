/**
 * Java and Python stack traces in one record (the agent's multiline input
 * joins them): the exception's type and message and the trace itself, in
 * ECS error.* fields. Line by line, bounded to the first 1000 lines.
 */

export interface StackTrace {
  type: string;
  message: string;
  trace: string;
}

const MAX_LINES = 1000;
const JAVA_EXCEPTION = /^(?:Exception in thread "[^"]{0,200}" )?(?:Caused by: )?([A-Za-z_$][\w$]{0,200}(?:\.[A-Za-z_$][\w$]{0,200}){0,30})(?:: ([^\n]*))?$/;
const PY_EXCEPTION = /^([A-Za-z_][\w]{0,200}(?:\.[A-Za-z_][\w]{0,200}){0,30})(?:: ([^\n]*))?$/;

/** A Java trace: a line naming a Throwable followed by "\tat ..." lines. */
export function parseJavaTrace(text: string): StackTrace | undefined {
  const lines = text.split('\n', MAX_LINES);
  for (let i = 0; i < lines.length - 1; i++) {
    const next = lines[i + 1]!;
    if (!/^\s+at /.test(next)) continue;
    const m = JAVA_EXCEPTION.exec(lines[i]!.trim());
    if (!m) continue;
    return { type: m[1]!, message: m[2] ?? '', trace: lines.slice(i).join('\n') };
  }
  return undefined;
}

/** A Python traceback: "Traceback (most recent call last):" ... and the exception line last. */
export function parsePythonTraceback(text: string): StackTrace | undefined {
  const lines = text.split('\n', MAX_LINES);
  const start = lines.findIndex((l) => l.startsWith('Traceback (most recent call last):'));
  if (start < 0) return undefined;
  for (let i = lines.length - 1; i > start; i--) {
    const l = lines[i]!;
    if (l === '' || /^\s/.test(l)) continue;
    const m = PY_EXCEPTION.exec(l);
    if (!m) return undefined;
    return { type: m[1]!, message: m[2] ?? '', trace: lines.slice(start, i + 1).join('\n') };
  }
  return undefined;
}

export function parseStackTrace(text: string, kind: 'java' | 'python'): StackTrace | undefined {
  return kind === 'java' ? parseJavaTrace(text) : parsePythonTraceback(text);
}
