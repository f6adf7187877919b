/**
 * The bounded queue between the proxy's hot path and the store, and the writer that drains it
 * in group commits (one store transaction per batch, across sessions).
 *
 * Sequence numbers are assigned here, when a batch is built, not when an event is accepted:
 * a failed batch gives its numbers back, so the stored sequence stays dense and a `gap` event
 * (with the count of lost events) takes the next number once the store writes again. `start`
 * and `end` events are never dropped: they are exempt from the queue limit and a failed batch
 * puts them back at the front of the queue.
 *
 * Strict mode: a batch is written with `durable: true` (the store commits and fsyncs it in one
 * call, off the event loop), and only then do durable() callers go on; events that arrive
 * meanwhile form the next batch. Only a durable() call starts such a write at once: events that
 * nobody waits for join the next one (or go at the window), so that each fsync carries as many
 * statements as it can (measured: one client's pgbench -S went from two fsyncs per transaction
 * to one, and from 2,050 to 2,750 TPS). A failed fsync after the commit (DBTAPE_STORE_SYNC_FAILED)
 * keeps the batch's sequence numbers but refuses its statements; the fsync alone is retried.
 * While the store fails, durable() refuses at once instead of waiting for the next retry, and
 * retries back off up to maxBackoffMs, so statements flow again within about that long once the
 * store works.
 */
import { Histogram } from '../model/histogram.js';
import type { SessionEventBody } from '../model/session.js';
import type { SessionStore, SessionSummary } from '../store/session-store.js';
import {
  type Built,
  buildBatch,
  type Item,
  isEssential,
  queuedItem,
  refuse,
  settle,
  type Track,
} from './batch-build.js';
import { isStoreWideFailure, RecordingError, storeFailed } from './errors.js';
import type { LiveBus } from './live-bus.js';
import { StoreHealth } from './store-health.js';

export type { Item, Track };

export interface RecorderLogger {
  info?(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
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
  /** Called after each commit that ended (and so sealed) sessions, with how many. */
  readonly onSealed?: (sessions: number) => void;
  /**
   * How often to check that the store still holds the latest end it acknowledged (0: never). A
   * live session's next write reveals a restored store; this finds one while none is written.
   */
  readonly restoreProbeMs: number;
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
  /** Strict mode: durable writes (commit and fsync), and how long the last and longest took. */
  syncs: number;
  lastSyncMs: number;
  maxSyncMs: number;
  /**
   * Strict mode: durable() calls refused because the store could not write (at once, or when the
   * write they waited for failed): statements that were not run.
   */
  refused: number;
}

/** Upper bounds of the strict-mode write histogram, in seconds: from a fast disk to a stalled one. */
const DURABLE_WRITE_BUCKETS_S = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

/**
 * What a failed write keeps (start and end; in strict mode everything) is given up after this
 * many failures that are not the store's as a whole, so that an event the store refuses for itself
 * cannot hold every later write back for ever. A failure of the whole store (a full disk, a store
 * server down) does not count, however long it lasts: giving up a session's start then would
 * lose the session without a trace.
 */
const MAX_ATTEMPTS = 50;

/**
 * How many ended sessions, and for how long, the writer remembers, so that a store restored to a
 * point before their end can be given it again (reendLost). Older ones stay open in such a store
 * until the next `serve` closes them (proxy_crash).
 */
const RECENTLY_ENDED_MAX = 4096;
const RECENTLY_ENDED_MS = 15 * 60_000;

interface EndedSession {
  readonly track: Track;
  readonly end: Item;
  readonly committedAtMs: number;
}

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
    syncs: 0,
    lastSyncMs: 0,
    maxSyncMs: 0,
    refused: 0,
  };
  /** Strict mode: the time of each durable write (what every statement in it waited for). */
  readonly durableWrites: Histogram | null;
  private queue: Item[] = [];
  private head = 0;
  private readonly lostTracks = new Set<Track>();
  private lastItem: Item | null = null;
  private scheduled = false;
  /** The pending commit is a timer waiting out the flush window (can be brought forward). */
  private windowTimer: NodeJS.Timeout | null = null;
  /** flush() waits: drain everything without waiting for the window. */
  private urgent = false;
  /** Items are numbered as accepted; `taken` is the number of the last one taken into a batch. */
  private accepted = 0;
  private taken = 0;
  /**
   * The last item a durable() caller waits for: batches are written without waiting for the
   * window until it is taken. Only such a wait starts a strict-mode group commit; the events
   * nobody waits for (outcomes, notices) ride along with the next one or go at the window, so
   * each fsync carries as many statements as possible.
   */
  private wantedUpTo = 0;
  private draining = false;
  private readonly health: StoreHealth;
  private overflowing = false;
  private stopped = false;
  /** While failing: the one statement allowed to wait for the next retry. */
  private probe: Item | null = null;
  /** Sessions whose end was committed lately, oldest first. */
  private readonly recentlyEnded = new Map<string, EndedSession>();
  private reending = false;
  private readonly restoreProbe: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: SessionStore,
    private readonly opt: WriterOptions,
  ) {
    this.health = new StoreHealth(opt.maxBackoffMs, opt.logger);
    this.durableWrites = opt.strict ? new Histogram(DURABLE_WRITE_BUCKETS_S) : null;
    if (opt.restoreProbeMs > 0) {
      this.restoreProbe = setInterval(() => void this.probeRestore(), opt.restoreProbeMs);
      this.restoreProbe.unref();
    }
  }

  get depth(): number {
    return this.queue.length - this.head;
  }

  /** Hot path: queue one stamped event, or count it lost. Never throws, never waits. */
  accept(track: Track, body: SessionEventBody, atUs: number, offsetUs: number): void {
    const essential = isEssential(body);
    track.lastAtUs = atUs;
    track.lastOffsetUs = offsetUs;
    if (!essential && (this.depth >= this.opt.queueLimit || this.stopped)) {
      this.drop(track);
      return;
    }
    const item = queuedItem(++this.accepted, track, body, atUs, offsetUs);
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
    this.countLost(track);
    track.lastDropped = true;
    if (!this.overflowing && !this.stopped) {
      this.overflowing = true;
      this.opt.logger.warn(
        { queueLimit: this.opt.queueLimit },
        'recording queue full: dropping events (gaps will be recorded)',
      );
    }
  }

  private countLost(track: Track): void {
    track.lost++;
    this.lostTracks.add(track);
    this.stats.lost++;
  }

  /** Resolves once this session's events so far are committed (and, in strict mode, fsynced). */
  durable(track: Track): Promise<void> {
    if (track.lastDropped) {
      this.stats.refused++;
      // Make room: drain what is queued without waiting for the window.
      this.urgent = true;
      this.schedule();
      return Promise.reject(
        new RecordingError(
          'DBTAPE_RECORDING_QUEUE_FULL',
          'dbtape: the recording queue is full; the statement was not recorded',
        ),
      );
    }
    const item = track.lastItem;
    const probing = this.probe !== null && this.probe.state === 'queued';
    if (this.health.failing && item && item.state === 'queued' && !item.inFlight && !isEssential(item.body)) {
      if (!probing) {
        // One statement waits for the next retry: if the store works again, it goes through.
        this.probe = item;
        this.want(item);
        this.schedule();
        return this.waitFor(item, false);
      }
      // The store failed and has not written since: refuse now rather than hold the statement
      // until the next retry. Its event stays queued, to be written when the store works again,
      // followed by the refusal: the recording tells what was tried, not just that something was.
      this.stats.refused++;
      this.schedule();
      return Promise.reject(storeFailed(this.health.lastError));
    }
    this.want(item);
    this.schedule();
    return this.waitFor(item, false);
  }

  private want(item: Item | null): void {
    if (item && item.state === 'queued' && !item.inFlight)
      this.wantedUpTo = Math.max(this.wantedUpTo, item.no);
  }

  /** Resolves once everything accepted so far has been written or given up. */
  flush(): Promise<void> {
    this.urgent = true;
    this.schedule();
    return this.waitFor(this.lastItem, true);
  }

  private waitFor(item: Item | null, always: boolean): Promise<void> {
    if (!item || item.state === 'committed' || (always && item.state === 'lost')) return Promise.resolve();
    if (item.state === 'lost') {
      this.stats.refused++;
      return Promise.reject(storeFailed(this.health.lastError));
    }
    return new Promise((resolve, reject) => {
      item.waiters ??= [];
      item.waiters.push({ resolve, reject, always });
    });
  }

  /** Stop accepting ordinary events; start/end still queue. */
  stop(): void {
    this.stopped = true;
    if (this.restoreProbe) clearInterval(this.restoreProbe);
  }

  /** Gives up on whatever is still queued (after a failed shutdown flush). */
  abandon(): void {
    for (const item of this.queue.slice(this.head)) {
      if (item.state !== 'queued') continue;
      item.track.queued--;
      this.stats.refused += settle(item, 'lost', null);
    }
    this.queue = [];
    this.head = 0;
    // Nobody waits for a write any more.
    this.taken = this.accepted;
    // Nothing more is written for these sessions: no gap is owed.
    this.lostTracks.clear();
  }

  /**
   * Arrange a drain: now if it is pressing (flush() or a durable() caller waits, or a full batch is
   * ready; callers set `urgent` or `wantedUpTo` first), else after the window.
   */
  private schedule(): void {
    const now = this.pressing();
    if (now && this.windowTimer !== null && this.health.retryAt <= Date.now()) {
      clearTimeout(this.windowTimer);
      this.windowTimer = null;
      this.scheduled = false;
    }
    if (this.scheduled || this.draining) return;
    this.scheduled = true;
    const retryWait = this.health.retryAt - Date.now();
    const run = (): void => {
      this.scheduled = false;
      this.windowTimer = null;
      void this.drain();
    };
    if (retryWait > 0) setTimeout(run, retryWait);
    else if (now) setImmediate(run);
    else this.windowTimer = setTimeout(run, this.opt.flushIntervalMs);
  }

  /** Someone waits for what is queued, or a full batch is ready. */
  private pressing(): boolean {
    return this.urgent || this.wantedUpTo > this.taken || this.depth >= this.opt.batchSize;
  }

  private hasWork(): boolean {
    if (this.depth > 0 || this.health.needSync) return true;
    // A session with queued items reports its gap with them (buildBatch); only idle ones wait here.
    for (const t of this.lostTracks) if (t.startCommitted && t.queued === 0) return true;
    return false;
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.hasWork() && Date.now() >= this.health.retryAt) {
        if (!(await this.writeOne())) break;
        // Under steady load keep gathering: a partial batch waits for the next window.
        if (!this.pressing()) break;
        // Let the proxy run between batches.
        if (this.depth > 0) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.draining = false;
      if (this.depth === 0) this.urgent = false;
    }
    if (this.hasWork()) this.schedule();
  }

  /** Up to n items still queued (cancelled ones are dropped from the queue here). */
  private take(n: number): Item[] {
    const items: Item[] = [];
    while (items.length < n && this.head < this.queue.length) {
      const item = this.queue[this.head++]!;
      this.taken = item.no;
      if (item.state !== 'queued') continue;
      item.inFlight = true;
      item.track.queued--;
      items.push(item);
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return items;
  }

  private async writeOne(): Promise<boolean> {
    const items = this.take(this.opt.batchSize);
    const built = buildBatch(items, this.lostTracks);
    const writing = built.batch.events.length > 0;
    // Nothing to write or sync: no progress, so the drain loop must not go round again (it
    // would never yield to the event loop).
    if (!writing && !this.health.needSync) return false;
    const t0 = performance.now();
    try {
      if (writing) await this.store.writeBatch(built.batch, { durable: this.opt.strict });
      // Only an earlier fsync failed: retry it alone.
      else await this.store.sync?.();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'DBTAPE_STORE_SYNC_FAILED') {
        this.failed(items, built, err);
        return false;
      }
      // Committed, so the sequence numbers stay taken; only durability is in doubt.
      this.committed(items, built, performance.now() - t0, err);
      this.health.syncFailed(err);
      this.stats.storeErrors = this.health.errors;
      return false;
    }
    const ms = performance.now() - t0;
    if (this.opt.strict) this.recordSync(ms);
    this.committed(items, built, ms, null);
    this.health.recovered();
    return true;
  }

  private recordSync(ms: number): void {
    const s = this.stats;
    s.syncs++;
    s.lastSyncMs = ms;
    this.durableWrites?.observe(ms / 1000);
    s.maxSyncMs = Math.max(s.maxSyncMs, ms);
  }

  /** `syncError`: the batch is committed but its fsync failed, so its waiters are refused. */
  private committed(items: Item[], built: Built, ms: number, syncError: unknown): void {
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
    for (const item of items) {
      item.inFlight = false;
      this.stats.refused += settle(item, 'committed', syncError);
      if (item.body.kind === 'end') this.rememberEnded(item);
    }
    if (!this.opt.bus.idle)
      for (const { sessionId, event } of built.batch.events) this.opt.bus.publish(sessionId, event);
    if (built.batch.ends.length > 0) this.opt.onSealed?.(built.batch.ends.length);
  }

  private failed(items: Item[], built: Built, err: unknown): void {
    for (const [track, snap] of built.snapshots) {
      track.nextSeq = snap.seqBefore;
      track.lost += snap.gapTaken;
      if (track.lost > 0) this.lostTracks.add(track);
    }
    // A store that is behind or ahead works: the whole batch is written again once the session is
    // resynced, but for what an ahead store already holds of it: its start, and its end if the
    // store says it holds it (the end may instead have been in a later write that truly failed).
    const outOfStep = outOfStepOf(err, built);
    const storeWide = isStoreWideFailure(err);
    const retry: Item[] = [];
    for (const item of items) {
      item.inFlight = false;
      const kind = item.body.kind;
      if (
        outOfStep?.ahead &&
        item.track === outOfStep.track &&
        (kind === 'start' || (kind === 'end' && outOfStep.ended))
      ) {
        settle(item, 'committed', null);
        continue;
      }
      if ((outOfStep || this.keeps(item)) && (storeWide || ++item.attempts < MAX_ATTEMPTS)) {
        // A statement in strict mode is refused now, though its record is kept: it did not run.
        if (!outOfStep && this.opt.strict && kind === 'query') {
          this.stats.refused += refuse(item, err);
          // Its record waits for the store; the next statement may be the one that waits for a retry.
          if (item === this.probe) this.probe = null;
        }
        retry.push(item);
        item.track.queued++;
        continue;
      }
      this.countLost(item.track);
      this.stats.refused += settle(item, 'lost', err);
    }
    this.queue = [...retry, ...this.queue.slice(this.head)];
    this.head = 0;
    if (retry.length > 0) this.taken = Math.min(this.taken, retry[0]!.no - 1);
    if (outOfStep?.ahead) this.skipAhead(outOfStep.track, outOfStep.storedSeq);
    else if (outOfStep) {
      this.resync(outOfStep.track, outOfStep.storedSeq);
      void this.reendLost();
    }
    this.health.failed(err, items.length);
    this.stats.storeErrors = this.health.errors;
  }

  /**
   * What a failed write keeps for the next one rather than give up (a gap then reports it):
   * start and end; and in strict mode everything, since nothing is queued faster than statements
   * can be refused: the statements themselves (refused with the write, so they never ran, but
   * recorded once the store works, each followed by its refusal) and what happened around those
   * that did run (the result of the one just before, its notices).
   */
  private keeps(item: Item): boolean {
    return isEssential(item.body) || this.opt.strict;
  }

  /**
   * The store already holds `track`'s session up to `storedSeq`, beyond what this writer believed:
   * a write it was told had failed had committed (the store lost the connection during COMMIT and
   * could not be asked). Those events were counted lost; they are not, so the count goes down by
   * as many, and the session goes on after them.
   */
  private skipAhead(track: Track, storedSeq: number): void {
    const stored = storedSeq - (track.nextSeq - 1);
    if (stored <= 0) return;
    track.nextSeq = storedSeq + 1;
    track.startCommitted = true;
    const counted = Math.min(track.lost, stored);
    track.lost -= counted;
    this.stats.lost -= counted;
    if (track.lost === 0) this.lostTracks.delete(track);
    this.opt.logger.warn(
      { sessionId: track.meta.id, storedSeq, stored },
      'a recording write reported failed had been stored: going on after it',
    );
  }

  /**
   * The store holds `track`'s session only up to `storedSeq`, below what it had acknowledged (it
   * was restored, or failed over to a standby that lagged): every later event of the session would
   * be refused, and its recording would stop for good. Go on from what the store holds: the events
   * it lost are reported by a gap, and a session whose start it lost is started again from the
   * metadata kept here.
   */
  private resync(track: Track, storedSeq: number): void {
    if (track.nextSeq - 1 <= storedSeq) return;
    const restart = storedSeq === 0 && !this.queue.some((i) => i.track === track && i.body.kind === 'start');
    const lost = track.nextSeq - 1 - storedSeq - (restart ? 1 : 0);
    track.nextSeq = storedSeq + 1;
    if (lost > 0) {
      track.lost += lost;
      this.lostTracks.add(track);
      this.stats.lost += lost;
    }
    if (restart) {
      track.startCommitted = false;
      // Numbered before every accepted item, and taken first: buildBatch puts the session's row and
      // its gap with it.
      const start = queuedItem(0, track, { kind: 'start', meta: track.meta }, track.meta.startedAtUs, 0);
      // At the head, not the array's start: items before it are taken already.
      this.queue.splice(this.head, 0, start);
      track.queued++;
      this.taken = Math.min(this.taken, -1);
    }
    this.opt.logger.error(
      { sessionId: track.meta.id, storedSeq, lost, restarted: restart },
      'the session store lost events it had acknowledged (restored, or failed over to a standby that lagged?): recording goes on from what it holds, with a gap',
    );
  }

  private rememberEnded(end: Item): void {
    const id = end.track.meta.id;
    this.recentlyEnded.delete(id);
    const now = Date.now();
    this.recentlyEnded.set(id, { track: end.track, end, committedAtMs: now });
    const cutoff = now - RECENTLY_ENDED_MS;
    for (const [oldId, e] of this.recentlyEnded) {
      if (this.recentlyEnded.size <= RECENTLY_ENDED_MAX && e.committedAtMs >= cutoff) break;
      this.recentlyEnded.delete(oldId);
    }
  }

  /**
   * Whether the store still holds the end it acknowledged last. Ends are remembered in commit
   * order and a restore takes away everything after a point, so if it took any remembered end, it
   * took this one. Without a session live, nothing else would notice before the next `serve`.
   */
  private async probeRestore(): Promise<void> {
    if (this.reending || this.health.failing) return;
    let newest: [string, EndedSession] | undefined;
    for (const entry of this.recentlyEnded) newest = entry;
    if (!newest) return;
    const [id, ended] = newest;
    let stored: SessionSummary | null;
    try {
      stored = await this.store.getSession(id);
    } catch {
      return; // A failing store is retried, and logged, by the writes.
    }
    // Ended again meanwhile (or forgotten): the store was seen holding it, or reendLost is at work.
    if (this.recentlyEnded.get(id) !== ended) return;
    if (holdsEnd(stored, ended.track)) return;
    this.opt.logger.error(
      { sessionId: id, storedSeq: stored?.lastSeq ?? 0 },
      'the session store no longer holds a session end it had acknowledged (restored, or failed over to a standby that lagged?): ending again the sessions it lost the end of',
    );
    await this.reendLost();
  }

  /**
   * The store lost acknowledged commits (a session of a batch was behind, or probeRestore found
   * the latest end gone): sessions that ended
   * lately may have lost their end with them, and nothing more would be written for them, so they
   * would stay open in the store. Each that did is given a gap for what it lost (started again if
   * its start went too) and its end again, with its original reason and time.
   */
  private async reendLost(): Promise<void> {
    if (this.reending) return;
    this.reending = true;
    try {
      for (const [id, ended] of [...this.recentlyEnded]) {
        let stored: SessionSummary | null;
        try {
          stored = await this.store.getSession(id);
        } catch {
          // The store fails again: the next behind session it reports starts this over.
          return;
        }
        // Checked once per restore: every behind session of it would otherwise check them all again.
        this.recentlyEnded.delete(id);
        const { track, end } = ended;
        if (holdsEnd(stored, track)) continue;
        // The end's number is given back: it is written again, after the gap.
        track.nextSeq--;
        this.resync(track, stored?.lastSeq ?? 0);
        const again = queuedItem(++this.accepted, track, end.body, end.atUs, end.offsetUs);
        this.queue.push(again);
        track.queued++;
        this.lastItem = again;
      }
    } finally {
      this.reending = false;
    }
    this.schedule();
  }
}

/** Whether `stored`, the store's row of an ended session's `track`, holds its end (its last event). */
function holdsEnd(stored: SessionSummary | null, track: Track): boolean {
  return stored !== null && (stored.status === 'ended' || stored.lastSeq >= track.nextSeq - 1);
}

/** The session a DBTAPE_STORE_BEHIND or _AHEAD refusal names, if it is one of the batch's. */
function outOfStepOf(
  err: unknown,
  built: Built,
): { track: Track; storedSeq: number; ahead: boolean; ended: boolean } | null {
  const e = err as { code?: unknown; sessionId?: unknown; storedSeq?: unknown; ended?: unknown } | null;
  const ahead = e?.code === 'DBTAPE_STORE_AHEAD';
  if ((!ahead && e?.code !== 'DBTAPE_STORE_BEHIND') || typeof e?.sessionId !== 'string') return null;
  if (typeof e.storedSeq !== 'number') return null;
  const track = built.tracks.get(e.sessionId);
  return track ? { track, storedSeq: e.storedSeq, ahead, ended: e.ended === true } : null;
}
