/** `dbtape sessions` as a table for people; `--json` uses store/json.ts instead. */
import type { SessionSummary } from '../store/session-store.js';
import { formatSpan, formatTimestampShort } from './format.js';
import { plainTable } from './render-table.js';
import { safeLine } from './session-renderer.js';

const HEADER = [
  'ID',
  'USER',
  'TARGET',
  'PROTOCOL',
  'CLIENT',
  'APP',
  'STARTED',
  'DURATION',
  'STMTS',
  'ERRORS',
  'STATUS',
];

/** Cells are cut to this many characters so one long application name cannot push the table off screen. */
const MAX_CELL = 32;

function cell(s: string): string {
  const safe = safeLine(s);
  return safe.length > MAX_CELL ? `${safe.slice(0, MAX_CELL - 1)}…` : safe;
}

export function sessionRow(s: SessionSummary, nowUs: number): string[] {
  const end = s.endedAtUs ?? nowUs;
  return [
    safeLine(s.id),
    cell(s.user),
    cell(s.target),
    s.protocol,
    cell(`${s.clientAddr}:${s.clientPort}`),
    s.application ? cell(s.application) : '-',
    formatTimestampShort(s.startedAtUs),
    formatSpan(end - s.startedAtUs),
    String(s.statements),
    String(s.errors),
    s.status === 'active' ? 'active' : `ended (${cell(s.endReason ?? 'unknown')})`,
  ];
}

/** The table, one string per line, and a closing line saying how many there are. */
export function sessionTable(sessions: readonly SessionSummary[], nowUs: number, limit: number): string[] {
  if (sessions.length === 0) return ['no sessions found'];
  const lines = plainTable(
    HEADER,
    sessions.map((s) => sessionRow(s, nowUs)),
    [8, 9],
  );
  const more = sessions.length >= limit ? ` (the newest ${limit}; use --limit to see more)` : '';
  lines.push('', `${sessions.length} session${sessions.length === 1 ? '' : 's'}${more}`);
  return lines;
}
