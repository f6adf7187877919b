/**
 * The API's JSON: the SPEC shapes of store/json.ts (events go out exactly as `eventToJson` makes
 * them; a session's detail as `show --json` prints it), plus whether a session is live here. Only
 * additions: a client written against SPEC.md reads these unchanged.
 */
import {
  type SearchHitJson,
  type SessionDetailJson,
  searchHitToJson,
  sessionDetailToJson,
} from '../store/json.js';
import type { SearchHit, SessionSummary } from '../store/session-store.js';

export interface ApiSessionDetailJson extends SessionDetailJson {
  /** Live in this process: it can be followed and ended here. */
  live: boolean;
}

export function apiSessionDetailJson(s: SessionSummary, live: boolean): ApiSessionDetailJson {
  return { ...sessionDetailToJson(s), live };
}

export interface ApiSearchHitJson extends SearchHitJson {
  /** What matched: a statement that ran, or one the policy refused. */
  kind: SearchHit['kind'];
  /** Whether the statement failed; null while its outcome is unknown. */
  failed: boolean | null;
}

export function apiSearchHitJson(h: SearchHit): ApiSearchHitJson {
  return { ...searchHitToJson(h), kind: h.kind, failed: h.failed };
}
