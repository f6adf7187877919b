/**
 * `dbtape export --format html`: one self-contained page (inline CSS, no script, no external
 * resource; a Content-Security-Policy forbids loading anything) with the session's metadata and
 * its events in order, each with its offset from the session start. Recorded text is HTML-escaped
 * with controls and invisible characters made visible (htmlText), so a recording can neither inject
 * markup nor hide characters.
 */
import type { ResultColumn, SessionEvent } from '../model/session.js';
import type { SessionStore, SessionSummary } from '../store/session-store.js';
import { sessionEvents } from './event-source.js';
import { formatBytes, formatMs, formatOffset, formatSpan, formatTimestamp, plural } from './format.js';
import { noProgress, type Progress } from './progress.js';
import { isNumericType } from './render-table.js';
import type { TextSink } from './sink.js';
import { pieces } from './text-pieces.js';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Recorded text as HTML, escaped, with what the sanitizer makes visible marked as the dashboard
 * marks it (text-pieces.ts): controls spelled out (⟨ESC⟩), a line break in one-line text as a muted
 * ↵. Only characters the sanitizer flagged are styled, so recorded text that spells a marker stays
 * plain.
 */
export function htmlText(s: string, options: { singleLine?: boolean } = {}): string {
  let out = '';
  for (const p of pieces(s, options.singleLine)) {
    const text = escapeHtml(p.text);
    out +=
      p.kind === 'text'
        ? text
        : `<span class="${p.kind === 'break' ? 'brk' : 'ctl'}" title="${escapeHtml(p.title!)}">${text}</span>`;
  }
  return out;
}

/** Recorded text for an attribute value (a tooltip): markers as plain text, no markup. */
function htmlAttr(s: string): string {
  return escapeHtml(
    pieces(s, true)
      .map((p) => p.text)
      .join(''),
  );
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * Events go in sections of this many, each laid out only when it comes into view
 * (`content-visibility: auto`): a session of 100,000 statements is a 56 MB page that headless
 * Chromium took 124 s to show as one list, and 7 s in sections. Anchors (#eN) and find-in-page
 * still reach every event.
 */
const CHUNK_EVENTS = 500;
const CHUNK_OPEN = '<section class="chunk"><ol class="events">';
const CHUNK_CLOSE = '</ol></section>';

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d232a;background:#fff}
h1{font-size:1.3rem}code,pre,td,th{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dl.meta dt{color:#5b6570}dl.meta dd{margin:0}
ol.events{list-style:none;padding:0;margin:0}.chunk{content-visibility:auto;contain-intrinsic-size:auto 20000px}ol.events li{display:grid;grid-template-columns:7.5rem 1fr;gap:.75rem;padding:.35rem 0;border-top:1px solid #eef0f2}
.t{color:#5b6570;font-family:ui-monospace,monospace;font-size:12px;padding-top:.15rem}
pre{margin:0;white-space:pre-wrap;word-break:break-word}.query pre{font-weight:600}
.prompt{color:#0b6e4f}.params,.note{color:#5b6570}.error,.denied{color:#b42318}.notice{color:#9a6700}
table{border-collapse:collapse;margin:.2rem 0}th,td{border:1px solid #d0d7de;padding:.1rem .5rem;text-align:left;vertical-align:top;white-space:pre-wrap}
th{background:#f6f8fa}td.num{text-align:right}.null{color:#8c959f;font-style:italic}
.ctl{background:#fff1c2;color:#7a4d00;border-radius:2px}.brk{color:#8c959f}footer{color:#5b6570;margin-top:2rem;font-size:12px}
`;

function metaRows(s: SessionSummary): [string, string][] {
  const ended =
    s.endedAtUs === null
      ? 'still active when exported'
      : `${formatTimestamp(s.endedAtUs)} (${htmlText(s.endReason ?? 'unknown')}), after ${formatSpan(s.endedAtUs - s.startedAtUs)}`;
  return [
    ['user', `${htmlText(s.user)}${s.roles.length ? ` (roles: ${htmlText(s.roles.join(', '))})` : ''}`],
    ['target', `${htmlText(s.target)} (${s.protocol})`],
    ['upstream', `${htmlText(s.upstreamUser)}@${htmlText(s.upstreamDatabase)}`],
    ['client', `${htmlText(s.clientAddr)}:${s.clientPort}`],
    ['application', s.application === null ? '—' : htmlText(s.application)],
    ['client TLS', s.clientTls === null ? 'none' : htmlText(s.clientTls)],
    ['started', formatTimestamp(s.startedAtUs)],
    ['ended', ended],
    ['statements', `${s.statements}, ${plural(s.errors, 'error')}`],
  ];
}

function head(s: SessionSummary): string {
  const title = `dbtape session ${htmlText(s.id)}: ${htmlText(s.user)}@${htmlText(s.target)}`;
  const meta = metaRows(s)
    .map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><style>${STYLE}</style></head>
<body><header><h1>${title}</h1><dl class="meta">${meta}</dl></header>
<main>${CHUNK_OPEN}
`;
}

function table(
  columns: readonly ResultColumn[] | undefined,
  rows: readonly (readonly (string | null)[])[],
): string {
  const n = Math.max(columns?.length ?? 0, ...rows.map((r) => r.length));
  const num = Array.from({ length: n }, (_, i) => isNumericType(columns?.[i]?.type ?? ''));
  const ths = Array.from({ length: n }, (_, i) => {
    const c = columns?.[i];
    return `<th title="${c ? htmlAttr(c.type) : ''}">${htmlText(c?.name ?? `?column${i + 1}?`)}</th>`;
  }).join('');
  const trs = rows
    .map((r) => {
      const tds = Array.from({ length: n }, (_, i) => {
        const v = r[i];
        const cls = num[i] ? ' class="num"' : '';
        return v === null || v === undefined
          ? `<td${cls}><span class="null">NULL</span></td>`
          : `<td${cls}>${htmlText(v)}</td>`;
      });
      return `<tr>${tds.join('')}</tr>`;
    })
    .join('');
  return `<table><thead><tr>${ths}</tr></thead><tbody>${trs}</tbody></table>`;
}

function params(p: readonly (string | null)[]): string {
  const items = p.map(
    (v, i) => `$${i + 1} = ${v === null ? '<span class="null">NULL</span>' : htmlText(`'${v}'`)}`,
  );
  return `<div class="params">${items.join(', ')}</div>`;
}

/** How each transaction state reads after "transaction"; a state a newer dbtape recorded shows as stored. */
const TX_WORDS: Record<string, string | undefined> = {
  begin: 'started',
  commit: 'committed',
  rollback: 'rolled back',
  failed: 'failed',
  recovered: 'recovered (rolled back to a savepoint)',
  prepared: 'prepared (two-phase: not committed until COMMIT PREPARED or XA COMMIT)',
} satisfies Record<Extract<SessionEvent, { kind: 'tx' }>['state'], string>;

function resultBody(e: Extract<SessionEvent, { kind: 'result' }>): string {
  const time = formatMs(e.durationUs);
  if (e.fetched !== undefined || e.tag === 'SUSPENDED') return chunkBody(e, time);
  if (e.rowData) {
    const count = e.rows ?? e.rowData.length;
    const cut =
      e.truncated || count > e.rowData.length
        ? ` (only the first ${plural(e.rowData.length, 'row was', 'rows were')} recorded)`
        : '';
    return `${table(e.columns, e.rowData)}<div class="note">${htmlText(e.tag)}: ${plural(count, 'row')}${cut}, ${time}</div>`;
  }
  const rows = e.rows === null ? '' : e.columns ? ` (${plural(e.rows, 'row')})` : '';
  return `<pre>${htmlText(e.tag || '(empty query)')}${rows}</pre><div class="note">${time}</div>`;
}

/** One Execute's share of a portal read in chunks (model/session.ts, `fetched`). */
function chunkBody(e: Extract<SessionEvent, { kind: 'result' }>, time: string): string {
  const got = e.fetched ?? e.rows ?? 0;
  const rows = e.rowData && e.rowData.length > 0 ? table(e.columns, e.rowData) : '';
  const what =
    e.fetched === undefined
      ? `portal suspended after ${plural(got, 'row')}`
      : `fetched ${plural(e.fetched, 'more row', 'more rows')}: ${
          e.tag === 'SUSPENDED'
            ? `${e.rows ?? 0} so far, portal suspended`
            : `${plural(e.rows ?? 0, 'row')} in all`
        }`;
  const cut =
    !e.rowData || got <= e.rowData.length
      ? ''
      : e.rowData.length === 0
        ? ' (these rows were not recorded)'
        : ` (only the first ${e.rowData.length} of these recorded)`;
  return `${rows}<div class="note">${htmlText(e.tag)}: ${what}${cut}, ${time}</div>`;
}

/** The markup for one event's content and its CSS class; null for events not shown. */
function eventBody(e: SessionEvent, s: SessionSummary): [string, string] | null {
  switch (e.kind) {
    case 'start':
      return null;
    case 'query': {
      const who = `${htmlText(s.user, { singleLine: true })}@${htmlText(s.target, { singleLine: true })}`;
      const prompt = s.protocol === 'mysql' ? `${who} mysql&gt;` : `${who}=&gt;`;
      const p = e.params && e.params.length > 0 ? params(e.params) : '';
      return ['query', `<pre><span class="prompt">${prompt}</span> ${htmlText(e.sql)}</pre>${p}`];
    }
    case 'result':
      return ['result', resultBody(e)];
    case 'error': {
      const code = e.code ? `${htmlText(e.code)}: ` : '';
      const no = e.errno === undefined ? '' : `${e.errno} `;
      const time = e.durationUs === undefined ? '' : `<div class="note">${formatMs(e.durationUs)}</div>`;
      return [
        'error',
        `<pre>${htmlText(e.severity || 'ERROR')} ${no}${code}${htmlText(e.message)}</pre>${time}`,
      ];
    }
    case 'notice':
      return ['notice', `<pre>${htmlText(e.severity)}: ${htmlText(e.message)}</pre>`];
    case 'tx':
      return ['note', `transaction ${htmlText(TX_WORDS[e.state] ?? e.state, { singleLine: true })}`];
    case 'copy':
      return [
        'note',
        `COPY ${e.direction === 'in' ? 'from' : 'to'} the client: ${formatBytes(e.bytes)}${e.rows === null ? '' : `, ${plural(e.rows, 'row')}`}`,
      ];
    case 'notification':
      return ['note', `notification on channel ${htmlText(e.channel)}: ${htmlText(e.payload)}`];
    case 'client':
      return ['note', `client application: ${htmlText(e.application)}`];
    case 'command':
      return ['note', `${htmlText(e.command)}${e.detail ? `: ${htmlText(e.detail)}` : ''}`];
    case 'denied':
      return [
        'denied',
        `<pre>${htmlText(e.sql)}</pre><div>denied by policy rule ${htmlText(e.rule)}: ${htmlText(e.message)}</div>`,
      ];
    case 'auth':
      return [
        'denied',
        `login refused (${htmlText(e.failure)}): ${e.errno === undefined ? '' : `${e.errno} `}${htmlText(e.code)} ${htmlText(e.message)}`,
      ];
    case 'gap':
      return [
        'note',
        `${plural(e.lost, 'event')} not recorded here (the store was unavailable or the queue was full)`,
      ];
    case 'end':
      return ['note', `session ended: ${htmlText(e.reason)}${e.detail ? ` (${htmlText(e.detail)})` : ''}`];
    default:
      return null;
  }
}

export async function exportHtml(
  store: SessionStore,
  session: SessionSummary,
  sink: TextSink,
  progress: Progress = noProgress,
): Promise<void> {
  await sink.write(head(session));
  let shown = 0;
  for await (const e of sessionEvents(store, session.id)) {
    progress.advance();
    const body = eventBody(e, session);
    if (!body) continue;
    if (shown > 0 && shown % CHUNK_EVENTS === 0) await sink.write(`${CHUNK_CLOSE}\n${CHUNK_OPEN}\n`);
    shown++;
    await sink.write(
      `<li class="${body[0]}" id="e${e.seq}"><span class="t" title="${formatTimestamp(e.atUs)}">${formatOffset(e.offsetUs)}</span><div>${body[1]}</div></li>\n`,
    );
    if (sink.closed) break;
  }
  await sink.write(
    `${CHUNK_CLOSE}</main><footer>Exported by dbtape. Times are offsets from the session start; hover for the wall-clock time (UTC).</footer></body></html>\n`,
  );
  await sink.end();
}
