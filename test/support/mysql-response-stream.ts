/**
 * The server → client half of a MySQL session (src/proxy/mysql/responses.ts) on its own, for unit
 * tests that feed it hand-built responses: what the client gets lands in `parts`, what is recorded
 * in `recorded`. A request for the client's file fails the test unless `localInfile` allows it.
 */
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/model/logger.js';
import type { SessionRecorder } from '../../src/model/recorder.js';
import type { SessionEventBody } from '../../src/model/session.js';
import * as M from '../../src/protocol/mysql/index.js';
import type { ResultShaper } from '../../src/proxy/mysql/policy-results.js';
import { ResponseStream } from '../../src/proxy/mysql/responses.js';
import { SessionEvents } from '../../src/proxy/mysql/session-events.js';

export interface ResponseStreamOptions {
  readonly clientCapabilities: number;
  /** Default: the client's. */
  readonly upstreamCapabilities?: number;
  /** The role may pass the client's file upstream. Default false. */
  readonly localInfile?: boolean;
  /** Record events (false: the session is not recorded). Default true. */
  readonly record?: boolean;
  readonly shaper?: ResultShaper | null;
}

export function responseStream(o: ResponseStreamOptions): {
  stream: ResponseStream;
  parts: Buffer[];
  recorded: SessionEventBody[];
} {
  const recorded: SessionEventBody[] = [];
  const rec: SessionRecorder = { event: (e) => recorded.push(e), durable: () => Promise.resolve() };
  const parts: Buffer[] = [];
  const stream = new ResponseStream({
    clientCapabilities: o.clientCapabilities,
    upstreamCapabilities: o.upstreamCapabilities ?? o.clientCapabilities,
    localInfile: o.localInfile ?? false,
    events: new SessionEvents(rec, o.record ?? true, 'summary', 0),
    statements: new M.StatementRegistry(),
    log: silentLogger,
    toClient: {
      part: (b) => parts.push(Buffer.from(b)),
      range: (chunk, start, end) => parts.push(Buffer.from(chunk.subarray(start, end))),
    },
    decodeDeferred: () => {},
    infileRequested: () => assert.fail('the server asked for a file: not expected here'),
    policy: null,
    shaper: o.shaper ?? null,
    stopAtCap: null,
  });
  return { stream, parts, recorded };
}
