/**
 * Connecting to a PostgreSQL session store: the URL (which may hold a password, so it is only
 * ever shown without one), the connection pools, the schema migrations and the writer lock.
 */
import postgres from 'postgres';
import { StoreError } from '../errors.js';
import { textLit } from './pg-literals.js';
import { PG_MIGRATIONS } from './pg-migrations.js';

/** int8 columns (counters, microsecond times) as numbers: every value the store keeps is below 2^53. */
const INT8 = {
  to: 20,
  from: [20],
  serialize: (x: number) => String(x),
  parse: (x: string) => Number(x),
};

export type Sql = postgres.Sql<{ int8: number }>;

export type TxSql = postgres.TransactionSql<{ int8: number }>;

/** Advisory lock keys (two int4s: dbtape's, then which lock). */
const LOCK_CLASS = 0x64627470;
const WRITER_LOCK = 1;
const MIGRATION_LOCK = 2;

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The URL as it may be shown: without its password. */
export function displayPgUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@/]*@/i, '$1:********@');
}

/** The URL's password, if any, so that no message can carry it. */
function passwordOf(url: string): string | null {
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : null;
  } catch {
    return null;
  }
}

/** A message from the driver or the server, with the URL's password masked should it appear. */
export function scrubMessage(message: string, url: string): string {
  const pw = passwordOf(url);
  let out = message.split(url).join(displayPgUrl(url));
  if (pw && pw.length >= 3) out = out.split(pw).join('********');
  return out;
}

export interface PgPoolOptions {
  readonly max: number;
  /** A connection of the pool was lost (the writer's: its session-level lock with it). */
  readonly onclose?: () => void;
  /**
   * The connection holds something of its own (the writer lock, a verify's snapshot): it must not
   * close when idle or after the driver's default lifetime (30 to 60 minutes). Others may.
   */
  readonly keepOpen?: boolean;
  /**
   * synchronous_commit for the connection's transactions, whatever the server's default is: the
   * writer's is on (pg-store.ts says why fast-mode batches wait for the flush too).
   */
  readonly synchronousCommit?: 'on' | 'off';
}

export function connectPg(url: string, options: PgPoolOptions): Sql {
  return postgres(url, {
    max: options.max,
    types: { int8: INT8 },
    // postgres.js 3.4 reads the server's array types on each new connection, and an error in that
    // query (the connection ended just then) escapes as an unhandled rejection, which ends the
    // process: found by ending a store's connections during verify. The store passes no array
    // parameters and reads no array columns (pg-literals.ts textArrayParam), so it needs none.
    fetch_types: false,
    // The store sends no statement that raises notices worth logging; the driver prints them otherwise.
    onnotice: () => {},
    onclose: options.onclose ? () => options.onclose!() : undefined,
    idle_timeout: options.keepOpen ? undefined : 60,
    max_lifetime: options.keepOpen ? null : undefined,
    connect_timeout: 10,
    // postgres.js waits up to 20 s (3^retries / 100 s) before reconnecting after failures, longer
    // than connect_timeout, so a store whose server restarted stayed unreachable for that long;
    // the recorder has a backoff of its own.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 2),
    connection: {
      application_name: 'dbtape',
      // pg-literals.ts quotes strings for this setting (a backslash is an ordinary character).
      standard_conforming_strings: 'on',
      ...(options.synchronousCommit ? { synchronous_commit: options.synchronousCommit } : {}),
    },
  }) as unknown as Sql;
}

export function openFailed(url: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreError(
    'DBTAPE_STORE_OPEN_FAILED',
    `dbtape: cannot open the session store at ${displayPgUrl(url)}: ${scrubMessage(message, url)}`,
  );
}

/**
 * Brings the schema to the latest version: pending migrations run in one transaction, under an
 * advisory lock so two processes opening a new store at once do not both create it. A read-only
 * opener only checks the version.
 */
export async function migratePg(sql: Sql, url: string, readonly: boolean): Promise<void> {
  await checkEncoding(sql, url);
  const latest = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;
  const version = await schemaVersion(sql);
  checkNotNewer(version, latest, url);
  if (version === latest) return;
  if (readonly) {
    throw new StoreError(
      'DBTAPE_STORE_OPEN_FAILED',
      version === 0
        ? `dbtape: no session store at ${displayPgUrl(url)} (the database has no dbtape tables): nothing was recorded there yet, or the URL is wrong`
        : `dbtape: the session store at ${displayPgUrl(url)} needs a schema upgrade (version ${version} to ${latest}); run dbtape serve once`,
    );
  }
  // One simple-protocol query, run by the server as one transaction (not postgres.js's begin():
  // pg-write.ts says why). If another process migrated between the version read above and the
  // lock, the DO block stops this one, which then reads the version again.
  const pending = PG_MIGRATIONS.filter((m) => m.version > version);
  const statements = [
    `SELECT pg_advisory_xact_lock(${LOCK_CLASS}, ${MIGRATION_LOCK})`,
    'CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT NULL, applied_at_us bigint NOT NULL)',
    `DO $$ BEGIN IF (SELECT coalesce(max(version), 0) FROM schema_version) <> ${version} THEN
       RAISE EXCEPTION '${MIGRATED_MEANWHILE}'; END IF; END $$`,
    ...pending.flatMap((m) => [
      m.sql,
      `INSERT INTO schema_version (version, name, applied_at_us) VALUES (${m.version}, ${textLit(m.name)}, ${Date.now() * 1000})`,
    ]),
  ];
  try {
    await sql.unsafe(statements.join(';\n')).execute();
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes(MIGRATED_MEANWHILE)) throw err;
    checkNotNewer(await schemaVersion(sql), latest, url);
  }
}

const MIGRATED_MEANWHILE = 'dbtape: the schema changed while this process was migrating it';

/**
 * Recorded text is any Unicode (statements, names, the v1 JSON): a database in another encoding
 * would refuse some of it in the middle of recording, so it is refused at open instead.
 */
async function checkEncoding(sql: Sql, url: string): Promise<void> {
  const [row] = await sql<{ server_encoding: string }[]>`SHOW server_encoding`;
  const encoding = row?.server_encoding ?? '?';
  if (encoding === 'UTF8') return;
  throw new StoreError(
    'DBTAPE_STORE_OPEN_FAILED',
    `dbtape: the session store at ${displayPgUrl(url)} is in a database with encoding ${encoding}; it must be UTF8 (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)`,
  );
}

async function schemaVersion(sql: Sql): Promise<number> {
  const [exists] = await sql`SELECT to_regclass('schema_version') IS NOT NULL AS e`;
  if (!exists?.e) return 0;
  const [row] = await sql`SELECT coalesce(max(version), 0)::int AS v FROM schema_version`;
  return Number(row?.v ?? 0);
}

function checkNotNewer(version: number, latest: number, url: string): void {
  if (version > latest) {
    throw new StoreError(
      'DBTAPE_STORE_SCHEMA_TOO_NEW',
      `dbtape: the session store at ${displayPgUrl(url)} has schema version ${version}, newer than this dbtape knows (${latest}); upgrade dbtape`,
    );
  }
}

/**
 * The recording writer's lock: session-level, on the writer's one connection, so it lasts while
 * that connection does and the server drops it when the process dies. A second `dbtape serve`
 * would close the first one's live sessions as crashed (closeOpenSessions) and fork their chains.
 */
export async function takeWriterLock(sql: Sql, url: string): Promise<void> {
  const [row] = await sql`SELECT pg_try_advisory_lock(${LOCK_CLASS}::int, ${WRITER_LOCK}::int) AS ok`;
  if (row?.ok) return;
  throw new StoreError(
    'DBTAPE_STORE_LOCKED',
    `dbtape: another dbtape serve is already recording into the session store at ${displayPgUrl(url)} (it holds the store's writer lock); only one may write to a store: stop it, or give this one another store.url`,
  );
}
