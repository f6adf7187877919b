/** Options the read commands share: --since, --limit, --store/-c, and finding a session by id prefix. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { CliError } from '../../src/cli/output.js';
import {
  findSession,
  limitParser,
  parseSince,
  parseSpanUs,
  storeUrlFrom,
} from '../../src/cli/store-option.js';
import { charWidth, displayWidth } from '../../src/replay/text-width.js';
import { openStore } from '../../src/store/open-store.js';
import { sessionMeta } from '../support/session-meta.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-replay-opts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('--since', () => {
  const now = 1_738_324_800_000_000;
  test('spans back from now', () => {
    assert.equal(parseSince('30s', now), now - 30e6);
    assert.equal(parseSince('15m', now), now - 900e6);
    assert.equal(parseSince('2h', now), now - 7200e6);
    assert.equal(parseSince('7d', now), now - 7 * 86_400e6);
    assert.equal(parseSince('1.5h', now), now - 5400e6);
  });

  test('ISO timestamps', () => {
    assert.equal(parseSince('2025-01-31T12:00:00Z', now), Date.parse('2025-01-31T12:00:00Z') * 1000);
    assert.equal(parseSince('2025-01-31', now), Date.parse('2025-01-31') * 1000);
  });

  test('anything else is a usage error that says what is expected', () => {
    for (const bad of ['yesterday', '2x', '', '-5m', '2025-13-45']) {
      assert.throws(() => parseSince(bad, now), InvalidArgumentError, bad);
    }
  });

  test('spans in microseconds', () => {
    assert.equal(parseSpanUs('500ms'), 500_000);
    assert.equal(parseSpanUs('2s'), 2_000_000);
    assert.equal(parseSpanUs('nope'), null);
  });
});

describe('--limit', () => {
  test('whole numbers in range only', () => {
    const parse = limitParser(1000);
    assert.equal(parse('10'), 10);
    for (const bad of ['0', '1001', '1.5', 'x', '-1']) assert.throws(() => parse(bad), InvalidArgumentError);
  });
});

describe('store location', () => {
  test('--store wins', () => {
    assert.deepEqual(storeUrlFrom({ store: 'sqlite:x.db', config: 'nope.yaml' }), {
      url: 'sqlite:x.db',
      from: '--store',
    });
  });

  test('no --store and no dbtape.yaml here: a clear error', () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.throws(
        () => storeUrlFrom({}),
        (err: Error) =>
          err instanceof CliError && /--store sqlite:PATH/.test(err.message) && /-c FILE/.test(err.message),
      );
    } finally {
      process.chdir(cwd);
    }
  });

  test('the store of the config given with -c, resolved against the config folder', () => {
    const file = join(dir, 'dbtape.yaml');
    writeFileSync(file, 'store:\n  url: sqlite:data/rec.db\n');
    assert.equal(storeUrlFrom({ config: file }).url, `sqlite:${join(dir, 'data/rec.db')}`);
  });
});

describe('findSession', () => {
  test('exact id, unique prefix, unknown and ambiguous prefixes', async () => {
    const store = openStore('sqlite::memory:');
    await store.writeBatch({
      sessions: [
        sessionMeta('m6aaa0001-1111111111'),
        sessionMeta('m6aaa0002-2222222222'),
        sessionMeta('m6bbb0001-3333333333'),
      ],
      events: [],
      ends: [],
    });
    assert.equal((await findSession(store, 'm6aaa0001-1111111111')).id, 'm6aaa0001-1111111111');
    assert.equal((await findSession(store, 'm6bb')).id, 'm6bbb0001-3333333333');
    await assert.rejects(
      findSession(store, 'm6aaa'),
      (err: Error) => err instanceof CliError && /several sessions/.test(err.message),
    );
    await assert.rejects(
      findSession(store, 'zzzz'),
      (err: Error) => err instanceof CliError && /no session zzzz/.test(err.message),
    );
    await assert.rejects(
      findSession(store, 'm6'),
      (err: Error) => err instanceof CliError && /at least 4/.test(err.message),
    );
    await assert.rejects(
      findSession(store, 'x\u001b[2J'),
      (err: Error) => err instanceof CliError && !err.message.includes('\u001b'),
      'an id echoed in an error is made safe too',
    );
    await store.close();
  });
});

describe('displayWidth', () => {
  test('wide, combining and emoji characters', () => {
    assert.equal(displayWidth('abc'), 3);
    assert.equal(displayWidth('日本'), 4);
    assert.equal(displayWidth('e\u0301'), 1);
    assert.equal(displayWidth('😀'), 2);
    assert.equal(displayWidth('한국어'), 6);
    assert.equal(charWidth('\u200d'), 0);
  });
});
