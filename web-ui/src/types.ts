/**
 * The API's JSON, as the server sends it: the server's own types (src/store/json.ts for the
 * SPEC shapes, src/web/ for what the API adds), so that the two cannot drift apart.
 */
export type { EventJson, SessionJson } from '../../src/store/json.js';
export type {
  ApiSearchHitJson as SearchHitJson,
  ApiSessionDetailJson as SessionDetailJson,
} from '../../src/web/api-json.js';
export type { LiveMessage } from '../../src/web/live-feed.js';

export interface Me {
  user: string;
  roles: string[];
  via: 'session' | 'token';
  csrf?: string;
  can: { see_all: boolean; kill: boolean; manage_tokens: boolean };
}

export interface MinuteJson {
  at: string;
  statements: number;
  errors: number;
}
