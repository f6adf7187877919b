/**
 * `dbtape show ID --json`: `{session: {...}, events: [...]}` in the shapes of shared/SPEC.md
 * (store/json.ts; the session with all its metadata), written a page of events at a time so a long session is never held whole.
 */
import { eventToJson, sessionDetailToJson } from '../store/json.js';
import type { SessionStore, SessionSummary } from '../store/session-store.js';
import { sessionEvents } from './event-source.js';
import { terminalSafeJson } from './json-safe.js';
import type { TextSink } from './sink.js';

export async function writeShowJson(
  store: SessionStore,
  session: SessionSummary,
  sink: TextSink,
): Promise<void> {
  await sink.write(`{\n  "session": ${terminalSafeJson(sessionDetailToJson(session))},\n  "events": [`);
  let first = true;
  for await (const e of sessionEvents(store, session.id)) {
    await sink.write(`${first ? '\n' : ',\n'}    ${terminalSafeJson(eventToJson(e))}`);
    first = false;
    if (sink.closed) return;
  }
  await sink.write(`${first ? '' : '\n  '}]\n}\n`);
  await sink.end();
}
