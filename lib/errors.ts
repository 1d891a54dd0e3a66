/**
 * The one error catalogue. Every error logship raises on purpose is a
 * LogshipError with a stable LSH_ERR_* code; the README's error table is
 * checked against ERROR_CODES by test/unit/lib/errors.test.ts.
 */

export const ERROR_CODES = {
  LSH_ERR_CONFIG: 'the configuration file is invalid; every problem is listed as FILE:LINE:COL: key.path: message',
  LSH_ERR_USAGE: 'the command line is invalid',
  LSH_ERR_IO: 'a file system operation failed',
  LSH_ERR_DISK_FULL: 'no space left on the device holding the data directory',
  LSH_ERR_CORRUPT: 'stored data failed its CRC or framing check',
  LSH_ERR_OFFSET_OUT_OF_RANGE: 'the requested offset is outside the stored range',
  LSH_ERR_BAD_BATCH: 'an ingest request body could not be decoded',
  LSH_ERR_BAD_REQUEST: 'a request was malformed',
  LSH_ERR_AUTH: 'missing or wrong credentials',
  LSH_ERR_NOT_FOUND: 'no such topic, partition or route',
  LSH_ERR_TOO_LARGE: 'a request or batch exceeds a configured limit',
  LSH_ERR_SEQUENCE: 'a producer sequence gap or a stale producer epoch',
  LSH_ERR_UNAVAILABLE: 'the service is not ready or is shutting down',
  LSH_ERR_CLOSED: 'the component was closed',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * How the aggregator answers an error over HTTP: [status, error.type]. A code
 * not listed answers 503 "internal" (and is logged as a failure of ours).
 * A LogshipError may carry its own status and type (`http`), e.g. 403
 * forbidden or 415 unsupported_media_type, which refine a code.
 */
export const HTTP_STATUS: Partial<Record<ErrorCode, readonly [number, string]>> = {
  LSH_ERR_BAD_BATCH: [400, 'bad_batch'],
  LSH_ERR_BAD_REQUEST: [400, 'bad_request'],
  LSH_ERR_AUTH: [401, 'unauthorized'],
  LSH_ERR_NOT_FOUND: [404, 'not_found'],
  LSH_ERR_SEQUENCE: [409, 'producer_fenced'],
  LSH_ERR_TOO_LARGE: [413, 'too_large'],
  LSH_ERR_OFFSET_OUT_OF_RANGE: [400, 'offset_out_of_range'],
  LSH_ERR_DISK_FULL: [507, 'insufficient_storage'],
  LSH_ERR_UNAVAILABLE: [503, 'unavailable'],
  LSH_ERR_CLOSED: [503, 'unavailable'],
};

export class LogshipError extends Error {
  readonly code: ErrorCode;
  /** the HTTP answer when it refines the code's (HTTP_STATUS) */
  readonly http: readonly [number, string] | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; http?: readonly [number, string] }) {
    super(message, options);
    this.code = code;
    this.http = options?.http;
    this.name = 'LogshipError';
  }
}

export class ConfigIssue {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly path: string,
    readonly message: string,
  ) {}
  toString(): string {
    return `${this.file}:${this.line}:${this.col}: ${this.path || '(root)'}: ${this.message}`;
  }
}

export class ConfigError extends LogshipError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super('LSH_ERR_CONFIG', issues.map((i) => i.toString()).join('\n'));
    this.issues = issues;
    this.name = 'ConfigError';
  }
}

export class UsageError extends LogshipError {
  constructor(message: string) {
    super('LSH_ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

export class IoError extends LogshipError {
  constructor(message: string, cause?: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(errno === 'ENOSPC' || errno === 'EDQUOT' ? 'LSH_ERR_DISK_FULL' : 'LSH_ERR_IO', message, { cause });
    this.name = 'IoError';
  }
}

export class CorruptError extends LogshipError {
  constructor(message: string) {
    super('LSH_ERR_CORRUPT', message);
    this.name = 'CorruptError';
  }
}

export class OffsetOutOfRangeError extends LogshipError {
  constructor(
    readonly offset: number,
    readonly firstOffset: number,
    readonly nextOffset: number,
  ) {
    super(
      'LSH_ERR_OFFSET_OUT_OF_RANGE',
      `offset ${offset} is out of range: valid offsets are ${firstOffset} to ${nextOffset} (next_offset, exclusive)`,
    );
    this.name = 'OffsetOutOfRangeError';
  }
}

export function isDiskFull(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return (
    e?.code === 'ENOSPC' || e?.code === 'EDQUOT' || e?.code === 'LSH_ERR_DISK_FULL' || e?.cause?.code === 'ENOSPC'
  );
}
