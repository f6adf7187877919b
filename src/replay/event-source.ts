/**
 * A session's events from the store, in order, a page at a time, so a session of millions of
 * events never sits in memory at once. With `follow`, it keeps polling while the session is
 * still being recorded and ends after the session's `end` event.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionEvent, SessionId } from '../model/session.js';
import type { SessionStore } from '../store/session-store.js';

export interface EventSourceOptions {
  /** Start after this sequence number (default 0: from the start). */
  readonly afterSeq?: number;
  readonly pageSize?: number;
  /** Keep polling for new events until the session ends. */
  readonly follow?: boolean;
  /** Pause between polls while following (default 200 ms). */
  readonly pollMs?: number;
  /** Called once, the first time every event recorded so far has been read. */
  readonly onCaughtUp?: () => void;
  readonly signal?: AbortSignal;
  /** For tests: how to wait between polls. */
  readonly wait?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
}

export async function* sessionEvents(
  store: SessionStore,
  id: SessionId,
  options: EventSourceOptions = {},
): AsyncGenerator<SessionEvent> {
  const pageSize = options.pageSize ?? 1000;
  const wait = options.wait ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal }));
  let afterSeq = options.afterSeq ?? 0;
  let caughtUp = false;
  for (;;) {
    if (options.signal?.aborted) return;
    const page = await store.getEvents(id, { afterSeq, limit: pageSize });
    for (const e of page) {
      yield e;
      afterSeq = e.seq;
      if (e.kind === 'end') return;
    }
    if (page.length === pageSize) continue;
    if (!caughtUp) {
      caughtUp = true;
      options.onCaughtUp?.();
    }
    if (!options.follow) return;
    // Ended without an `end` event (a damaged or foreign store): read what is left, then stop.
    const session = await store.getSession(id);
    if (!session || session.status === 'ended') {
      for (const e of await store.getEvents(id, { afterSeq, limit: 100_000 })) yield e;
      return;
    }
    try {
      await wait(options.pollMs ?? 200, options.signal);
    } catch {
      return; // aborted
    }
  }
}
