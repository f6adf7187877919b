/**
 * `dbtape export --format jsonl`, for SIEM pipelines: one JSON object per line.
 *  - line 1: `{"session": {...}}`, the session exactly as `dbtape sessions --json` shows it;
 *  - every further line: one event exactly as `dbtape show --json` shows it, plus `session_id`,
 *    so each line stands on its own once a pipeline has split the file.
 * Values are the recorded ones; characters a terminal could act on are \u-escaped (json-safe.ts).
 */

import { eventToJson, sessionToJson } from '../store/json.js';
import type { SessionStore, SessionSummary } from '../store/session-store.js';
import { sessionEvents } from './event-source.js';
import { terminalSafeJson } from './json-safe.js';
import { noProgress, type Progress } from './progress.js';
import type { TextSink } from './sink.js';

export async function exportJsonl(
  store: SessionStore,
  session: SessionSummary,
  sink: TextSink,
  progress: Progress = noProgress,
): Promise<void> {
  await sink.write(`${terminalSafeJson({ session: sessionToJson(session) })}\n`);
  for await (const e of sessionEvents(store, session.id)) {
    await sink.write(`${terminalSafeJson({ session_id: session.id, ...eventToJson(e) })}\n`);
    progress.advance();
    if (sink.closed) break;
  }
  await sink.end();
}
