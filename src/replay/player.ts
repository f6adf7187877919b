/**
 * `dbtape replay`: a recorded session played back as its client showed it, with the recorded
 * pauses (timeline.ts). With `follow`, what was recorded so far is shown at once, then each new
 * event as the proxy records it, until the session ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionStore, SessionSummary } from '../store/session-store.js';
import { sessionEvents } from './event-source.js';
import { createRenderer, type RenderOptions } from './renderer.js';
import type { TextSink } from './sink.js';
import { ReplaySchedule, type TimelineOptions } from './timeline.js';

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => sleep(ms),
};

export interface PlayOptions extends TimelineOptions, RenderOptions {
  readonly follow?: boolean;
  /** Pause between store polls while following (default 200 ms). */
  readonly pollMs?: number;
  readonly clock?: Clock;
}

export async function playSession(
  store: SessionStore,
  session: SessionSummary,
  sink: TextSink,
  options: PlayOptions = {},
): Promise<void> {
  const clock = options.clock ?? realClock;
  const renderer = createRenderer(session, options);
  // Following a live session: the backlog at once, then events as they come (their arrival is the rhythm).
  const schedule = new ReplaySchedule({ ...options, instant: options.instant || options.follow });
  await sink.write(renderer.header());
  const start = clock.now();
  for await (const e of sessionEvents(store, session.id, {
    follow: options.follow,
    pollMs: options.pollMs,
  })) {
    const wait = start + schedule.dueMs(e.offsetUs) - clock.now();
    if (wait > 0) await clock.sleep(wait);
    await sink.write(renderer.event(e));
    if (sink.closed) return;
  }
  await sink.end();
}
