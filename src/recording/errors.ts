/** Errors of the recording layer; `code` is stable, the message says what happened and what to do. */
export type RecordingErrorCode =
  | 'DBTAPE_RECORDING_QUEUE_FULL'
  | 'DBTAPE_RECORDING_STORE_FAILED'
  | 'DBTAPE_RECORDING_SHUT_DOWN'
  | 'DBTAPE_RECORDING_DUPLICATE_SESSION';

export class RecordingError extends Error {
  override readonly name = 'RecordingError';

  constructor(
    readonly code: RecordingErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The error durable() gives when the store cannot write. It names the kind of failure (not
 * paths or SQL: it may reach a database client) so that whoever reads it knows what to fix.
 */
export function storeFailed(cause: unknown): RecordingError {
  const why = describeStoreFailure(cause);
  return new RecordingError(
    'DBTAPE_RECORDING_STORE_FAILED',
    `dbtape: the session store cannot write${why ? ` (${why})` : ''}; the statement was not recorded`,
    { cause },
  );
}

/** "disk full: SQLITE_FULL", "fsync failed, I/O error: EIO", … or '' when nothing is known. */
export function describeStoreFailure(err: unknown): string {
  if (err === null || err === undefined) return '';
  const e = err as { code?: unknown; errno?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const errno = typeof e.errno === 'string' ? e.errno : '';
  const sync = code === 'DBTAPE_STORE_SYNC_FAILED';
  const shown = [sync ? '' : code, errno].filter((c) => c !== '');
  const kind = failureKind(shown.join(' '));
  const what = sync ? `fsync failed${kind ? `, ${kind}` : ''}` : (kind ?? 'store error');
  return shown.length > 0 ? `${what}: ${shown.join(', ')}` : what;
}

/**
 * Whether a write failed for a reason of the store's as a whole (disk full, permissions, I/O, a
 * lock, the store unreachable or its thread restarting), which no event in the batch caused and
 * which ends when the store is mended, however long that takes.
 */
export function isStoreWideFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const errno = (err as { errno?: unknown } | null)?.errno;
  const codes = [code, errno].filter((c): c is string => typeof c === 'string').join(' ');
  return failureKind(codes) !== null;
}

function failureKind(codes: string): string | null {
  // SQLSTATEs are the PostgreSQL store's (53100 disk_full, 42501 insufficient_privilege,
  // 58030 io_error, XX001/XX002 data corrupted, 08… connection exceptions, 57P0… shut down).
  if (/SQLITE_FULL|ENOSPC|EDQUOT|EFBIG|SQLSTATE 53100/.test(codes)) return 'disk full';
  if (
    /SQLITE_READONLY|SQLITE_PERM|SQLITE_CANTOPEN|SQLITE_AUTH|EACCES|EPERM|EROFS|SQLSTATE 42501|SQLSTATE 25006/.test(
      codes,
    )
  )
    return 'permission denied';
  if (/SQLITE_IOERR|EIO|SQLITE_CORRUPT|SQLITE_NOTADB|SQLSTATE 58030|SQLSTATE XX00[12]/.test(codes))
    return 'I/O error';
  if (/SQLITE_BUSY|SQLITE_LOCKED|DBTAPE_STORE_LOCKED/.test(codes)) return 'store locked by another process';
  if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|CONNECTION_|SQLSTATE 08|SQLSTATE 57P0/.test(codes))
    return 'store unreachable';
  if (/DBTAPE_STORE_THREAD_LOST/.test(codes)) return 'store thread restarting';
  return null;
}
