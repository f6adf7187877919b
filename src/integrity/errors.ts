/** Errors about keys, encryption and integrity records; `code` is stable, the message says what to do. */
export type IntegrityErrorCode =
  | 'DBTAPE_KEY_FILE_MISSING'
  | 'DBTAPE_KEY_FILE_INVALID'
  | 'DBTAPE_KEY_FILE_EXISTS'
  | 'DBTAPE_KEY_VERSION_UNKNOWN'
  | 'DBTAPE_DECRYPT_FAILED';

export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';

  constructor(
    readonly code: IntegrityErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
