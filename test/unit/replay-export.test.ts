/** Export formats (asciicast v2, html, jsonl), `show --json`, and terminal-safe JSON. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SessionEvent, SessionEventBody } from '../../src/model/session.js';
import { exportAsciicast } from '../../src/replay/export-asciicast.js';
import { exportHtml, htmlText } from '../../src/replay/export-html.js';
import { exportJsonl } from '../../src/replay/export-jsonl.js';
import { terminalSafeJson } from '../../src/replay/json-safe.js';
import { createProgress, progressLine } from '../../src/replay/progress.js';
import { writeShowJson } from '../../src/replay/show-json.js';
import { StringSink } from '../../src/replay/sink.js';
import { pieces } from '../../src/replay/text-pieces.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore, SessionSummary } from '../../src/store/session-store.js';
import { sessionMeta } from '../support/session-meta.js';

const T0 = 1_738_324_800_000_000;
const EVIL = '<script>alert(1)</script>\u001b]52;c;ZWNobyBoaQ==\u0007\u202e\u0000\udc80\u009b2J';

const META = sessionMeta('m6export0-0a1b2c3d4e', {
  // Not EVIL itself: the store's session columns hold UTF-8 text, so a lone surrogate would become U+FFFD there.
  application: 'psql <script>x</script>\u001b]0;t\u0007\u202e\u009b',
  startedAtUs: T0,
});

const BODIES: [number, SessionEventBody][] = [
  [0, { kind: 'start', meta: META }],
  [250_000, { kind: 'query', sql: `SELECT '${EVIL}' AS "${EVIL}";`, via: 'simple' }],
  [
    251_000,
    {
      kind: 'result',
      tag: 'SELECT 2',
      rows: 2,
      durationUs: 900,
      columns: [
        // A type name is recorded text too (CREATE TYPE can name one anything).
        { name: EVIL, type: 'my"type\u001b<b>' },
        { name: 'n', type: 'int4' },
      ],
      rowData: [
        [EVIL, null],
        ['日本', '7'],
      ],
    },
  ],
  [900_000, { kind: 'query', sql: 'SELECT $1', params: [EVIL, null], via: 'extended' }],
  [901_000, { kind: 'error', code: '42P01', message: EVIL, severity: 'ERROR', durationUs: 40 }],
  // Recorded out of order by a damaged store: the export must still never go back in time.
  [900_500, { kind: 'notice', severity: 'NOTICE', code: '00000', message: EVIL }],
  [1_500_000, { kind: 'end', reason: 'client_closed', detail: EVIL }],
];

let store: SessionStore;
let session: SessionSummary;

before(async () => {
  store = openStore('sqlite::memory:');
  await store.writeBatch({
    sessions: [META],
    events: BODIES.map(([offsetUs, body], i) => ({
      sessionId: META.id,
      event: { seq: i + 1, atUs: T0 + offsetUs, offsetUs, ...body } as SessionEvent,
    })),
    ends: [{ sessionId: META.id, endedAtUs: T0 + 1_500_000, reason: 'client_closed' }],
  });
  session = (await store.getSession(META.id))!;
});
after(() => store.close());

/** No raw ESC, no other C0 control but \n (and \t), no C1, no bidi control, in the UTF-8 bytes. */
function assertTerminalSafe(text: string, allowCr = false): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const ok = b >= 0x20 ? b !== 0x7f : b === 0x0a || b === 0x09 || (allowCr && b === 0x0d);
    assert.ok(
      ok,
      `control byte 0x${b.toString(16)} at ${i}: ${JSON.stringify(text.slice(Math.max(0, i - 20), i + 20))}`,
    );
    // C1 controls are U+0080..U+009F: C2 80..C2 9F in UTF-8.
    if (b === 0xc2) assert.ok(bytes[i + 1]! < 0x80 || bytes[i + 1]! > 0x9f, `C1 control at ${i}`);
  }
  assert.doesNotMatch(text, /[\u202a-\u202e\u2066-\u2069\u200e\u200f]/, 'bidi control');
}

async function exported(fn: typeof exportJsonl): Promise<string> {
  const sink = new StringSink();
  await fn(store, session, sink);
  return sink.text;
}

describe('asciicast v2 export', () => {
  test('a header line, then [time, "o", text] events with non-decreasing times and CRLF', async () => {
    const text = await exported(exportAsciicast);
    assertTerminalSafe(text);
    const lines = text.trimEnd().split('\n');
    const header = JSON.parse(lines[0]!);
    assert.equal(header.version, 2);
    assert.ok(Number.isInteger(header.width) && header.width >= 80);
    assert.ok(Number.isInteger(header.height) && header.height > 0);
    assert.equal(header.timestamp, Math.floor(T0 / 1e6));
    assert.equal(typeof header.title, 'string');
    let last = -1;
    let all = '';
    for (const line of lines.slice(1)) {
      const ev = JSON.parse(line);
      assert.ok(Array.isArray(ev) && ev.length === 3, line);
      const [t, type, data] = ev;
      assert.equal(type, 'o');
      assert.equal(typeof t, 'number');
      assert.ok(t >= last, `time went back: ${t} after ${last}`);
      last = t;
      assert.doesNotMatch(data, /(?<!\r)\n/, 'every newline is CRLF');
      all += data;
    }
    assert.equal(last, 1.5);
    assertTerminalSafe(all, true);
    assert.match(all, /alice@app=> SELECT '<script>/);
    assert.match(all, /\(2 rows\)/);
    assert.ok(
      header.width >= Math.max(...all.split('\r\n').map((l: string) => l.length)),
      'wide enough for the table',
    );
  });
});

describe('html export', () => {
  test('self-contained, escaped, controls visible, nothing executable from the recording', async () => {
    const html = await exported(exportHtml);
    assertTerminalSafe(html);
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    assert.doesNotMatch(html, /<script/i, 'no script tag, recorded or otherwise');
    assert.doesNotMatch(html, /\b(src|href)=/i, 'no external resources');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(
      /<span class="ctl" title="[^"]*">⟨ESC⟩<\/span>/.test(html),
      'ESC shown visibly, in letters any font has',
    );
    assert.ok(/<span class="ctl" title="[^"]*">⟨U\+202E⟩<\/span>/.test(html), 'bidi override shown visibly');
    assert.ok(
      /<span class="ctl" title="[^"]*">⟨x80⟩<\/span>/.test(html),
      'an invalid UTF-8 byte shown visibly',
    );
    assert.match(html, /\+0:00\.250/, 'offsets from the session start');
    assert.match(html, /<td class="num">7<\/td>/);
    assert.match(html, /<span class="null">NULL<\/span>/);
    // A column's type is its header's tooltip: escaped, with no markup inside the attribute.
    assert.ok(
      html.includes('<th title="my&quot;type⟨ESC⟩&lt;b&gt;">&lt;script&gt;'),
      'the type tooltip is plain text',
    );
    assert.match(html, /<\/html>\n$/);
  });

  test('a long session is cut into sections laid out when seen (content-visibility), every event in one', async () => {
    const big = openStore('sqlite::memory:');
    const meta = sessionMeta('m6exportbig-0a1b2c3d', { startedAtUs: T0 });
    const events = Array.from({ length: 1_200 }, (_, i) => ({
      sessionId: meta.id,
      event: {
        seq: i + 2,
        atUs: T0 + i,
        offsetUs: i,
        kind: 'query',
        sql: `SELECT ${i}`,
        via: 'simple',
      } as SessionEvent,
    }));
    await big.writeBatch({
      sessions: [meta],
      events: [
        { sessionId: meta.id, event: { seq: 1, atUs: T0, offsetUs: 0, kind: 'start', meta } },
        ...events,
      ],
      ends: [],
    });
    const sink = new StringSink();
    await exportHtml(big, (await big.getSession(meta.id))!, sink);
    await big.close();
    const html = sink.text;
    assert.match(html, /\.chunk\{content-visibility:auto;/);
    const sections = html.split('<section class="chunk"><ol class="events">').slice(1);
    assert.deepEqual(
      sections.map((c) => (c.match(/<li class="query"/g) ?? []).length),
      [500, 500, 200],
    );
    assert.equal((html.match(/<\/ol><\/section>/g) ?? []).length, 3, 'every section is closed');
    assert.match(html, /<\/ol><\/section><\/main><footer>/);
  });

  test('htmlText escapes every markup character', () => {
    assert.equal(htmlText(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  test('htmlText marks only what the sanitizer flagged: a recorded marker is plain text', () => {
    assert.equal(
      htmlText('a\x1b[2J ⟨ESC⟩ b\x07'),
      'a<span class="ctl" title="control character U+001B (ESC)">⟨ESC⟩</span>[2J ⟨ESC⟩ b' +
        '<span class="ctl" title="control character U+0007 (BEL)">⟨BEL⟩</span>',
    );
    assert.equal(htmlText('one\ntwo'), 'one\ntwo', 'a newline in a statement stays a line break');
  });

  test('htmlText shows one-line text as the dashboard does: a line break as a muted ↵, a tab kept', () => {
    for (const s of ['one\r\n\ttwo', 'a\rb', 'x\u202ey\udcff']) {
      const dashboard = pieces(s, true)
        .map((p) => (p.kind === 'text' ? p.text : `[${p.kind}:${p.text}]`))
        .join('');
      const html = htmlText(s, { singleLine: true }).replace(
        /<span class="(ctl|brk)" title="[^"]*">([^<]*)<\/span>/g,
        (_, c: string, t: string) => `[${c === 'brk' ? 'break' : 'control'}:${t}]`,
      );
      assert.equal(html, dashboard, JSON.stringify(s));
    }
    assert.equal(
      htmlText('one\ntwo', { singleLine: true }),
      'one<span class="brk" title="line break">↵</span>two',
    );
  });
});

describe('jsonl export', () => {
  test('first line the session, then one event per line with session_id, values exact', async () => {
    const text = await exported(exportJsonl);
    assertTerminalSafe(text);
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 1 + BODIES.length);
    assert.deepEqual(Object.keys(lines[0]), ['session']);
    assert.equal(lines[0].session.id, META.id);
    assert.equal(lines[0].session.application, META.application, 'values survive exactly');
    const events = lines.slice(1);
    assert.deepEqual(
      events.map((e) => e.seq),
      BODIES.map((_, i) => i + 1),
    );
    for (const e of events) assert.equal(e.session_id, META.id);
    assert.equal(events[1].sql, `SELECT '${EVIL}' AS "${EVIL}";`);
    assert.deepEqual(events[3].params, [EVIL, null]);
    assert.deepEqual(events[4].error, { code: '42P01', message: EVIL, severity: 'ERROR' });
  });
});

describe('show --json', () => {
  test('{session, events} in the SPEC shapes, valid JSON, terminal-safe', async () => {
    const sink = new StringSink();
    await writeShowJson(store, session, sink);
    assertTerminalSafe(sink.text);
    const doc = JSON.parse(sink.text);
    assert.deepEqual(Object.keys(doc), ['session', 'events']);
    assert.deepEqual(Object.keys(doc.session), [
      'id',
      'user',
      'target',
      'protocol',
      'client_addr',
      'application',
      'started_at',
      'ended_at',
      'statements',
      'errors',
      'status',
      'roles',
      'client_port',
      'client_tls',
      'upstream_database',
      'upstream_user',
      'end_reason',
      'last_seq',
    ]);
    assert.equal(doc.events.length, BODIES.length);
    assert.deepEqual(doc.events[3], {
      seq: 4,
      at: '2025-01-31T12:00:00.900000Z',
      offset_ms: 900,
      kind: 'query',
      sql: 'SELECT $1',
      params: [EVIL, null],
      via: 'extended',
    });
    assert.equal(doc.events[2].rows, 2);
    assert.equal(doc.events[2].duration_us, 900);
  });

  test('an empty event list is still valid JSON', async () => {
    const s = openStore('sqlite::memory:');
    await s.writeBatch({ sessions: [{ ...META, id: 'empty' }], events: [], ends: [] });
    const sink = new StringSink();
    await writeShowJson(s, (await s.getSession('empty'))!, sink);
    assert.deepEqual(JSON.parse(sink.text).events, []);
    await s.close();
  });
});

describe('terminalSafeJson', () => {
  test('escapes what a terminal acts on and round-trips exactly', () => {
    const value = { s: `a\u009bb\u202ec\u007fd\u{e0041}e\u2028f\u001b`, n: [1, null] };
    const json = terminalSafeJson(value);
    assertTerminalSafe(json);
    assert.ok(json.includes('\\u009b') && json.includes('\\u202e') && json.includes('\\u007f'));
    assert.deepEqual(JSON.parse(json), value);
  });
});

describe('progress bar', () => {
  test('draws nothing unless stderr is a terminal', () => {
    let written = '';
    const fake = {
      isTTY: false,
      write: (s: string) => {
        written += s;
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    const p = createProgress({ label: 'x', total: 10, stream: fake, delayMs: 0 });
    p.advance(5);
    p.done();
    assert.equal(written, '');
  });

  test('on a terminal: draws after the delay, then erases its line', () => {
    let written = '';
    let now = 0;
    const fake = {
      isTTY: true,
      write: (s: string) => {
        written += s;
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    const p = createProgress({ label: 'exporting', total: 10, stream: fake, delayMs: 300, now: () => now });
    p.advance(1);
    assert.equal(written, '', 'not before the delay');
    now = 400;
    p.advance(4);
    assert.equal(written, `\r${progressLine('exporting', 5, 10)}`);
    assert.match(written, /\[#{15}\.{15}\] {2}50% 5\/10/);
    p.done();
    assert.ok(written.endsWith('\r\u001b[2K'));
  });
});
