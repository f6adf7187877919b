/** Errors the store raises; `code` is stable, the message says what to do. */
export type StoreErrorCode =
  | 'DBTAPE_STORE_URL_INVALID'
  | 'DBTAPE_STORE_OPEN_FAILED'
  /** Another process is the store's writer (PostgreSQL store: its advisory lock is held). */
  | 'DBTAPE_STORE_LOCKED'
  | 'DBTAPE_STORE_SCHEMA_TOO_NEW'
  | 'DBTAPE_STORE_CLOSED'
  | 'DBTAPE_STORE_BAD_EVENT'
  | 'DBTAPE_STORE_BAD_QUERY'
  /** The database refused or lost a write (PostgreSQL store); `errno` says why. */
  | 'DBTAPE_STORE_WRITE_FAILED'
  /** A read that must see one snapshot (verify) lost its connection before it finished. */
  | 'DBTAPE_STORE_READ_FAILED'
  /** The recording is encrypted and no key (store.encryption_key_file) was given. */
  | 'DBTAPE_STORE_ENCRYPTED'
  /** Committed, but making the commit durable (fsync) failed. */
  | 'DBTAPE_STORE_SYNC_FAILED'
  /** `dbtape serve`'s store thread stopped with the call in flight (worker-store.ts). */
  | 'DBTAPE_STORE_THREAD_LOST'
  /**
   * A session's events in the store end before the batch's first one: the store lost commits it
   * had acknowledged (restored from a backup, failed over to a standby that lagged). The error has
   * `sessionId` and `storedSeq` (0: not even the session's start is stored); see storeBehind.
   */
  | 'DBTAPE_STORE_BEHIND'
  /**
   * A session's events in the store already reach the batch's first one: a write reported failed
   * had committed (its answer lost with the connection, and the store unreachable to ask). The
   * error has `sessionId`, `storedSeq` and `ended`; see storeAhead.
   */
  | 'DBTAPE_STORE_AHEAD';

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

/** A call on a store that was closed (or is closing). */
export function storeClosed(): StoreError {
  return new StoreError('DBTAPE_STORE_CLOSED', 'dbtape: the session store is closed');
}

/** A write on a store that read commands opened read-only. */
export function storeReadOnly(): StoreError {
  return new StoreError('DBTAPE_STORE_CLOSED', 'dbtape: this session store was opened read-only');
}

export function encryptedStoreError(what: string): StoreError {
  return new StoreError(
    'DBTAPE_STORE_ENCRYPTED',
    `dbtape: ${what} is encrypted and no key was given: use the config that names the key (store.encryption_key_file, -c FILE)`,
  );
}

/**
 * DBTAPE_STORE_BEHIND, with what the recorder needs to go on from what the store holds.
 * `firstSeq`: the batch's first event of the session, where known.
 */
export function storeBehind(sessionId: string, storedSeq: number, firstSeq: number | null): StoreError {
  const accepted = firstSeq === null ? '' : ` up to seq ${firstSeq - 1}`;
  const holds = storedSeq === 0 ? 'holds no start of' : `holds only up to seq ${storedSeq} of`;
  return Object.assign(
    new StoreError(
      'DBTAPE_STORE_BEHIND',
      `dbtape: the session store ${holds} session ${sessionId}, whose events it had accepted${accepted}: it lost commits (restored from a backup, or failed over to a standby that lagged?)`,
    ),
    { sessionId, storedSeq },
  );
}

/**
 * DBTAPE_STORE_AHEAD, with what the recorder needs to go on after what the store holds: `ended`
 * says whether that includes the session's end (which the recorder may hold as still to write).
 */
export function storeAhead(
  sessionId: string,
  storedSeq: number,
  firstSeq: number,
  ended: boolean,
): StoreError {
  const holds = ended ? `up to its end at seq ${storedSeq}` : `up to seq ${storedSeq}`;
  return Object.assign(
    new StoreError(
      'DBTAPE_STORE_AHEAD',
      `dbtape: the session store already holds session ${sessionId} ${holds}, written again from seq ${firstSeq}: a write reported failed had committed`,
    ),
    { sessionId, storedSeq, ended },
  );
}
