/**
 * Groups a session's events into statements for the player: each `query` (or `denied`) opens one,
 * and the events after it (result, error, notices, COPY, transaction state) belong to it until the
 * next; a later Execute of a suspended portal adds to its statement's result. Gaps in the recording
 * become their own entries, so they show on the timeline, as does a refused login (`auth`: the
 * whole of such a session).
 */
import type { EventJson } from './types';

export type Outcome = 'ok' | 'error' | 'denied' | 'pending' | 'gap' | 'login';

export interface Statement {
  /** The seq of the event that opened it: the deep-link target (#seq=N). */
  readonly seq: number;
  readonly offsetMs: number;
  readonly at: string;
  readonly query: EventJson;
  result: EventJson | null;
  error: EventJson | null;
  readonly extras: EventJson[];
  outcome: Outcome;
  /** Executes that read its rows: more than 1 for a portal read in chunks (pgjdbc's setFetchSize). */
  fetches: number;
}

export function addEvents(list: Statement[], events: readonly EventJson[]): Statement[] {
  for (const e of events) {
    const last = list[list.length - 1];
    switch (e.kind) {
      case 'query':
        list.push(opening(e, 'pending', null));
        break;
      case 'denied':
        list.push(opening(e, 'denied', e));
        break;
      case 'auth':
        list.push(opening(e, 'login', e));
        break;
      case 'gap':
        list.push(opening(e, 'gap', null));
        break;
      case 'result':
        if (last && last.outcome === 'pending') {
          last.result = e;
          last.outcome = 'ok';
        } else if (e.fetched !== undefined && last?.result?.tag === 'SUSPENDED') {
          last.result = continued(last.result, e);
          last.fetches++;
        } else last?.extras.push(e);
        break;
      case 'error':
        if (last && (last.outcome === 'pending' || last.outcome === 'ok')) {
          last.error = e;
          last.outcome = 'error';
        } else last?.extras.push(e);
        break;
      case 'start':
      case 'end':
        break;
      default:
        last?.extras.push(e);
    }
  }
  return list;
}

/** A new entry opened by `e`. */
function opening(e: EventJson, outcome: Outcome, error: EventJson | null): Statement {
  return {
    seq: e.seq,
    offsetMs: e.offset_ms,
    at: e.at,
    query: e,
    result: null,
    error,
    extras: [],
    outcome,
    fetches: 1,
  };
}

/**
 * A suspended portal's result followed by its next Execute's: one result, as the statement's.
 * `rows` of the later one is the statement's so far already; the captured rows and the time add
 * up. A portal resumed after other statements ran shows among their events instead.
 */
function continued(before: EventJson, next: EventJson): EventJson {
  const rows = before.row_data && next.row_data ? [...before.row_data, ...next.row_data] : next.row_data;
  return {
    ...next,
    duration_us: (before.duration_us ?? 0) + (next.duration_us ?? 0),
    ...(rows ? { row_data: rows } : {}),
    ...(before.truncated || next.truncated ? { truncated: true } : {}),
  };
}

/** Index of the statement whose seq is `seq`, or of the last one at or before it. */
export function indexOfSeq(list: readonly Statement[], seq: number): number {
  let found = -1;
  for (let i = 0; i < list.length && list[i]!.seq <= seq; i++) found = i;
  return found;
}

/** Index of the last statement that started at or before `offsetMs` (0 when none). */
export function indexAtOffset(list: readonly Statement[], offsetMs: number): number {
  let lo = 0;
  let hi = list.length - 1;
  let best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.offsetMs <= offsetMs) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

export function durationUsOf(s: Statement): number | null {
  return s.result?.duration_us ?? s.error?.duration_us ?? null;
}
