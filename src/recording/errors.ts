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
