/**
 * The dashboard's rendering of recorded text (web-ui/src/safe-text.ts): the terminal's convention,
 * with markers that common fonts can draw, and ordinary multi-line SQL left looking ordinary.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { safeForTerminal } from '../../src/replay/sanitize.js';
import { type Piece, pieces, safe, safeLine, snippetParts } from '../../web-ui/src/safe-text.js';

/** The Unicode Control Pictures block, which Debian's DejaVu and Liberation fonts lack. */
const CONTROL_PICTURE = /[\u2400-\u243f]/u;
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u;

const HOSTILE: readonly string[] = [
  '\u001b[31mred\u001b[0m',
  '\u001b]0;pwned\u0007',
  '\u009b2J',
  'DROP TABLE users;\rSELECT 1;',
  'DROP\b\b\b\bSHOW',
  'a\u0000b\u007fc\u000b\u000c',
  'SELECT \u202e1 ;--',
  '\u2066a\u2069 \u200b \ufeff \u00ad \u2028',
  'a\udcff',
];

const markers = (ps: Piece[]) => ps.filter((p) => p.kind !== 'text').map((p) => p.text);

describe('dashboard safe text', () => {
  test('no control character reaches the page raw, and no marker is a control picture', () => {
    for (const s of HOSTILE) {
      for (const out of [safe(s), safeLine(s)]) {
        assert.equal(RAW_CONTROL.test(out), false, JSON.stringify(out));
        assert.equal(CONTROL_PICTURE.test(out), false, JSON.stringify(out));
        assert.ok(!out.includes('\r'), JSON.stringify(out));
      }
    }
  });

  test('C0 controls are named markers; the others are those of the terminal', () => {
    assert.deepEqual(markers(pieces('\u001b[2J\u0007\u0000\u007f\b\u000b\u000c x\ry')), [
      '⟨ESC⟩',
      '⟨BEL⟩',
      '⟨NUL⟩',
      '⟨DEL⟩',
      '⟨BS⟩',
      '⟨VT⟩',
      '⟨FF⟩',
      '⟨CR⟩',
    ]);
    const esc = pieces('a\u001bb')[1]!;
    assert.deepEqual(esc, { text: '⟨ESC⟩', kind: 'control', title: 'control character U+001B (ESC)' });
    for (const s of ['SELECT \u202e1', '\u2066a\u2069', 'us\u00aders', 'a\u009bb', 'a\udcff', 'x\u200db']) {
      assert.equal(safeLine(s), safeForTerminal(s, { singleLine: true }), JSON.stringify(s));
    }
    assert.equal(pieces('a\udcff')[1]!.title, 'a byte that is not valid UTF-8');
    assert.equal(pieces('a\u202e')[1]!.title, 'an invisible or control character (U+202E)');
  });

  test('multi-line SQL keeps its line breaks and tabs, a CRLF as one line break', () => {
    const sql = 'select a,\n\tb\r\nfrom t\n';
    assert.deepEqual(pieces(sql), [{ text: 'select a,\n\tb\nfrom t\n', kind: 'text' }]);
    assert.equal(safe(sql), 'select a,\n\tb\nfrom t\n');
  });

  test('one-line text shows a line break as a quiet ↵ and keeps tabs as blank space', () => {
    const ps = pieces('select 1 -- note\r\n\tdrop table t', true);
    assert.deepEqual(
      ps.filter((p) => p.kind !== 'text'),
      [{ text: '↵', kind: 'break', title: 'line break' }],
    );
    assert.equal(safeLine('select 1 -- note\r\n\tdrop table t'), 'select 1 -- note↵\tdrop table t');
    assert.equal(safeLine('a\rb'), 'a⟨CR⟩b', 'a lone CR is still a control');
  });

  test('text, emoji and look-alikes of markers stay plain text', () => {
    for (const s of ["select 'é 😀 👩\u200d💻 1\ufe0f\u20e3 中文'", 'literal ⟨ESC⟩ and ␛ and ⟨U+202E⟩']) {
      assert.deepEqual(pieces(s, true), [{ text: s, kind: 'text' }]);
    }
  });

  test('snippet parts keep the match flags and mark controls inside and outside a match', () => {
    const parts = snippetParts('select \u0001tok\u001b\u0002\nfrom t');
    assert.deepEqual(
      parts.map((p) => [p.text, p.kind, p.match]),
      [
        ['select ', 'text', false],
        ['tok', 'text', true],
        ['⟨ESC⟩', 'control', true],
        ['↵', 'break', false],
        ['from t', 'text', false],
      ],
    );
  });
});
