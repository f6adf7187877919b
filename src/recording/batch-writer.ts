/**
 * The bounded queue between the proxy's hot path and the store, and the writer that drains it
 * in group commits (one store transaction per batch, across sessions).
 *
 * Sequence numbers are assigned here, when a batch is built, not when an event is accepted:
 * a failed batch gives its numbers back, so the stored sequence stays dense and a `gap` event
 * (with the count of lost events) takes the next number once the store writes again. `start`
 * and `end` events are never dropped: they are exempt from the queue limit and a failed batch
 * puts them back at the front of the queue.
 */
import type { SessionEvent, SessionEventBody, SessionMeta } from '../model/session.js';
import type { SessionStore, WriteBatch } from '../store/session-store.js';
import { RecordingError } from './errors.js';
import type { LiveBus } from './live-bus.js';

export interface RecorderLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Writer-side state of one session. */
export interface Track {
  readonly meta: SessionMeta;
  nextSeq: number;
  /** Events lost and not yet reported by a gap event. */
  lost: number;
  /** Items of this session in the queue. */
  queued: number;
  startCommitted: boolean;
  /** The last event() call for this session was dropped (queue full). */
  lastDropped: boolean;
  lastItem: Item | null;
  lastAtUs: number;
  lastOffsetUs: number;
}

type ItemState = 'queued' | 'committed' | 'lost';

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  /** flush() waiters resolve whatever the outcome. */
  always: boolean;
}

export interface Item {
  readonly track: Track;
  readonly body: SessionEventBody;
  readonly atUs: number;
  readonly offsetUs: number;
  state: ItemState;
  attempts: number;
  waiters: Waiter[] | null;
}

export interface WriterOptions {
  readonly queueLimit: number;
  readonly batchSize: number;
  readonly strict: boolean;
  readonly logger: RecorderLogger;
  readonly bus: LiveBus;
  /** Longest pause between retries while the store fails. */
  readonly maxBackoffMs: number;
  /**
   * Fast mode only: how long events gather before a commit (unless a full batch is ready
   * first). Each commit costs page writes and a new FTS segment whatever its size, so
   * committing per event-loop turn would make SQLite the proxy's bottleneck.
   */
  readonly flushIntervalMs: number;
}

export interface WriterStats {
  queueDepth: number;
  accepted: number;
  committed: number;
  /** Events lost (queue full or failed write); each reported later by a gap event. */
  lost: number;
  gaps: number;
  storeErrors: number;
  batches: number;
  lastBatchMs: number;
  maxBatchMs: number;
}

/** start/end are retried this many times before they, too, are given up. */
const MAX_ATTEMPTS = 50;

export class BatchWriter {
  readonly stats: WriterStats = {
    queueDepth: 0,
    accepted: 0,
    committed: 0,
    lost: 0,
    gaps: 0,
    storeErrors: 0,
    batches: 0,
    lastBatchMs: 0,
    maxBatchMs: 0,
  };
  private queue: Item[] = [];
  private head = 0;
  private readonly lostTracks = new Set<Track>();
  private lastItem: Item | null = null;
  private scheduled = false;
  /** The pending commit is a timer waiting out the flush window (can be brought forward). */
  private windowTimer: NodeJS.Timeout | null = null;
  /** Someone waits for a commit (flush, durable): drain everything without waiting for the window. */
  private urgent = false;
  private draining = false;
  private retryAt = 0;
  private backoffMs = 0;
  private failing = false;
  private overflowing = false;
  private stopped = false;

  constructor(
    private readonly store: SessionStore,
    private readonly opt: WriterOptions,
  ) {}

  get depth(): number {
    return this.queue.length - this.head;
  }

  /** Hot path: queue one stamped event, or count it lost. Never throws, never waits. */
  accept(track: Track, body: SessionEventBody, atUs: number, offsetUs: number): void {
    const essential = body.kind === 'start' || body.kind === 'end';
    track.lastAtUs = atUs;
    track.lastOffsetUs = offsetUs;
    if (!essential && (this.depth >= this.opt.queueLimit || this.stopped)) {
      this.drop(track);
      return;
    }
    const item: Item = { track, body, atUs, offsetUs, state: 'queued', attempts: 0, waiters: null };
    this.queue.push(item);
    track.queued++;
    track.lastItem = item;
    track.lastDropped = false;
    this.lastItem = item;
    this.stats.accepted++;
    this.overflowing = false;
    this.schedule();
  }

  private drop(track: Track): void {
    track.lost++;
    track.lastDropped = true;
    this.lostTracks.add(track);
    this.stats.lost++;
    if (!this.overflowing && !this.stopped) {
      this.overflowing = true;
      this.opt.logger.warn(
        { queueLimit: this.opt.queueLimit },
        'recording queue full: dropping events (gaps will be recorded)',
      );
    }
  }

  /** Resolves once this session's events so far are committed; rejects if the last one was lost. */
  durable(track: Track): Promise<void> {
    this.schedule(true);
    if (track.lastDropped) {
      return Promise.reject(
        new RecordingError(
          'DBTAPE_RECORDING_QUEUE_FULL',
          'dbtape: the recording queue is full; the statement was not recorded',
        ),
      );
    }
    return this.waitFor(track.lastItem, false);
  }

  /** Resolves once everything accepted so far has been written or given up. */
  flush(): Promise<void> {
    this.schedule(true);
    return this.waitFor(this.lastItem, true);
  }

  private waitFor(item: Item | null, always: boolean): Promise<void> {
    if (!item || item.state === 'committed' || (always && item.state === 'lost')) return Promise.resolve();
    if (item.state === 'lost') return Promise.reject(storeFailed());
    return new Promise((resolve, reject) => {
      item.waiters ??= [];
      item.waiters.push({ resolve, reject, always });
    });
  }

  /** Stop accepting ordinary events; start/end still queue. */
  stop(): void {
    this.stopped = true;
  }

  /** Gives up on whatever is still queued (after a failed shutdown flush). */
  abandon(): void {
    for (const item of this.queue.slice(this.head)) settle(item, 'lost');
    this.queue = [];
    this.head = 0;
  }

  /** Arrange a drain: now if `urgent`, a full batch is ready or in strict mode; else after the window. */
  private schedule(urgent = false): void {
    if (urgent) this.urgent = true;
    const now = this.urgent || this.opt.strict || this.depth >= this.opt.batchSize;
    if (now && this.windowTimer !== null && this.retryAt <= Date.now()) {
      clearTimeout(this.windowTimer);
      this.windowTimer = null;
      this.scheduled = false;
    }
    if (this.scheduled || this.draining) return;
    this.scheduled = true;
    const retryWait = this.retryAt - Date.now();
    const run = (): void => {
      this.scheduled = false;
      this.windowTimer = null;
      void this.drain();
    };
    if (retryWait > 0) setTimeout(run, retryWait);
    else if (now) setImmediate(run);
    else this.windowTimer = setTimeout(run, this.opt.flushIntervalMs);
  }

  private hasWork(): boolean {
    if (this.depth > 0) return true;
    for (const t of this.lostTracks) if (t.startCommitted) return true;
    return false;
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.hasWork() && Date.now() >= this.retryAt) {
        if (!(await this.writeOne())) break;
        // Under steady load keep gathering: a partial batch waits for the next window.
        if (!this.urgent && !this.opt.strict && this.depth < this.opt.batchSize) break;
        // Let the proxy run between batches.
        if (this.depth > 0) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.draining = false;
      if (this.depth === 0) this.urgent = false;
    }
    if (this.hasWork()) this.schedule();
  }

  private take(n: number): Item[] {
    const items = this.queue.slice(this.head, this.head + n);
    this.head += items.length;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    for (const item of items) item.track.queued--;
    return items;
  }

  private async writeOne(): Promise<boolean> {
    const items = this.take(this.opt.batchSize);
    const built = buildBatch(items, this.lostTracks);
    const t0 = performance.now();
    try {
      await this.store.writeBatch(built.batch, { durable: this.opt.strict });
    } catch (err) {
      this.failed(items, built, err);
      return false;
    }
    this.committed(items, built, performance.now() - t0);
    return true;
  }

  private committed(items: Item[], built: Built, ms: number): void {
    const s = this.stats;
    s.batches++;
    s.lastBatchMs = ms;
    s.maxBatchMs = Math.max(s.maxBatchMs, ms);
    s.committed += built.batch.events.length;
    s.gaps += built.gaps.length;
    for (const g of built.gaps) {
      this.opt.logger.warn(
        { sessionId: g.sessionId, lost: g.lost },
        'recorded a gap: events of this session were lost',
      );
    }
    for (const meta of built.batch.sessions) built.tracks.get(meta.id)!.startCommitted = true;
    if (this.failing) {
      this.failing = false;
      this.opt.logger.warn({}, 'recording store writes again');
    }
    this.backoffMs = 0;
    this.retryAt = 0;
    for (const item of items) settle(item, 'committed');
    if (!this.opt.bus.idle)
      for (const { sessionId, event } of built.batch.events) this.opt.bus.publish(sessionId, event);
  }

  private failed(items: Item[], built: Built, err: unknown): void {
    this.stats.storeErrors++;
    for (const [track, snap] of built.snapshots) {
      track.nextSeq = snap.seqBefore;
      track.lost += snap.gapTaken;
      if (track.lost > 0) this.lostTracks.add(track);
    }
    const retry: Item[] = [];
    for (const item of items) {
      const essential = item.body.kind === 'start' || item.body.kind === 'end';
      if (essential && ++item.attempts < MAX_ATTEMPTS) {
        retry.push(item);
        item.track.queued++;
        continue;
      }
      item.track.lost++;
      this.lostTracks.add(item.track);
      this.stats.lost++;
      settle(item, 'lost');
    }
    this.queue = [...retry, ...this.queue.slice(this.head)];
    this.head = 0;
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 50), this.opt.maxBackoffMs);
    this.retryAt = Date.now() + this.backoffMs;
    if (!this.failing) {
      this.failing = true;
      const e = err as { code?: unknown; message?: unknown };
      this.opt.logger.error(
        { err: String(e?.message ?? err), code: e?.code, events: items.length },
        'recording store write failed; sessions continue, lost events will be recorded as gaps',
      );
    }
  }
}

interface Built {
  batch: WriteBatch;
  tracks: Map<string, Track>;
  snapshots: Map<Track, { seqBefore: number; gapTaken: number }>;
  gaps: { sessionId: string; lost: number }[];
}

/** Assigns sequence numbers and places gap events; the caller undoes it if the write fails. */
function buildBatch(items: Item[], lostTracks: Set<Track>): Built {
  const events: { sessionId: string; event: SessionEvent }[] = [];
  const sessions: SessionMeta[] = [];
  const ends: WriteBatch['ends'][number][] = [];
  const tracks = new Map<string, Track>();
  const snapshots = new Map<Track, { seqBefore: number; gapTaken: number }>();
  const gaps: Built['gaps'] = [];
  const gapPlaced = new Set<Track>();
  const touch = (t: Track): void => {
    if (!snapshots.has(t)) snapshots.set(t, { seqBefore: t.nextSeq, gapTaken: 0 });
    tracks.set(t.meta.id, t);
  };
  const gap = (t: Track, atUs: number, offsetUs: number): void => {
    const lost = t.lost;
    t.lost = 0;
    lostTracks.delete(t);
    gapPlaced.add(t);
    snapshots.get(t)!.gapTaken += lost;
    gaps.push({ sessionId: t.meta.id, lost });
    events.push({ sessionId: t.meta.id, event: { seq: t.nextSeq++, atUs, offsetUs, kind: 'gap', lost } });
  };
  for (const item of items) {
    const t = item.track;
    touch(t);
    const kind = item.body.kind;
    if (t.lost > 0 && kind !== 'start' && !gapPlaced.has(t)) gap(t, item.atUs, item.offsetUs);
    const event = {
      seq: t.nextSeq++,
      atUs: item.atUs,
      offsetUs: item.offsetUs,
      ...item.body,
    } as SessionEvent;
    events.push({ sessionId: t.meta.id, event });
    if (kind === 'start') sessions.push(t.meta);
    if (item.body.kind === 'end')
      ends.push({ sessionId: t.meta.id, endedAtUs: item.atUs, reason: item.body.reason });
    if (kind === 'start' && t.lost > 0) gap(t, item.atUs, item.offsetUs);
  }
  // Sessions with nothing queued that lost events: report the gap now, after their last event.
  for (const t of [...lostTracks]) {
    if (t.queued > 0 || gapPlaced.has(t) || !(t.startCommitted || sessions.includes(t.meta))) continue;
    touch(t);
    gap(t, t.lastAtUs, t.lastOffsetUs);
  }
  return { batch: { sessions, events, ends }, tracks, snapshots, gaps };
}

function settle(item: Item, state: 'committed' | 'lost'): void {
  item.state = state;
  const waiters = item.waiters;
  if (!waiters) return;
  item.waiters = null;
  for (const w of waiters) {
    if (state === 'committed' || w.always) w.resolve();
    else w.reject(storeFailed());
  }
}

function storeFailed(): RecordingError {
  return new RecordingError(
    'DBTAPE_RECORDING_STORE_FAILED',
    'dbtape: the session store cannot write; the statement was not recorded',
  );
}
