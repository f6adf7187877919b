/**
 * Fills the statements-per-minute chart with the last hour from the store when the server
 * starts. Bounded: the newest sessions first, at most MAX_SESSIONS of them; events the live bus
 * has already delivered (seq at or past the first live one) are not counted again.
 */
import type { Logger } from '../model/logger.js';
import type { SessionStore } from '../store/session-store.js';
import type { LiveFeed } from './live-feed.js';
import type { MinuteStats } from './minute-stats.js';

const WINDOW_US = 3600e6;
const MAX_SESSIONS = 500;
const PAGE = 5000;

export async function backfillMinuteStats(
  store: SessionStore,
  stats: MinuteStats,
  feed: LiveFeed,
  nowUs: number,
  log: Logger,
): Promise<void> {
  const sinceUs = nowUs - WINDOW_US;
  const sessions = await store.listSessions({ sinceUs, limit: MAX_SESSIONS });
  let counted = 0;
  for (const s of sessions) {
    if (s.statements === 0 && s.errors === 0) continue;
    const stopAt = feed.firstLiveSeq(s.id);
    let after = 0;
    for (;;) {
      const events = await store.getEvents(s.id, { afterSeq: after, limit: PAGE });
      for (const e of events) {
        if (e.seq >= stopAt) break;
        if (e.atUs < sinceUs) continue;
        if (e.kind === 'query') stats.record(s.user, e.atUs, 'statement');
        else if (e.kind === 'error') stats.record(s.user, e.atUs, 'error');
        else continue;
        counted++;
      }
      const last = events.at(-1);
      if (!last || events.length < PAGE || last.seq >= stopAt) break;
      after = last.seq;
    }
  }
  if (counted > 0) log.debug({ sessions: sessions.length, counted }, 'chart backfilled from the store');
}
