/** Messages between the proxy's thread and the store worker (store-worker.ts). */
import type { StoreKeyFiles, Synchronous } from './open-store.js';

/** What the store's thread opens (its workerData). */
export interface WorkerInit {
  readonly url: string;
  readonly synchronous: Synchronous;
  readonly keyFiles: StoreKeyFiles;
}

export type StoreMethod =
  | 'writeBatch'
  /** The stores' writeEncoded: what writeBatch posts (encoded-batch.ts). */
  | 'writeEncoded'
  | 'sync'
  | 'checkpoint'
  | 'closeOpenSessions'
  | 'listSessions'
  | 'getSession'
  | 'getEvents'
  | 'search'
  | 'loadApiTokens'
  | 'saveApiToken'
  | 'deleteApiToken'
  | 'close';

export interface WorkerRequest {
  readonly id: number;
  readonly method: StoreMethod;
  readonly args: readonly unknown[];
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  /** Own properties such as `code` (SQLITE_FULL, DBTAPE_…), which error handling relies on. */
  readonly props: Record<string, unknown>;
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError };

/** Errors cross threads as plain data: structured clone would drop `code`. */
export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), props: {} };
  const props: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(err)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) props[k] = v;
  }
  return { name: err.name, message: err.message, props };
}

export function deserializeError(e: SerializedError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  Object.assign(err, e.props);
  return err;
}
