/**
 * A WriteBatch in the form the stores write it: each event already in recording format v1
 * (the bytes that are stored and hashed), plus the few fields the store indexes. Measured on the
 * pgbench path, handing the worker thread event objects cost more CPU than the SQLite inserts:
 * the structured clone of every object on both threads, then a JSON encoding in the worker. This
 * form crosses threads as a handful of strings and one transferred Float64Array.
 */
import type { SessionEvent, SessionEventKind, SessionMeta } from '../model/session.js';
import { EVENT_FORMAT_VERSION } from './event-codec.js';
import type { SessionEnd, WriteBatch } from './session-store.js';

export interface EncodedBatch {
  readonly sessions: readonly SessionMeta[];
  readonly ends: readonly SessionEnd[];
  /** Distinct session ids of the events. */
  readonly sessionIds: readonly string[];
  /** Per event, 4 numbers: index into sessionIds, seq, atUs, offsetUs. */
  readonly numbers: Float64Array;
  /** Event kinds, space-separated, in event order. */
  readonly kinds: string;
  /** The v1 JSON of every event, joined by '\n' (JSON text never holds a raw newline). */
  readonly bodies: string;
  /**
   * In event order: for query and denied events the statement text and the parameters' text (or
   * null), for client events the application.
   */
  readonly search: readonly (string | null)[];
}

/** One event of an EncodedBatch, as the store's write loop reads it. */
export interface EncodedEvent {
  readonly sessionId: string;
  readonly seq: number;
  readonly atUs: number;
  readonly offsetUs: number;
  readonly kind: SessionEventKind;
  readonly json: string;
  /** Query and denied events: what the full-text index holds. */
  readonly sql: string | null;
  readonly params: string | null;
  /** Client events: the application the client named itself. */
  readonly application: string | null;
}

const V1_PREFIX = `{"v":${EVENT_FORMAT_VERSION},`;

/**
 * The v1 text of an event: byte for byte what store/event-codec.ts's encodeEvent writes
 * (`{"v":1, ...event}`), without building the spread object.
 */
export function encodeV1(event: SessionEvent): string {
  return V1_PREFIX + JSON.stringify(event).slice(1);
}

export function encodeBatch(batch: WriteBatch): EncodedBatch {
  const n = batch.events.length;
  const numbers = new Float64Array(n * 4);
  const ids = new Map<string, number>();
  const kinds: string[] = new Array(n);
  const bodies: string[] = new Array(n);
  const search: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    const { sessionId, event } = batch.events[i]!;
    let idx = ids.get(sessionId);
    if (idx === undefined) {
      idx = ids.size;
      ids.set(sessionId, idx);
    }
    numbers[i * 4] = idx;
    numbers[i * 4 + 1] = event.seq;
    numbers[i * 4 + 2] = event.atUs;
    numbers[i * 4 + 3] = event.offsetUs;
    kinds[i] = event.kind;
    bodies[i] = encodeV1(event);
    if (event.kind === 'query') search.push(event.sql, paramsText(event.params));
    else if (event.kind === 'denied') search.push(event.sql, null);
    else if (event.kind === 'client') search.push(event.application);
  }
  return {
    sessions: batch.sessions,
    ends: batch.ends,
    sessionIds: [...ids.keys()],
    numbers,
    kinds: kinds.join(' '),
    bodies: bodies.join('\n'),
    search,
  };
}

/** Walks the events of an encoded batch in order. */
export function* encodedEvents(b: EncodedBatch): Generator<EncodedEvent> {
  const n = b.numbers.length / 4;
  if (n === 0) return;
  const kinds = b.kinds.split(' ') as SessionEventKind[];
  const bodies = b.bodies.split('\n');
  let s = 0;
  for (let i = 0; i < n; i++) {
    const kind = kinds[i]!;
    const searchable = kind === 'query' || kind === 'denied';
    const application = kind === 'client' ? b.search[s++]! : null;
    yield {
      sessionId: b.sessionIds[b.numbers[i * 4]!]!,
      seq: b.numbers[i * 4 + 1]!,
      atUs: b.numbers[i * 4 + 2]!,
      offsetUs: b.numbers[i * 4 + 3]!,
      kind,
      json: bodies[i]!,
      sql: searchable ? b.search[s++]! : null,
      params: searchable ? b.search[s++]! : null,
      application,
    };
  }
}

function paramsText(params: readonly (string | null)[] | undefined): string | null {
  if (!params || params.length === 0) return null;
  return params.filter((p) => p !== null).join(' ');
}
