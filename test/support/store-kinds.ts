/**
 * The session stores a contract test runs against: SQLite (a file in a temp folder, or memory)
 * and PostgreSQL (a throwaway database on the machine's server, created per store and dropped
 * when the test file ends). The PostgreSQL server must answer: a test fails, never skips,
 * when it does not.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import postgres from 'postgres';
import { onExit } from './cleanup.js';
import { MACHINE_PG, requireMachinePg } from './servers.js';

export interface StoreKind {
  readonly name: 'sqlite' | 'postgres';
  /** A store URL of its own, empty. `file` names it where the kind has files (SQLite). */
  url(file?: string): Promise<string>;
}

let sqliteDir: string | null = null;
const databases: string[] = [];
let admin: postgres.Sql | null = null;

// Registered when a test file imports this, so at the file's top level: hooks registered later,
// inside a suite or a test, would run when that suite or test ends, dropping a store still in use.
after(async () => {
  if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
  if (!admin) return;
  for (const db of databases.splice(0)) await admin.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.end({ timeout: 5 });
  admin = null;
});

// A file the runner stops (its timeout sends SIGTERM) runs no after hook: drop what is left
// synchronously at exit, with psql (PostgreSQL's client is installed wherever the tests run).
onExit(() => {
  for (const db of databases.splice(0)) {
    spawnSync(
      'psql',
      [
        '-h',
        MACHINE_PG.host,
        '-p',
        String(MACHINE_PG.port),
        '-U',
        MACHINE_PG.user,
        '-d',
        'postgres',
        '-qc',
        `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`,
      ],
      { stdio: 'ignore', timeout: 10_000 },
    );
  }
});

export const SQLITE: StoreKind = {
  name: 'sqlite',
  async url(file?: string) {
    if (!file) return 'sqlite::memory:';
    sqliteDir ??= mkdtempSync(join(tmpdir(), 'dbtape-store-kind-'));
    return `sqlite:${join(sqliteDir, `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${file}`)}`;
  },
};

/** A new, empty database on the machine's PostgreSQL, dropped when the test file ends. */
export async function throwawayPgDatabase(createOptions = ''): Promise<{ name: string; url: string }> {
  const pg = await requireMachinePg();
  admin ??= postgres({
    host: pg.host,
    port: pg.port,
    user: pg.user,
    database: 'postgres',
    max: 1,
    onnotice: () => {},
  });
  const name = `dbtape_store_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 10)}`;
  await admin.unsafe(`CREATE DATABASE ${name} ${createOptions}`);
  databases.push(name);
  return { name, url: `postgres://${pg.user}@${pg.host}:${pg.port}/${name}` };
}

/** SQL on a throwaway database, for tests that look at (or damage) the tables themselves. */
export function pgAdminOn(url: string): postgres.Sql {
  return postgres(url, { max: 1, onnotice: () => {} });
}

export const POSTGRES: StoreKind = {
  name: 'postgres',
  async url() {
    return (await throwawayPgDatabase()).url;
  },
};

export const STORE_KINDS: readonly StoreKind[] = [SQLITE, POSTGRES];

export { MACHINE_PG };
