import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { highlightSnippet, marker, safeForTerminal, splitUnsafe } from '../../src/replay/sanitize.js';
import { decodeWireText, encodeWireText } from '../../src/wire/text.js';

/** Text a hostile client could have sent, each entry one trick. */
const HOSTILE: readonly [string, string][] = [
  ['CSI colour', '\u001b[31mred\u001b[0m'],
  ['clear screen', '\u001b[2J\u001b[H'],
  ['OSC title (BEL)', '\u001b]0;pwned\u0007'],
  ['OSC 52 clipboard (ST)', '\u001b]52;c;ZWNobyBoaQ==\u001b\\'],
  ['OSC 8 hyperlink', '\u001b]8;;http://evil.example\u001b\\click\u001b]8;;\u001b\\'],
  ['DCS', '\u001bP1$r\u001b\\'],
  ['one-byte CSI (C1)', '\u009b2J'],
  ['one-byte OSC (C1)', '\u009d0;x\u009c'],
  ['carriage return overwrite', 'DROP TABLE users;\rSELECT 1;'],
  ['backspace', 'DROP\b\b\b\bSHOW'],
  ['NUL', 'a\u0000b'],
  ['DEL', 'a\u007fb'],
  ['bell', '\u0007'],
  ['RTL override', 'SELECT \u202e1 ;--'],
  ['bidi isolates', '\u2066a\u2067b\u2068c\u2069'],
  ['LRM/RLM/ALM', '\u200e\u200f\u061c'],
  ['zero width space and BOM', 'a\u200bb\ufeff'],
  ['line separator', 'a\u2028b\u2029'],
  ['tag characters', 'a\u{e0041}\u{e007f}'],
  ['lone surrogates', '\ud800x\udc80'],
  ['vertical tab, form feed', '\u000b\u000c'],
  ['soft hyphen inside a name', 'us\u00aders'],
  ['blank-drawing fillers', '\u3164\u115f\u1160\uffa0\u2800'],
  ['format characters', '\u034f\u17b4\u180e\u206a\u{1bca0}\u{1d173}'],
  ['joiners next to ASCII', 'DROP\u200d TABLE\u200c'],
  ['variation selectors after ASCII', 'a\ufe0fb\u{e0100}'],
];

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
// Built from a string: biome's misleading-class rule misreads the ranges of combining marks.
const INVISIBLE = new RegExp(
  '[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f' +
    '\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\u{1bca0}-\u{1bca3}\u{1d173}-\u{1d17a}\u{e0000}-\u{e01ef}]',
  'u',
);
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe('safeForTerminal', () => {
  for (const [name, text] of HOSTILE) {
    test(`neutralises ${name}`, () => {
      const out = safeForTerminal(`before ${text} after`);
      assert.equal(CONTROL.test(out), false, JSON.stringify(out));
      assert.equal(INVISIBLE.test(out), false, JSON.stringify(out));
      assert.equal(LONE_SURROGATE.test(out), false, JSON.stringify(out));
      assert.ok(out.startsWith('before ') && out.endsWith(' after'));
    });
  }

  test('shows controls visibly, in one convention', () => {
    assert.equal(safeForTerminal('\u001b[31m'), '␛[31m');
    assert.equal(safeForTerminal('a\rb\u0000\u007f'), 'a␍b␀␡');
    assert.equal(safeForTerminal('\u009b'), '⟨U+009B⟩');
    assert.equal(safeForTerminal('\u202e'), '⟨U+202E⟩');
    assert.equal(safeForTerminal('\udcff'), '⟨xff⟩');
  });

  test('keeps newlines, tabs, accents, CJK, emoji and U+FFFD as they are', () => {
    const text = "SELECT\n\t'héllo 世界 😀 👩‍💻 \ufffd'";
    assert.equal(safeForTerminal(text), text);
  });

  test('keeps joiners and selectors where text needs them, shows them elsewhere', () => {
    // Emoji ZWJ sequence, emoji style, keycap, Persian ZWNJ, Devanagari ZWJ, a CJK glyph variant.
    for (const kept of [
      '👩\u200d💻',
      '❤\ufe0f',
      '1\ufe0f\u20e3',
      'می\u200cخواهم',
      'क्\u200dष',
      '葛\u{e0100}',
    ]) {
      assert.equal(safeForTerminal(kept), kept, JSON.stringify(kept));
    }
    assert.equal(safeForTerminal('us\u200ders'), 'us⟨U+200D⟩ers');
    assert.equal(safeForTerminal('\u200d😀'), '⟨U+200D⟩😀');
    assert.equal(safeForTerminal('é\u200d'), 'é⟨U+200D⟩');
    assert.equal(safeForTerminal('1\ufe0f'), '1⟨U+FE0F⟩');
    assert.equal(safeForTerminal('us\u00aders'), 'us⟨U+00AD⟩ers');
  });

  test('singleLine also shows newlines and tabs', () => {
    assert.equal(safeForTerminal('a\nb\tc', { singleLine: true }), 'a␤b␉c');
  });

  test('a whole hostile session renders without one raw ESC byte', () => {
    const out = Buffer.from(HOSTILE.map(([, t]) => safeForTerminal(t)).join('\n'), 'utf8');
    // 0x1B never occurs inside a multi-byte UTF-8 sequence, so this checks every byte.
    assert.equal(out.includes(0x1b), false);
    // C1 controls as characters (their bytes can legitimately appear as UTF-8 continuation bytes).
    assert.equal(/[\u0080-\u009f]/.test(out.toString('utf8')), false);
  });
});

describe('splitUnsafe and marker', () => {
  test('the split, with pictures, is exactly safeForTerminal (both modes)', () => {
    for (const [name, input] of [...HOSTILE, ['multi-line', 'a\n\tb\r\n👩\u200d💻 1\ufe0f\u20e3']]) {
      for (const singleLine of [false, true]) {
        const parts = splitUnsafe(input, { singleLine });
        assert.equal(parts.length % 2, 1, name);
        const joined = parts.map((p, i) => (i % 2 === 1 ? marker(p) : p)).join('');
        assert.equal(joined, safeForTerminal(input, { singleLine }), name);
        for (let i = 1; i < parts.length; i += 2) assert.equal([...parts[i]!].length, 1, name);
      }
    }
  });

  test('names C0 controls and DEL for browsers, whose fonts lack the control pictures', () => {
    const names = Array.from({ length: 32 }, (_, c) => marker(String.fromCharCode(c), 'names'));
    assert.equal(
      names.slice(0, 14).join(' '),
      '⟨NUL⟩ ⟨SOH⟩ ⟨STX⟩ ⟨ETX⟩ ⟨EOT⟩ ⟨ENQ⟩ ⟨ACK⟩ ⟨BEL⟩ ⟨BS⟩ ⟨TAB⟩ ⟨LF⟩ ⟨VT⟩ ⟨FF⟩ ⟨CR⟩',
    );
    assert.equal(names[0x1b], '⟨ESC⟩');
    assert.equal(names[0x1f], '⟨US⟩');
    assert.equal(marker('\u007f', 'names'), '⟨DEL⟩');
    assert.ok(names.every((n) => /^⟨[A-Z][A-Z0-9]{1,2}⟩$/.test(n)));
    assert.equal(marker('\u001b'), '\u241b', 'the terminal keeps its control pictures');
    assert.equal(marker('\u202e', 'names'), '⟨U+202E⟩');
    assert.equal(marker('\u009b', 'names'), '⟨U+009B⟩');
    assert.equal(marker('\udcff', 'names'), '⟨xff⟩');
  });
});

describe('highlightSnippet', () => {
  test('only the caller-chosen escapes survive', () => {
    const out = highlightSnippet('x\u001b[2J \u0001match\u0002 y', '\u001b[1m', '\u001b[22m');
    assert.equal(out, 'x␛[2J \u001b[1mmatch\u001b[22m y');
  });
});

describe('wire text (surrogate escape)', () => {
  test('valid UTF-8 decodes normally', () => {
    const bytes = Buffer.from("SELECT 'é😀'", 'utf8');
    assert.equal(decodeWireText(bytes), "SELECT 'é😀'");
  });

  test('invalid bytes round-trip exactly and replay as ⟨xNN⟩', () => {
    const cases = [
      Buffer.from([0x53, 0xff, 0xfe, 0x41]),
      Buffer.from([0xc3]), // truncated sequence
      Buffer.from([0xe0, 0x80, 0x80]), // overlong
      Buffer.from([0xed, 0xa0, 0x80]), // UTF-8-encoded surrogate
      Buffer.from([0xf4, 0x90, 0x80, 0x80]), // beyond U+10FFFF
      Buffer.concat([Buffer.from('ok 😀 '), Buffer.from([0x80]), Buffer.from(' é')]),
    ];
    for (const bytes of cases) {
      const text = decodeWireText(bytes);
      assert.ok(!text.includes('\ufffd'), JSON.stringify(text));
      assert.deepEqual(encodeWireText(text), bytes);
    }
    assert.equal(safeForTerminal(decodeWireText(Buffer.from([0x41, 0xff]))), 'A⟨xff⟩');
  });
});
