/** Errors the store raises; `code` is stable, the message says what to do. */
export type StoreErrorCode =
  | 'DBTAPE_STORE_URL_INVALID'
  | 'DBTAPE_STORE_UNSUPPORTED'
  | 'DBTAPE_STORE_OPEN_FAILED'
  | 'DBTAPE_STORE_SCHEMA_TOO_NEW'
  | 'DBTAPE_STORE_CLOSED'
  | 'DBTAPE_STORE_BAD_EVENT'
  | 'DBTAPE_STORE_BAD_QUERY';

export class StoreError extends Error {
  override readonly name = 'StoreError';

  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
