/**
 * Decode failures of the MySQL codecs. Decoders never let an exception escape on bad input:
 * they return `{ ok: false, error }` so a hostile packet cannot crash a session or others.
 */

export type MysqlCodecErrorCode =
  /** A field runs past the end of the packet. */
  | 'DBTAPE_MYSQL_TRUNCATED'
  /** A byte sequence that the protocol does not allow (bad lenenc prefix, wrong header byte). */
  | 'DBTAPE_MYSQL_MALFORMED'
  /** A logical packet bigger than the caller's limit. */
  | 'DBTAPE_MYSQL_TOO_LARGE'
  /** A sequence id other than the one expected. */
  | 'DBTAPE_MYSQL_SEQUENCE'
  /** A feature the codec does not implement (pre-4.1 handshake, unknown value type...). */
  | 'DBTAPE_MYSQL_UNSUPPORTED';

export class MysqlCodecError extends Error {
  readonly code: MysqlCodecErrorCode;
  constructor(code: MysqlCodecErrorCode, message: string) {
    super(message);
    this.name = 'MysqlCodecError';
    this.code = code;
  }
}

export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: MysqlCodecError };

export function success<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function failure<T>(code: MysqlCodecErrorCode, message: string): Result<T> {
  return { ok: false, error: new MysqlCodecError(code, message) };
}

/**
 * Run a decoder body that may throw MysqlCodecError (the reader throws on truncation)
 * and turn that into a Result. Anything else is a bug and is rethrown.
 */
export function decodeWith<T>(body: () => T): Result<T> {
  try {
    return { ok: true, value: body() };
  } catch (err) {
    if (err instanceof MysqlCodecError) return { ok: false, error: err };
    // A RangeError from Buffer reads means a bounds check was missed: still hostile input, not a crash.
    if (err instanceof RangeError) {
      return { ok: false, error: new MysqlCodecError('DBTAPE_MYSQL_TRUNCATED', `dbtape: ${err.message}`) };
    }
    throw err;
  }
}
