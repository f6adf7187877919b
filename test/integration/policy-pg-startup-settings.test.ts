// Settings a client brings along at login are judged as the SET they amount to. A `read` role
// with `allow_tables: [public.*]` could not `SET search_path = hr`, but could log in with
// `PGOPTIONS='-c search_path=hr'` (or a `search_path` startup parameter) and then read
// `hr.salaries` as `salaries`, which the policy took for `public.salaries`; likewise
// standard_conforming_strings off or a quote-hiding client_encoding, which make the server read
// statement text differently from the policy's parser.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { runStatus } from '../support/exec.js';
import { ALICE, type InProcessDbtape, startInProcess } from '../support/inproc-dbtape.js';

const SCHEMA = `qaops_hr_${randomBytes(4).toString('hex')}`;
const direct = () => new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });

describe('startup settings under a read role with allow_tables', () => {
  let dbtape: InProcessDbtape;

  before(async () => {
    const c = direct();
    await c.connect();
    await c.query(`CREATE SCHEMA ${SCHEMA}; CREATE TABLE ${SCHEMA}.salaries (amount int);
      INSERT INTO ${SCHEMA}.salaries VALUES (999999)`);
    await c.end();
    dbtape = await startInProcess({
      roles: [
        {
          name: 'app-writer',
          targets: ['app'],
          access: 'read',
          rules: { allow_tables: ['public.*', 'pg_catalog.*'] },
        },
      ],
    });
  });

  after(async () => {
    await dbtape?.close();
    const c = direct();
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await c.end();
  });

  function psql(pgoptions: string, sql: string) {
    return runStatus('psql', ['-X', '-A', '-t', '-c', sql], {
      env: {
        ...process.env,
        PGHOST: '127.0.0.1',
        PGPORT: String(dbtape.port),
        PGUSER: ALICE.name,
        PGPASSWORD: ALICE.password,
        PGDATABASE: 'app',
        PGSSLMODE: 'disable',
        PGOPTIONS: pgoptions,
      },
    });
  }

  test('psql: -c search_path in PGOPTIONS is refused at login, and nothing of the table is read', async () => {
    const r = await psql(`-c search_path=${SCHEMA}`, 'SELECT amount FROM salaries');
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, /999999/);
    assert.match(
      r.stderr,
      /FATAL: {2}dbtape: denied by rule allow_tables: at login: changing search_path is not allowed when table rules apply/,
    );
    const plain = await psql('', "SELECT 'in'");
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout.trim(), 'in');
  });

  test('node-postgres: a search_path in options, or standard_conforming_strings off, is refused with 42501', async () => {
    for (const options of [`--search_path=${SCHEMA}`, '-c standard_conforming_strings=off']) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: dbtape.port,
        user: ALICE.name,
        password: ALICE.password,
        database: 'app',
        options,
      });
      await assert.rejects(client.connect(), (err: Error & { code?: string }) => {
        assert.equal(err.code, '42501', `${options}: ${err.message}`);
        assert.match(err.message, /^dbtape: denied by rule /);
        return true;
      });
      await client.end().catch(() => {});
    }
  });

  test('settings a read role may SET pass at login (client_encoding, application_name, DateStyle)', async () => {
    const r = await psql('-c DateStyle=German', "SELECT current_setting('DateStyle')");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /German/);
  });
});
