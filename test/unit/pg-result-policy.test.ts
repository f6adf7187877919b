/**
 * max_rows on the server → client stream, as the PostgreSQL pipeline runs it for a session that is
 * not recorded: each chunk is edited only when PgResultPolicy.mayEdit says it may hold a row past the
 * cap, and rows past the cap are dropped by the stream editor. Whatever the chunking, the client must
 * get the first rows whole and nothing of the others.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FrameHandler, Framer, Mode, modeTable } from '../../src/protocol/postgres/framer.js';
import { Forwarder } from '../../src/proxy/forwarder.js';
import { PgResultPolicy } from '../../src/proxy/postgres/policy-results.js';
import { StreamEditor } from '../../src/proxy/postgres/stream-editor.js';
import { typedMessage } from '../support/inproc-dbtape.js';

const CAP = 3;
const ROWDESC = typedMessage('T', Buffer.from([0, 0]));
/** DataRows of every size from the smallest (no columns: 7 bytes) up. */
const ROWS = Array.from({ length: 6 }, (_, i) =>
  typedMessage('D', Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(i * 3, 0x61 + i)])),
);
const DONE = typedMessage('C', 'SELECT 6');
const READY = typedMessage('Z', 'I');
const STREAM = Buffer.concat([ROWDESC, ...ROWS, DONE, READY]);

function run(chunks: readonly Buffer[]): Buffer {
  const out: Buffer[] = [];
  const sink = { write: (b: Buffer) => out.push(Buffer.from(b)) > 0 };
  const ed = new StreamEditor(new Forwarder(sink));
  const results = new PgResultPolicy(CAP, null);
  const handler: FrameHandler = {
    message: (type, _body, raw) => {
      ed.inspected(raw);
      if (type === 0x54) results.start([], null);
      else if (type === 0x43) results.complete('');
    },
    skipped: (type, bodyLength) => {
      const at = ed.skipped(type, bodyLength);
      if (type === 0x44 && !results.admit()) ed.replace(at, 5 + bodyLength, null);
      if (type === 0x5a) results.abort();
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
  for (const chunk of chunks) {
    if (!ed.begin(chunk, results.mayEdit(chunk.length))) out.push(Buffer.from(chunk));
    framer.feed(chunk);
    ed.end();
  }
  return Buffer.concat(out);
}

const EXPECTED = Buffer.concat([ROWDESC, ...ROWS.slice(0, CAP), DONE, READY]);

test('the rows past max_rows are dropped whole at every split into three chunks', () => {
  for (let i = 1; i < STREAM.length; i++) {
    for (let j = i; j < STREAM.length; j++) {
      const got = run([STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)]);
      assert.deepEqual(got, EXPECTED, `split at ${i} and ${j}`);
    }
  }
});

test('byte by byte', () => {
  assert.deepEqual(run([...STREAM].map((b) => Buffer.from([b]))), EXPECTED);
});

test('below the cap, a chunk that cannot reach it is written whole', () => {
  const results = new PgResultPolicy(1000, null);
  results.start([], null);
  assert.equal(results.mayEdit(7000), false, '1000 rows at most');
  for (let i = 0; i < 999; i++) results.admit();
  assert.equal(results.mayEdit(7), false, 'one row at most, the last one allowed');
  assert.equal(results.mayEdit(8), true, 'two rows may start in 8 bytes');
  results.admit();
  assert.equal(results.mayEdit(1), true, 'a row past the cap may start in any byte');
});
