/**
 * The stream editor behind policy denials, max_rows and masking: whatever the chunking, the bytes
 * that come out are the messages in order with the edited ones dropped, replaced or preceded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FrameHandler, Framer, Mode, modeTable } from '../../src/protocol/postgres/framer.js';
import { Forwarder } from '../../src/proxy/forwarder.js';
import { StreamEditor } from '../../src/proxy/postgres/stream-editor.js';
import { typedMessage } from '../support/inproc-dbtape.js';

const ROWDESC = typedMessage('T', 'columns');
const ROW1 = typedMessage('D', 'row one');
const ROW2 = typedMessage('D', Buffer.alloc(300, 0x61)); // dropped
const ROW3 = typedMessage('D', 'row three');
const ERROR = typedMessage('E', 'the stand-in error'); // replaced
const DONE = typedMessage('C', 'SELECT 2'); // a notice goes before it
const READY = typedMessage('Z', 'I');
const STREAM = Buffer.concat([ROWDESC, ROW1, ROW2, ROW3, ERROR, DONE, READY]);
const OURS = typedMessage('E', "dbtape's error");
const NOTICE = typedMessage('N', 'a notice');
const EXPECTED = Buffer.concat([ROWDESC, ROW1, ROW3, OURS, NOTICE, DONE, READY]);

/**
 * Runs `chunks` through a framer (D and Z skipped, the rest inspected) and an editor; chunks from
 * `editFrom` up to `editUntil` are begun as wanting edits.
 */
function edit(chunks: readonly Buffer[], editFrom = 0, editUntil = chunks.length): Buffer {
  const out: Buffer[] = [];
  const sink = { write: (b: Buffer) => out.push(Buffer.from(b)) > 0 };
  const ed = new StreamEditor(new Forwarder(sink));
  let rows = 0;
  const handler: FrameHandler = {
    message: (type, _body, raw) => {
      const at = ed.inspected(raw);
      if (type === 0x45 && ed.editable(at)) ed.replace(at, raw.length, OURS);
      if (type === 0x43 && ed.editable(at)) ed.insertBefore(at, NOTICE);
    },
    skipped: (type, bodyLength) => {
      const at = ed.skipped(type, bodyLength);
      if (type === 0x44 && ++rows === 2 && ed.editable(at)) ed.replace(at, 5 + bodyLength, null);
    },
    pass: () => assert.fail('no pass-mode messages here'),
    invalid: (reason) => assert.fail(reason),
  };
  const framer = new Framer(
    modeTable(Mode.Inspect, [
      [0x44, Mode.Skip],
      [0x5a, Mode.Skip],
    ]),
    1 << 20,
    handler,
  );
  chunks.forEach((chunk, i) => {
    if (!ed.begin(chunk, i >= editFrom && i < editUntil)) out.push(Buffer.from(chunk));
    framer.feed(chunk);
    ed.end();
  });
  return Buffer.concat(out);
}

test('one chunk', () => {
  assert.deepEqual(edit([STREAM]), EXPECTED);
});

test('split into three chunks at every pair of offsets', () => {
  for (let i = 1; i < STREAM.length; i++) {
    for (let j = i; j < STREAM.length; j += 7) {
      const got = edit([STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)]);
      assert.deepEqual(got, EXPECTED, `split at ${i} and ${j}`);
    }
  }
});

test('byte by byte', () => {
  const chunks = [...STREAM].map((b) => Buffer.from([b]));
  assert.deepEqual(edit(chunks), EXPECTED);
});

test('editing that starts at a later chunk leaves earlier messages whole and edits the rest', () => {
  // The first chunk is written whole (no edits wanted yet); edits apply from the second chunk on to
  // messages that started there, and a message whose head was already written is left alone.
  const cut = ROWDESC.length + ROW1.length + 3; // inside ROW2: its head went out unedited
  const got = edit([STREAM.subarray(0, cut), STREAM.subarray(cut)], 1);
  assert.deepEqual(got, Buffer.concat([ROWDESC, ROW1, ROW2, ROW3, OURS, NOTICE, DONE, READY]));
});

test('a header begun in a chunk written whole and finished over several edited chunks goes out whole', () => {
  // The unedited chunk ends 1-4 bytes into ROW2's header; editing starts with the next chunk, which
  // holds back the rest of the header until it is complete. Only the held bytes may follow the ones
  // already written: the rest of the header once went missing and the peer read a broken message.
  const head = ROWDESC.length + ROW1.length;
  for (let k = 1; k < 5; k++) {
    const pieces = [STREAM.subarray(0, head + k)];
    for (let i = head + k; i < head + 5; i++) pieces.push(STREAM.subarray(i, i + 1));
    pieces.push(STREAM.subarray(head + 5));
    const got = edit(pieces, 1);
    assert.deepEqual(
      got,
      Buffer.concat([ROWDESC, ROW1, ROW2, ROW3, OURS, NOTICE, DONE, READY]),
      `${k} byte(s)`,
    );
  }
});

test('the rest of a dropped message in a chunk that wants no edits is still dropped', () => {
  // max_rows asks for edits only when a chunk may hold a row past the cap: a chunk too small for one
  // (the last bytes of a row being dropped) wanted none, was written whole, and the client read
  // the dropped row's tail as the next message's header.
  const start = ROWDESC.length + ROW1.length;
  const expected = Buffer.concat([ROWDESC, ROW1, ROW3, ERROR, DONE, READY]);
  for (const tail of [1, 5, 6, 100]) {
    const cut = start + ROW2.length - tail;
    const got = edit(
      [
        STREAM.subarray(0, cut),
        STREAM.subarray(cut, start + ROW2.length),
        STREAM.subarray(start + ROW2.length),
      ],
      0,
      1,
    );
    assert.deepEqual(got, expected, `${tail} byte(s) of the dropped row in a chunk of their own`);
  }
});
