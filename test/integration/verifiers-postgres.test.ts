import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { hashPassword, parseScramVerifier } from '../../src/config/verifiers.js';
import { deriveScramKeys } from '../../src/protocol/postgres/scram.js';

describe('against a real PostgreSQL', () => {
  const client = new pg.Client({
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
    database: process.env.PGDATABASE ?? 'postgres',
  });
  const role = `dbtape_unit_${process.pid}_${Date.now()}`;

  before(async () => {
    try {
      await client.connect();
    } catch (err) {
      throw new Error(
        `verifiers.test.ts needs PostgreSQL on ${client.host}:${client.port} as ${client.user} (set PGHOST/PGPORT/PGUSER): ${err}`,
      );
    }
    await client.query(`CREATE ROLE ${role} NOLOGIN`);
  });

  after(async () => {
    await client.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await client.end();
  });

  async function storedVerifier(password: string): Promise<string> {
    await client.query("SET password_encryption = 'scram-sha-256'");
    await client.query(`ALTER ROLE ${role} PASSWORD ${client.escapeLiteral(password)}`);
    const r = await client.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
    return r.rows[0].rolpassword as string;
  }

  test('PostgreSQL stores our SCRAM verifier verbatim', async () => {
    const ours = hashPassword('pencil').split(';')[0];
    assert.equal(await storedVerifier(ours), ours);
  });

  const passwords = [
    'pencil',
    'with spaces and \u0007 bell',
    'I\u00ADX\u00AA\u2168',
    'caf\u00E9 \u00A0nbsp',
    '\uFF46\uFF55\uFF4C\uFF4C\uFF57\uFF49\uFF44\uFF54\uFF48',
    'emoji \u{1F600} and \uFF46ullwidth',
    '\u0627\u0031\u0628',
    '\u0627\u0031a\u0628',
    'é\u0007',
    '\u00AD\uFEFF',
    'zero\u200Bwidth space maps to a space',
  ];
  for (const password of passwords) {
    test(`our keys match the ones PostgreSQL derives for ${JSON.stringify(password)}`, async () => {
      const theirs = parseScramVerifier(await storedVerifier(password));
      const ours = deriveScramKeys(password, theirs.salt, theirs.iterations);
      assert.deepEqual(ours.storedKey, theirs.storedKey);
      assert.deepEqual(ours.serverKey, theirs.serverKey);
    });
  }
});
