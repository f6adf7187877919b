/**
 * What the PostgreSQL store does when its connection fails: which errors leave nothing written,
 * how long a write may go unanswered, and whether a write cut off during its COMMIT was stored.
 */
import type { EncodedBatch } from '../encoded-batch.js';
import { StoreError } from '../errors.js';
import type { Sql } from './pg-connect.js';

/**
 * A write transaction that has not settled by then is given up (and its connection replaced):
 * far longer than any batch takes, short enough that recording does not stop for good.
 */
export const WRITE_TIMEOUT_MS = 30_000;
const CHECK_TIMEOUT_MS = 5_000;

/** An error the server reported for a statement: nothing of the transaction was committed. */
export function definiteFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof StoreError) return true;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|57)/.test(code);
}

/**
 * The connection failed rather than a statement: the server ended it (SQLSTATE class 57: an
 * administrator, a shutdown; 08: connection exceptions), the driver lost it (CONNECTION_CLOSED,
 * CONNECT_TIMEOUT, …) or the socket did (ECONNRESET, EPIPE, ETIMEDOUT, …).
 */
export function connectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(?:(?:08|57)[0-9A-Z]{3}|CONNECT\w*|E[A-Z]+)$/.test(code);
}

/** Rejects with a connection-level error (code ETIMEDOUT) when `p` takes longer than `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          Object.assign(new Error(`no answer from the database within ${ms / 1000} s`), {
            code: 'ETIMEDOUT',
          }),
        ),
      ms,
    );
  });
  p.catch(() => {});
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A connection lost while its COMMIT was under way leaves the batch committed or not: reporting
 * a committed batch as failed would make the recorder write its sequence numbers again, which
 * the store then refuses for good. So the batch's last event is looked for (through the read
 * pool, which the failure did not touch); if it is there, the write succeeded.
 */
export async function committedDespite(read: Sql, batch: EncodedBatch): Promise<boolean> {
  const n = batch.numbers.length / 4;
  if (n === 0) return false;
  const sessionId = batch.sessionIds[batch.numbers[(n - 1) * 4]!]!;
  const seq = batch.numbers[(n - 1) * 4 + 1]!;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const rows = await withTimeout(
        read`SELECT 1 FROM events e JOIN sessions s ON s.sid = e.session_sid WHERE s.id = ${sessionId} AND e.seq = ${seq}`.execute(),
        CHECK_TIMEOUT_MS,
      );
      return rows.length > 0;
    } catch {
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
  }
  return false;
}
