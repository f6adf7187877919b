/**
 * `dbtape show ID`: the session's metadata, then its events as a compact listing (sequence
 * number, offset from the start, the statement or its outcome). `replay` is the client-like view;
 * this one is for reading a session quickly and pointing at an event by number.
 */
import type { SessionEvent } from '../model/session.js';
import type { SessionStore, SessionSummary } from '../store/session-store.js';
import { sessionEvents } from './event-source.js';
import { formatBytes, formatMs, formatOffset, formatSpan, formatTimestamp, plural } from './format.js';
import { plainTable } from './render-table.js';
import { safeForTerminal } from './sanitize.js';
import { paramLiteral, safeLine } from './session-renderer.js';
import type { TextSink } from './sink.js';

export function metadataLines(s: SessionSummary, nowUs: number): string[] {
  const from = [`${safeLine(s.clientAddr)}:${s.clientPort}`];
  if (s.application) from.push(`application ${safeLine(s.application)}`);
  from.push(s.clientTls ? safeLine(s.clientTls) : 'no TLS');
  const ended =
    s.endedAtUs === null
      ? `still active (${formatSpan(nowUs - s.startedAtUs)} so far)`
      : `${formatTimestamp(s.endedAtUs)} (${safeLine(s.endReason ?? 'unknown')}), after ${formatSpan(s.endedAtUs - s.startedAtUs)}`;
  const roles = s.roles.length ? ` (roles: ${s.roles.map(safeLine).join(', ')})` : '';
  return plainTable(
    ['session', safeLine(s.id)],
    [
      ['user', `${safeLine(s.user)}${roles}`],
      [
        'target',
        `${safeLine(s.target)} (${s.protocol}), upstream ${safeLine(s.upstreamUser)}@${safeLine(s.upstreamDatabase)}`,
      ],
      ['client', from.join(', ')],
      ['started', formatTimestamp(s.startedAtUs)],
      ['ended', ended],
      [
        'recorded',
        `${plural(s.statements, 'statement')}, ${plural(s.errors, 'error')}, ${plural(s.events, 'event')}`,
      ],
    ],
  );
}

/** One event in the listing, without its seq/offset prefix; '' for events not listed. */
export function eventSummary(e: SessionEvent): string {
  switch (e.kind) {
    case 'start':
      return '';
    case 'query': {
      const via =
        e.via === 'simple' ? '' : `  -- ${e.via}${e.statement ? ` statement ${safeLine(e.statement)}` : ''}`;
      const params =
        e.params && e.params.length > 0 ? `\nparams: ${e.params.map(paramLiteral).join(', ')}` : '';
      return `${safeForTerminal(e.sql)}${via}${params}`;
    }
    case 'result': {
      const recorded = e.rowData ? `, ${e.rowData.length} recorded` : '';
      // A later Execute of a suspended portal: `rows` is the statement's so far.
      const rows =
        e.rows === null
          ? ''
          : e.fetched !== undefined
            ? ` (fetched ${plural(e.fetched, 'more row', 'more rows')}, ${plural(e.rows, 'row')} in all${recorded})`
            : ` (${plural(e.rows, 'row')}${recorded})`;
      const cols = e.columns?.length
        ? `, columns: ${e.columns.map((c) => `${safeLine(c.name)} ${safeLine(c.type)}`).join(', ')}`
        : '';
      return `-> ${safeLine(e.tag || '(empty query)')}${rows}, ${formatMs(e.durationUs)}${cols}`;
    }
    case 'error': {
      const no = e.errno === undefined ? '' : ` ${e.errno}`;
      return `-> ${safeLine(e.severity || 'ERROR')}${no}${e.code ? ` ${safeLine(e.code)}` : ''}: ${safeForTerminal(e.message)}`;
    }
    case 'notice':
      return `${safeLine(e.severity)}: ${safeForTerminal(e.message)}`;
    case 'tx':
      return `-- transaction ${e.state}`;
    case 'copy':
      return `-- COPY ${e.direction}: ${formatBytes(e.bytes)}${e.rows === null ? '' : `, ${plural(e.rows, 'row')}`}`;
    case 'notification':
      return `-- notification on ${safeLine(e.channel)}: ${safeLine(e.payload)}`;
    case 'client':
      return `-- client application: ${safeLine(e.application)}`;
    case 'command':
      return `-- ${safeLine(e.command)}${e.detail ? `: ${safeLine(e.detail)}` : ''}`;
    case 'denied':
      return `${safeForTerminal(e.sql)}\n-> DENIED by rule ${safeLine(e.rule)}: ${safeLine(e.message)}`;
    case 'auth': {
      const no = e.errno === undefined ? '' : ` ${e.errno}`;
      return `-- login refused (${safeLine(e.failure)}):${no} ${safeLine(e.code)}: ${safeLine(e.message)}`;
    }
    case 'gap':
      return `-- ${plural(e.lost, 'event')} not recorded here`;
    case 'end':
      return `-- session ended: ${safeLine(e.reason)}${e.detail ? ` (${safeLine(e.detail)})` : ''}`;
    default:
      return '';
  }
}

const SEQ_WIDTH = 6;
const OFFSET_WIDTH = 12;

/** `   seq  +0:00.123  text`, continuation lines indented under the text. */
export function eventLine(e: SessionEvent): string {
  const text = eventSummary(e);
  if (text === '') return '';
  const indent = ' '.repeat(SEQ_WIDTH + 2 + OFFSET_WIDTH + 2);
  const [first, ...rest] = text.split('\n');
  const head = `${String(e.seq).padStart(SEQ_WIDTH)}  ${formatOffset(e.offsetUs).padEnd(OFFSET_WIDTH)}  ${first}`;
  return [head, ...rest.map((l) => indent + l)].join('\n');
}

export async function writeShow(
  store: SessionStore,
  session: SessionSummary,
  sink: TextSink,
  nowUs: number,
): Promise<void> {
  await sink.write(`${metadataLines(session, nowUs).join('\n')}\n\n`);
  await sink.write(`${'SEQ'.padStart(SEQ_WIDTH)}  ${'OFFSET'.padEnd(OFFSET_WIDTH)}  EVENT\n`);
  for await (const e of sessionEvents(store, session.id)) {
    const line = eventLine(e);
    if (line) await sink.write(`${line}\n`);
    if (sink.closed) break;
  }
  await sink.end();
}
