/**
 * `dbtape export --format asciicast`: asciinema's v2 format
 * (https://docs.asciinema.org/manual/asciicast/v2/): a header object on the first line, then one
 * `[seconds, "o", text]` event per line. The text is the same psql/mysql-like rendering as
 * `dbtape replay`, with CRLF line endings as a terminal expects them. Two passes over the store:
 * the first measures the widest line so the player's terminal is wide enough for the tables.
 */
import type { SessionStore, SessionSummary } from '../store/session-store.js';
import { sessionEvents } from './event-source.js';
import { terminalSafeJson } from './json-safe.js';
import { noProgress, type Progress } from './progress.js';
import { createRenderer } from './renderer.js';
import type { TextSink } from './sink.js';
import { displayWidth } from './text-width.js';

const MIN_WIDTH = 80;
const MAX_WIDTH = 400;
const HEIGHT = 40;

export interface AsciicastHeader {
  version: 2;
  width: number;
  height: number;
  timestamp: number;
  title: string;
  env: { TERM: string; SHELL: string };
}

function widest(text: string, sofar: number): number {
  let w = sofar;
  for (const line of text.split('\n')) w = Math.max(w, displayWidth(line));
  return w;
}

async function measureWidth(
  store: SessionStore,
  session: SessionSummary,
  progress: Progress,
): Promise<number> {
  const renderer = createRenderer(session);
  let w = widest(renderer.header(), MIN_WIDTH);
  for await (const e of sessionEvents(store, session.id)) {
    w = widest(renderer.event(e), w);
    progress.advance();
  }
  return Math.min(MAX_WIDTH, w + 1);
}

export async function exportAsciicast(
  store: SessionStore,
  session: SessionSummary,
  sink: TextSink,
  progress: Progress = noProgress,
): Promise<void> {
  const header: AsciicastHeader = {
    version: 2,
    width: await measureWidth(store, session, progress),
    height: HEIGHT,
    timestamp: Math.floor(session.startedAtUs / 1_000_000),
    title: createRenderer(session).header().split('\n')[0]!.replace(/^-- /, ''),
    env: { TERM: 'xterm-256color', SHELL: '/bin/sh' },
  };
  await sink.write(`${terminalSafeJson(header)}\n`);
  const renderer = createRenderer(session);
  const crlf = (s: string) => s.replaceAll('\n', '\r\n');
  await sink.write(`${terminalSafeJson([0, 'o', crlf(renderer.header())])}\n`);
  let last = 0;
  for await (const e of sessionEvents(store, session.id)) {
    progress.advance();
    const text = renderer.event(e);
    if (text === '') continue;
    // Seconds with microsecond precision; never earlier than the previous event.
    last = Math.max(last, Math.round(e.offsetUs) / 1_000_000);
    await sink.write(`${terminalSafeJson([last, 'o', crlf(text)])}\n`);
    if (sink.closed) break;
  }
  await sink.end();
}
