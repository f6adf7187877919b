import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/config/verifiers.js';
import {
  type BypassCase,
  failsOnServer,
  PG_CORPUS,
  PG_FUNCTION_CALLS,
  PG_SETUP,
} from '../fixtures/policy-bypass-corpus.js';
import {
  cstr,
  errorFields,
  type InProcessDbtape,
  int32,
  type PgMessage,
  type PgRaw,
  pgRaw,
  queryMessage,
  scramLogin,
  startInProcess,
  typedMessage,
} from '../support/inproc-dbtape.js';
import { type PgCluster, startPgCluster } from '../support/pg-cluster.js';
import { executeMsg, parseMsg, SYNC_MSG } from '../support/recording-fixtures.js';

// The bypass corpus sent through dbtape to a throwaway PostgreSQL that logs every statement it
// receives (log_statement = all): under `read` and `write`, over the simple and the extended
// protocol, every statement the policy forbids is answered with SQLSTATE 42501 and every statement
// it allows runs. Differential check: each statement carries a unique canary comment, and the
// server's log holds the canary of every allowed statement and of no denied one.

const LEVELS = ['read', 'write'] as const;
type Level = (typeof LEVELS)[number];
const PASSWORD = 'bypass-pw-1';
const RUN = randomBytes(4).toString('hex');

let cluster: PgCluster;
let dbtape: InProcessDbtape;

interface Outcome {
  readonly level: Level;
  readonly via: 'simple' | 'extended';
  readonly k: BypassCase;
  readonly canary: string;
  readonly denied: boolean;
  /** The first error, if any (SQLSTATE and message). */
  readonly error: { code: string; message: string } | null;
}
const outcomes: Outcome[] = [];

/** Extra cases only the protocol can express: statements prepared with Parse and run by SQL EXECUTE. */
const PROTOCOL_CASES: readonly {
  level: Level;
  name: string;
  parse: string;
  execute: string;
  allowed: boolean;
}[] = [
  {
    level: 'read',
    name: 'ok_stmt',
    parse: 'SELECT * FROM t WHERE id = $1',
    execute: 'EXECUTE ok_stmt(1)',
    allowed: true,
  },
  {
    level: 'read',
    name: 'bad_stmt',
    parse: 'UPDATE t SET a = 9 WHERE id = $1',
    execute: 'EXECUTE bad_stmt(1)',
    allowed: false,
  },
  { level: 'write', name: 'bad_ddl', parse: 'DROP TABLE t', execute: 'EXECUTE bad_ddl', allowed: false },
];

before(async () => {
  cluster = await startPgCluster({
    databases: ['corpus'],
    settings: { log_statement: 'all', log_min_error_statement: 'error' },
  });
  await cluster.psql(`${PG_SETUP.join(';\n')};`, 'corpus');
  const verifier = hashPassword(PASSWORD);
  dbtape = await startInProcess({
    yaml: stringify({
      listen: { postgres: '127.0.0.1:0' },
      store: { record: false },
      targets: [
        {
          name: 'corpus',
          protocol: 'postgres',
          host: '127.0.0.1',
          port: cluster.port,
          database: 'corpus',
          user: cluster.superuser,
          tls: 'disable',
        },
      ],
      users: LEVELS.map((l) => ({ name: l, password: verifier, roles: [l] })),
      roles: LEVELS.map((l) => ({ name: l, targets: ['corpus'], access: l })),
    }),
  });
  for (const level of LEVELS) {
    await runCorpus(level, 'simple');
    await runCorpus(level, 'extended');
  }
});

after(async () => {
  await dbtape?.close();
  await cluster?.stop();
});

async function login(level: Level): Promise<PgRaw> {
  const raw = await pgRaw(dbtape.port);
  const r = await scramLogin(raw, { user: level, password: PASSWORD, database: 'corpus' });
  assert.equal(r.error, null, `login as ${level}`);
  return raw;
}

/**
 * Messages up to ReadyForQuery; a COPY FROM STDIN the server starts is failed by the client (and,
 * in the extended protocol, synced again: the server ignores a Sync that arrives during COPY).
 */
async function replies(raw: PgRaw, extended = false): Promise<PgMessage[]> {
  const out: PgMessage[] = [];
  for (;;) {
    const m = await raw.readMessage();
    out.push(m);
    if (m.type === 'G') {
      await raw.send(typedMessage('f', cstr('dbtape test: no data')));
      if (extended) await raw.send(typedMessage('S'));
    }
    if (m.type === 'Z') return out;
  }
}

function firstError(ms: readonly PgMessage[]): { code: string; message: string } | null {
  const e = ms.find((m) => m.type === 'E');
  if (!e) return null;
  const f = errorFields(e);
  return { code: f.C ?? '', message: f.M ?? '' };
}

/** Ends an open transaction; under write, also undoes settings a case changed (read-only on). */
async function settle(raw: PgRaw, level: Level, ms: readonly PgMessage[]): Promise<void> {
  const z = ms[ms.length - 1]!;
  if (z.body.toString() !== 'I') {
    await raw.send(queryMessage('ROLLBACK'));
    await replies(raw);
  }
  if (level === 'write') {
    await raw.send(queryMessage('RESET ALL'));
    assert.equal(firstError(await replies(raw)), null);
  }
}

function canary(level: Level, via: string, i: number): string {
  return `dbtape_canary_${RUN}_${level}_${via}_${i}`;
}

/** The corpus through one protocol: each statement marked with a canary, its outcome kept. */
async function runCorpus(level: Level, via: 'simple' | 'extended'): Promise<void> {
  const raw = await login(level);
  try {
    for (const [i, k] of PG_CORPUS.entries()) {
      const mark = canary(level, via, i);
      const sql = `/* ${mark} */ ${k.sql}`;
      await raw.send(
        via === 'simple'
          ? queryMessage(sql)
          : Buffer.concat([parseMsg('', sql), BIND, executeMsg(), SYNC_MSG]),
      );
      const ms = await replies(raw, via === 'extended').catch((err: Error) => {
        throw new Error(`${level} ${via} ${JSON.stringify(k.sql)}: ${err.message}`);
      });
      const error = firstError(ms);
      outcomes.push({ level, via, k, canary: mark, denied: error?.code === '42501', error });
      await settle(raw, level, ms);
    }
  } finally {
    raw.destroy();
  }
}

const BIND = typedMessage('B', Buffer.concat([cstr(''), cstr(''), Buffer.from([0, 0, 0, 0, 0, 0])]));

function serverLog(): string {
  return readFileSync(path.join(cluster.dir, 'server.log'), 'utf8');
}

describe('the PostgreSQL bypass corpus through dbtape', () => {
  test('has at least 60 statements', () => assert.ok(PG_CORPUS.length >= 60, `${PG_CORPUS.length}`));

  for (const via of ['simple', 'extended'] as const) {
    for (const level of LEVELS) {
      test(`${via} protocol, ${level}: every forbidden statement is denied with 42501`, () => {
        const wrong = outcomes
          .filter((o) => o.via === via && o.level === level && o.k[level] === 'deny' && !o.denied)
          .map(
            (o) =>
              `${o.k.why}: ${JSON.stringify(o.k.sql)} → ${o.error ? `${o.error.code} ${o.error.message}` : 'ran'}`,
          );
        assert.deepEqual(wrong, []);
      });
      test(`${via} protocol, ${level}: every allowed statement passes the policy`, () => {
        const wrong = outcomes
          .filter((o) => o.via === via && o.level === level && o.k[level] === 'allow' && o.denied)
          .map((o) => `${o.k.why}: ${JSON.stringify(o.k.sql)} → ${o.error?.message}`);
        assert.deepEqual(wrong, []);
      });
    }
  }

  test('simple protocol: every allowed statement runs without error (except the marked ones)', () => {
    const wrong = outcomes
      .filter(
        (o) => o.via === 'simple' && o.k[o.level] === 'allow' && !failsOnServer(o.k, o.level) && o.error,
      )
      .map((o) => `${o.level} ${o.k.why}: ${JSON.stringify(o.k.sql)} → ${o.error?.code} ${o.error?.message}`);
    assert.deepEqual(wrong, []);
  });

  test('denial messages name the rule and nothing else reaches the client', () => {
    for (const o of outcomes.filter((x) => x.denied)) {
      assert.match(o.error!.message, /^dbtape: denied by rule [a-z_=]+: /, o.k.sql);
    }
  });

  test("the server's statement log holds every allowed statement and no denied one", () => {
    const log = serverLog();
    const leaked = outcomes
      .filter((o) => o.denied && log.includes(o.canary))
      .map((o) => `${o.level} ${o.via}: ${o.k.sql}`);
    assert.deepEqual(leaked, [], 'denied statements reached the server');
    const missing = outcomes
      .filter((o) => !o.denied && !log.includes(o.canary))
      .map((o) => `${o.level} ${o.via}: ${o.k.sql}`);
    assert.deepEqual(missing, [], 'allowed statements missing from the log (is log_statement on?)');
    assert.match(log, /dbtape_policy_denial_/, 'the stand-ins of denied statements are what the server saw');
  });
});

describe('statements prepared with Parse and FunctionCall through dbtape', () => {
  test('SQL EXECUTE runs a protocol-prepared statement only if its Parse was allowed', async () => {
    for (const c of PROTOCOL_CASES) {
      const raw = await login(c.level);
      try {
        const mark = canary(c.level, `parse_${c.name}`, 0);
        await raw.send(Buffer.concat([parseMsg(c.name, `/* ${mark} */ ${c.parse}`), SYNC_MSG]));
        const parsed = await replies(raw);
        assert.equal(firstError(parsed)?.code === '42501', !c.allowed, `Parse of ${c.parse}`);
        await raw.send(queryMessage(c.execute));
        const ran = await replies(raw);
        const error = firstError(ran);
        if (c.allowed) assert.equal(error, null, `${c.execute}: ${error?.message}`);
        else assert.equal(error?.code, '42501', `${c.execute} must be denied`);
        if (!c.allowed) assert.ok(!serverLog().includes(mark), `${c.parse} reached the server`);
        if (!c.allowed) assert.ok(!serverLog().includes(c.execute), `${c.execute} reached the server`);
      } finally {
        raw.destroy();
      }
    }
  });

  test('FunctionCall by OID gets the decision the corpus expects; the session goes on', async () => {
    for (const level of LEVELS) {
      const raw = await login(level);
      try {
        // A fresh large object to read and write (lo_* need a transaction).
        await raw.send(queryMessage('BEGIN'));
        await replies(raw);
        for (const f of PG_FUNCTION_CALLS) {
          await raw.send(
            typedMessage(
              'F',
              Buffer.concat([
                int32(f.oid),
                Buffer.from([0, 1, 0, 1, 0, 1]),
                int32(4),
                int32(0),
                Buffer.from([0, 1]),
              ]),
            ),
          );
          const ms = await replies(raw);
          const error = firstError(ms);
          assert.equal(
            error?.code === '42501',
            f[level] === 'deny',
            `${f.why} under ${level}: ${error?.message}`,
          );
          await raw.send(queryMessage('ROLLBACK'));
          await replies(raw);
          await raw.send(queryMessage('BEGIN'));
          await replies(raw);
        }
        await raw.send(queryMessage('ROLLBACK'));
        const end = await replies(raw);
        assert.equal(end[end.length - 1]!.body.toString(), 'I');
      } finally {
        raw.destroy();
      }
    }
  });
});
