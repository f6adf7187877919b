// The JDBC drivers behind DBeaver and most JVM tools, through dbtape (in this process) against the
// machine's servers: pgjdbc and MariaDB Connector/J, as Debian packages them, each over TLS with a
// write role (batches, prepared statements run the way each driver runs them again, paging or
// streaming, savepoints, COPY, metadata, cancel, multi-statements) and with a read role that caps
// and masks results; then what the recording holds.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { SessionEvent } from '../../src/model/session.js';
import { requireBinary, requirePackageFile } from '../support/binaries.js';
import { makeSelfSignedCert } from '../support/certs.js';
import { run } from '../support/exec.js';
import { DEFAULT_TARGET, type InProcessDbtape, startInProcess, usersYaml } from '../support/inproc-dbtape.js';
import {
  connectDirect as connectMysqlDirect,
  machineTarget as mariaDbTarget,
  Recorded,
  requireMachineMariaDb,
} from '../support/mysql-fixtures.js';
import { uniqueName } from '../support/pg-fixtures.js';
import { requireMachinePg } from '../support/servers.js';

const JAVA = requireBinary('java', 'default-jre-headless');
const PGJDBC = requirePackageFile('/usr/share/java/postgresql.jar', 'libpostgresql-jdbc-java');
const MARIADB_JDBC = requirePackageFile('/usr/share/java/mariadb-java-client.jar', 'libmariadb-java');
const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'jdbc');

const USERS = {
  writer: { password: 'writer-jdbc-1', roles: ['w'] },
  reader: { password: 'reader-jdbc-1', roles: ['r'] },
} as const;
type UserName = keyof typeof USERS;

let dbtape: InProcessDbtape;
let mysqlPort: number;
let dir: string;
let storeUrl: string;

before(async () => {
  await requireMachinePg();
  await requireMachineMariaDb();
  dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-jdbc-'));
  storeUrl = `sqlite:${path.join(dir, 'store.db')}`;
  const certs = makeSelfSignedCert(path.join(dir, 'certs'));
  const masking = { columns: ['email'], detectors: ['card'] };
  dbtape = await startInProcess({
    yaml: stringify({
      listen: { postgres: '127.0.0.1:0', mysql: '127.0.0.1:0' },
      tls: { cert_file: certs.certFile, key_file: certs.keyFile },
      store: { url: storeUrl, capture_results: 'rows', max_rows: 20 },
      targets: [
        { ...DEFAULT_TARGET, name: 'pg' },
        { ...DEFAULT_TARGET, name: 'pg_ro' },
        mariaDbTarget('my'),
        mariaDbTarget('my_ro'),
      ],
      users: usersYaml(USERS),
      roles: [
        { name: 'w', targets: ['pg', 'my'], access: 'admin' },
        { name: 'r', targets: ['pg_ro', 'my_ro'], access: 'read', rules: { max_rows: 3 }, masking },
      ],
    }),
  });
  const address = dbtape.server.addresses.mysql;
  assert.ok(address, 'dbtape started without a MySQL listener');
  mysqlPort = Number(address.slice(address.lastIndexOf(':') + 1));
});

after(async () => {
  await dbtape?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs a fixture program (`java -cp JAR FILE.java ...`, no build step) and returns its `key=value` lines. */
async function java(
  jar: string,
  program: string,
  url: string,
  user: UserName,
  mode: 'write' | 'masked',
  table = 'unused',
): Promise<Record<string, string>> {
  const { stdout } = await run(
    JAVA,
    ['-cp', jar, path.join(FIXTURES, program), url, user, USERS[user].password, mode, table],
    { timeoutMs: 120_000 },
  );
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** Rows the write tour reads back by id: id, name, amount, epoch ms, flag, bytes of data. */
function expectedTour(): string {
  let s = '';
  for (let i = 1; i <= 10; i++)
    s += `${i},name-${i},${i}.25,${1_700_000_000_000 + i * 1000},${i % 2 === 0},3;`;
  return s;
}

/** The first three rows of the read role's query, masked. */
const MASKED_THREE = [1, 2, 3].map((i) => `${i}:**@*******.***:************1111;`).join('');

/** The events of the ended session whose statements include `marker`, and its client TLS version. */
async function sessionWith(marker: string): Promise<{ tls: string | null; events: SessionEvent[] }> {
  const recorded = new Recorded(storeUrl);
  try {
    const { events } = await recorded.sessionWith(marker);
    const start = events.find((e) => e.kind === 'start');
    return { tls: start?.kind === 'start' ? start.meta.clientTls : null, events };
  } finally {
    await recorded.close();
  }
}

/** Each execution of the statement containing `marker`, with the result that answered it. */
function executions(events: readonly SessionEvent[], marker: string) {
  const out: { params: readonly (string | null)[]; via: string; rows: (string | null)[][] | undefined }[] =
    [];
  events.forEach((e, i) => {
    if (e.kind !== 'query' || !e.sql.includes(marker)) return;
    const result = events.slice(i + 1).find((r) => r.kind === 'result' || r.kind === 'error');
    out.push({
      params: e.params ?? [],
      via: e.via,
      rows: result?.kind === 'result' ? (result.rowData as (string | null)[][] | undefined) : undefined,
    });
  });
  return out;
}

describe('pgjdbc', () => {
  test('write role over TLS: batch, prepared past prepareThreshold, paging, savepoint, COPY, metadata, cancel', async () => {
    const table = uniqueName('jdbc_pg');
    // As DBeaver names its connections; pgjdbc sends it with SET after login, not at startup.
    const url = `jdbc:postgresql://127.0.0.1:${dbtape.port}/pg?sslmode=require&ApplicationName=DBeaver%2024.1%20-%20Main`;
    const r = await java(PGJDBC, 'PgJdbc.java', url, 'writer', 'write', table);
    assert.equal(r.batch, '50');
    assert.equal(r.prepared, expectedTour());
    assert.equal(r.paged, '50:1275');
    assert.equal(r.duplicate, '23505');
    assert.equal(r.after_savepoint, '50');
    assert.equal(r.copy, '2:2:1001|1002|');
    assert.equal(r.metadata_columns, '6');
    assert.equal(r.cancel, '57014', 'Statement.cancel reached the right backend through dbtape');
    assert.equal(r.after_cancel, 'still usable');
    assert.equal(r.multi, 'rows:1;rows:2;updated:1;');

    const { tls, events } = await sessionWith(table);
    assert.match(tls ?? '', /^TLS/);
    assert.deepEqual(
      events.flatMap((e) => (e.kind === 'client' ? [e.application] : [])),
      ['DBeaver 24.1 - Main'],
      'the application pgjdbc set after login is recorded',
    );
    const inserts = executions(events, `insert into ${table} values`);
    assert.equal(inserts.length, 50, 'every batched insert is its own execution');
    assert.deepEqual(inserts[49]!.params.slice(0, 3), ['50', 'name-50', '50.25']);
    const reads = executions(events, `from ${table} where id = $1`);
    assert.equal(reads.length, 10);
    reads.forEach((x, i) => {
      assert.deepEqual(x.params, [String(i + 1)]);
      // From the 5th on, rows come back in binary and only Bind/Execute are sent: the columns come
      // from the portal's Describe of the first named execution.
      assert.deepEqual(
        x.rows?.[0]?.slice(0, 3),
        [String(i + 1), `name-${i + 1}`, `${i + 1}.25`],
        `execution ${i + 1}`,
      );
      assert.equal(x.rows?.[0]?.[5], `\\x${(i + 1).toString(16).padStart(2, '0')}00ff`);
    });
    // setFetchSize(7) reads the 50 rows in 8 Executes of one portal: one statement, with its rows.
    const paged = events.flatMap((e, i) =>
      e.kind === 'query' && e.sql === `select id from ${table} order by id` ? [i] : [],
    );
    assert.equal(paged.length, 1, 'the paged SELECT is recorded once');
    const end = events.findIndex((e, i) => i > paged[0]! && e.kind === 'query');
    const chunks = events.slice(paged[0]! + 1, end).flatMap((e) => (e.kind === 'result' ? [e] : []));
    assert.deepEqual(
      chunks.map((r) => [r.tag, r.rows, r.fetched]),
      [
        // With autocommit off pgjdbc sends BEGIN in the same pipeline: its result comes first.
        ['BEGIN', null, undefined],
        ['SUSPENDED', 7, undefined],
        ...[14, 21, 28, 35, 42, 49].map((n) => ['SUSPENDED', n, 7]),
        ['SELECT 1', 50, 1],
      ],
    );
    assert.deepEqual(
      chunks.flatMap((r) => r.rowData ?? []).map((row) => row[0]),
      Array.from({ length: 20 }, (_, i) => String(i + 1)),
      'max_rows (20) counts the rows of the statement across its Executes',
    );
    const cancelled = events.findIndex((e) => e.kind === 'query' && e.sql.includes('pg_sleep(30)'));
    assert.ok(events.slice(cancelled).some((e) => e.kind === 'error' && e.code === '57014'));
  });

  test('read role: max_rows and masking in text, binary (past prepareThreshold) and paged results', async () => {
    const url = `jdbc:postgresql://127.0.0.1:${dbtape.port}/pg_ro?sslmode=disable`;
    const r = await java(PGJDBC, 'PgJdbc.java', url, 'reader', 'masked');
    assert.equal(r.simple, MASKED_THREE);
    // pgjdbc runs every statement through the extended protocol, so a read role's capped SELECT gets
    // a row limit and the server stops after the row over the cap.
    assert.equal(
      r.warning,
      'dbtape: result truncated to 3 rows by rule max_rows (the query was stopped there)',
    );
    for (let i = 1; i <= 7; i++) assert.equal(r[`prepared${i}`], MASKED_THREE, `execution ${i}`);
    assert.equal(r.paged, MASKED_THREE);
    assert.equal(r.denied, '42501');
    assert.equal(r.after_denial, 'still usable');
  });
});

describe('MariaDB Connector/J', () => {
  test('write role over TLS: batch, server-prepared statements, streaming, savepoint, metadata, cancel', async () => {
    const table = uniqueName('jdbc_my');
    const url =
      `jdbc:mariadb://127.0.0.1:${mysqlPort}/my?useSsl=true&trustServerCertificate=true` +
      '&useServerPrepStmts=true&allowMultiQueries=true';
    const r = await java(MARIADB_JDBC, 'MariadbJdbc.java', url, 'writer', 'write', table);
    assert.equal(r.batch, '50');
    assert.equal(r.prepared, expectedTour());
    assert.equal(r.streamed, '50:1275');
    assert.equal(r.duplicate, '1062:23000');
    assert.equal(r.metadata_columns, '6');
    assert.equal(r.cancel, '1317:70100', "Statement.cancel's KILL QUERY reached the right connection");
    assert.equal(r.after_cancel, 'still usable');
    assert.equal(r.multi, 'rows:1;rows:2;updated:1;');

    const { tls, events } = await sessionWith(table);
    assert.match(tls ?? '', /^TLS/);
    const inserts = executions(events, `insert into ${table} values`);
    assert.equal(inserts.length, 50);
    assert.ok(inserts.every((x) => x.via === 'prepared'));
    assert.deepEqual(inserts[49]!.params.slice(0, 3), ['50', 'name-50', '50.25']);
    const reads = executions(events, `from ${table} where id = ?`);
    assert.equal(reads.length, 10);
    reads.forEach((x, i) => {
      assert.deepEqual(x.params, [String(i + 1)]);
      assert.deepEqual(x.rows?.[0]?.slice(0, 3), [String(i + 1), `name-${i + 1}`, `${i + 1}.25`]);
    });
  });

  for (const prepared of [false, true]) {
    test(`read role (${prepared ? 'server-prepared, binary rows' : 'text rows'}): Connector/J's login statement and metadata queries are allowed; max_rows and masking`, async () => {
      const url = `jdbc:mariadb://127.0.0.1:${mysqlPort}/my_ro?useServerPrepStmts=${prepared}`;
      // Made here, not left over from another test: on a fresh server `test` holds no table.
      const table = uniqueName('jdbc_meta');
      const direct = await connectMysqlDirect();
      await direct.query(`create table ${table} (id int primary key, email text, card text)`);
      let r: Record<string, string>;
      try {
        r = await java(MARIADB_JDBC, 'MariadbJdbc.java', url, 'reader', 'masked', table);
      } finally {
        await direct.query(`drop table if exists ${table}`);
        await direct.end();
      }
      assert.equal(r.text, MASKED_THREE);
      assert.equal(r.warning, 'dbtape: result truncated to 3 rows by rule max_rows (7 more rows not sent)');
      for (let i = 1; i <= 3; i++) assert.equal(r[`prepared${i}`], MASKED_THREE, `execution ${i}`);
      assert.equal(r.streamed, MASKED_THREE);
      assert.equal(r.metadata_columns, '3', 'getColumns() lists the columns under the read role');
      assert.equal(r.denied, '1142');
      assert.equal(r.after_denial, 'still usable');
    });
  }
});
