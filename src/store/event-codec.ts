/**
 * The recording format, version 1: one JSON object per event holding every field of the
 * `SessionEvent` plus `"v": 1`. Stores keep these bytes as they are, so old recordings stay
 * readable forever and the bytes can later be hashed (hash chain) or encrypted as a unit.
 *
 * JSON.stringify escapes control characters, NUL and lone surrogates (\u0000, \ud800), so any
 * JS string, including text decoded with surrogate escapes for invalid UTF-8, round-trips exactly.
 */
import type { SessionEvent } from '../model/session.js';
import { StoreError } from './errors.js';

export const EVENT_FORMAT_VERSION = 1;

export function encodeEvent(event: SessionEvent): string {
  // `v` first so a reader can dispatch on it before looking at anything else.
  return JSON.stringify({ v: EVENT_FORMAT_VERSION, ...event });
}

export function decodeEvent(text: string): SessionEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StoreError('DBTAPE_STORE_BAD_EVENT', 'dbtape: a stored event is not valid JSON', {
      cause: err,
    });
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    (parsed as { v?: unknown }).v !== EVENT_FORMAT_VERSION
  ) {
    throw new StoreError(
      'DBTAPE_STORE_BAD_EVENT',
      'dbtape: a stored event has an unknown format version; upgrade dbtape to read this recording',
    );
  }
  const { v: _v, ...event } = parsed as { v: number } & SessionEvent;
  return event as SessionEvent;
}
