/**
 * Turning queued items into one store batch: sequence numbers are assigned here, and gap events
 * placed, so that the stored sequence stays dense; a failed write gives the numbers back
 * (BatchWriter.failed uses the snapshots).
 */
import type { SessionEvent, SessionEventBody, SessionMeta } from '../model/session.js';
import type { WriteBatch } from '../store/session-store.js';
import { storeFailed } from './errors.js';

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

export type ItemState = 'queued' | 'committed' | 'lost';

export interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  /** flush() waiters resolve whatever the outcome. */
  always: boolean;
}

export interface Item {
  /** Order of acceptance (BatchWriter numbers them). */
  readonly no: number;
  readonly track: Track;
  readonly body: SessionEventBody;
  readonly atUs: number;
  readonly offsetUs: number;
  state: ItemState;
  /** Taken into a batch being written. */
  inFlight: boolean;
  attempts: number;
  waiters: Waiter[] | null;
}

/** An item as it enters the queue: not yet taken, tried or waited for. */
export function queuedItem(
  no: number,
  track: Track,
  body: SessionEventBody,
  atUs: number,
  offsetUs: number,
): Item {
  return { no, track, body, atUs, offsetUs, state: 'queued', inFlight: false, attempts: 0, waiters: null };
}

export function isEssential(body: SessionEventBody): boolean {
  return body.kind === 'start' || body.kind === 'end';
}

export interface Built {
  batch: WriteBatch;
  tracks: Map<string, Track>;
  snapshots: Map<Track, { seqBefore: number; gapTaken: number }>;
  gaps: { sessionId: string; lost: number }[];
}

/** Assigns sequence numbers and places gap events; the caller undoes it if the write fails. */
export function buildBatch(items: Item[], lostTracks: Set<Track>): Built {
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

/**
 * Refuses an item's durable() waiters without settling it (strict mode keeps a refused statement's
 * record to write later). Returns how many were refused; flush() waiters go on waiting.
 */
export function refuse(item: Item, error: unknown): number {
  const waiters = item.waiters;
  if (!waiters) return 0;
  const refused = waiters.filter((w) => !w.always);
  item.waiters = waiters.length > refused.length ? waiters.filter((w) => w.always) : null;
  for (const w of refused) w.reject(storeFailed(error));
  return refused.length;
}

/**
 * Settles an item; waiters are refused when it was lost or its commit could not be made durable.
 * Returns how many durable() waiters were refused (flush() waiters always resolve).
 */
export function settle(item: Item, state: 'committed' | 'lost', error: unknown): number {
  item.state = state;
  const waiters = item.waiters;
  if (!waiters) return 0;
  item.waiters = null;
  const ok = state === 'committed' && !error;
  let refused = 0;
  for (const w of waiters) {
    if (ok || w.always) w.resolve();
    else {
      w.reject(storeFailed(error));
      refused++;
    }
  }
  return refused;
}
